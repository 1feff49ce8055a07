"""A JAX/Flax reference of FLIP for the golden tests of models/flip.ts.

The architecture follows facebookresearch/flip (models_flip.py, t5x/layers.py, utils/posembed_util.py,
utils/initializers_util.py): the same modules, parameter names and official parameter shapes (2-D q/k/v/out kernels
[embed, heads*kv], a 4-D patch-conv kernel, position embeddings [1, L, D], cls [1, 1, D], logit_scale [1]).

Randomness is the official code's: one 'dropout' rng collection (`apply(..., rngs={"dropout": key})`), drawn by Flax's
own make_rng in modules named as the official ones (nn.Dropout `Dropout_0`/`Dropout_1`, `droppath_msa`, `droppath_mlp`;
random_mask's key from the image tower `img_encoder` itself), so every stream is Flax's hash of its module path, which
models/flip.ts derives the same way (dsl/nn/context.ts `makeRng`). One deliberate difference from the official code:
eval mode skips random_mask (the official code calls it with ratio 0, a mere token permutation).
`txt_mask_padding` (off officially) masks padding keys in the text encoder and averages valid tokens only.

`cfg["dtype"]` ("float32" default, or "bfloat16"): the compute dtype every layer module gets as Flax's/t5x's `dtype`
field (params stay float32): the patch conv, the blocks' LayerNorms, attention (t5x DenseGeneral semantics, logits and
softmax in dtype) and MLP Dense layers, and the projection heads; encoder_norm has none (as officially), and the
heads' output is cast to float32 before the L2 normalisation and the loss (models/flip.ts's mixed precision).

Written for this test only (our code, not the official one); see make_golden.py for how it is driven.
"""
import math
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

# ---- initializers (INIT_VER "mae_jax_v2") -----------------------------------------------------------------------

fixed_gaussian_init = nn.initializers.normal(stddev=0.02)
qkv_kernel_init = nn.initializers.variance_scaling(0.5, "fan_avg", "uniform")
xavier = nn.initializers.xavier_uniform()


def patch_kernel_init(key, shape, dtype=jnp.float32):
    h, w, c, n = shape
    fan_in, fan_out = h * w * c, n
    variance = jnp.array(1.0 / ((fan_in + fan_out) / 2), dtype=dtype)
    return jax.random.uniform(key, shape, dtype, -1) * jnp.sqrt(3 * variance)


# ---- layers ---------------------------------------------------------------------------------------------------------

def compute_dtype(cfg):
    """The layers' compute dtype of a (tower or model) config: cfg["dtype"], "float32" by default."""
    return jnp.dtype(cfg.get("dtype", "float32"))


class DenseGeneral(nn.Module):
    """t5x DenseGeneral: a 2-D kernel [prod(in), prod(features)] reshaped at use."""
    features: Any
    axis: Any = -1
    kernel_init: Any = None
    use_bias: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = jnp.asarray(x, self.dtype)
        features = tuple(self.features) if isinstance(self.features, (tuple, list)) else (self.features,)
        axis = tuple(self.axis) if isinstance(self.axis, (tuple, list)) else (self.axis,)
        axis = tuple(a if a >= 0 else x.ndim + a for a in axis)
        kshape = tuple(x.shape[a] for a in axis) + features
        kernel = self.param("kernel", self.kernel_init, (int(np.prod([x.shape[a] for a in axis])), int(np.prod(features))))
        kernel = jnp.reshape(jnp.asarray(kernel, self.dtype), kshape)
        y = jax.lax.dot_general(x, kernel, ((axis, tuple(range(len(axis)))), ((), ())))
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (int(np.prod(features)),))
            y = y + jnp.reshape(jnp.asarray(bias, self.dtype), (1,) * (y.ndim - len(features)) + features)
        return y


class Attention(nn.Module):
    num_heads: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, mask=None):
        d = x.shape[-1]
        hd = d // self.num_heads
        dt = self.dtype
        proj = lambda name: DenseGeneral((self.num_heads, hd), kernel_init=qkv_kernel_init, dtype=dt, name=name)(x)
        q, k, v = proj("query"), proj("key"), proj("value")
        q = q / jnp.sqrt(hd).astype(dt)
        w = jnp.einsum("bqhd,bkhd->bhqk", q, k)
        if mask is not None:
            w = w + jax.lax.select(mask > 0, jnp.full(mask.shape, 0.0), jnp.full(mask.shape, -1e10)).astype(w.dtype)
        w = jax.nn.softmax(w).astype(dt)
        y = jnp.einsum("bhqk,bkhd->bqhd", w, v)
        return DenseGeneral(d, axis=(-2, -1), kernel_init=xavier, dtype=dt, name="out")(y)


class MlpBlock(nn.Module):
    mlp_dim: int
    dropout_rate: float
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train):
        d = x.shape[-1]
        y = nn.Dense(self.mlp_dim, kernel_init=xavier, bias_init=nn.initializers.zeros, dtype=self.dtype, name="Dense_0")(x)
        y = nn.gelu(y)
        y = nn.Dropout(self.dropout_rate, name="Dropout_0")(y, deterministic=not train)
        y = nn.Dense(d, kernel_init=xavier, bias_init=nn.initializers.zeros, dtype=self.dtype, name="Dense_1")(y)
        return nn.Dropout(self.dropout_rate, name="Dropout_1")(y, deterministic=not train)


class Encoder1DBlock(nn.Module):
    mlp_dim: int
    num_heads: int
    dropout_rate: float
    droppath_rate: float
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, inputs, train, mask=None):
        x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="LayerNorm_0")(inputs)
        x = Attention(self.num_heads, dtype=self.dtype, name="MultiHeadDotProductAttention_0")(x, mask)
        x = nn.Dropout(self.dropout_rate, name="Dropout_0")(x, deterministic=not train)
        x = nn.Dropout(self.droppath_rate, broadcast_dims=(1, 2), name="droppath_msa")(x, deterministic=not train)
        x = x + inputs
        y = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="LayerNorm_1")(x)
        y = MlpBlock(self.mlp_dim, self.dropout_rate, dtype=self.dtype, name="MlpBlock_0")(y, train)
        y = nn.Dropout(self.droppath_rate, broadcast_dims=(1, 2), name="droppath_mlp")(y, deterministic=not train)
        return x + y


class Encoder(nn.Module):
    num_layers: int
    mlp_dim: int
    num_heads: int
    dropout_rate: float = 0.0
    droppath_rate: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train, mask=None):
        for l in range(self.num_layers):
            dp = self.droppath_rate * l / (self.num_layers - 1) if self.droppath_rate > 0 and self.num_layers > 1 else 0.0
            x = Encoder1DBlock(self.mlp_dim, self.num_heads, self.dropout_rate, dp, dtype=self.dtype, name="encoderblock_{:02d}".format(l))(
                x, train, mask)
        return nn.LayerNorm(epsilon=1e-6, name="encoder_norm")(x)


# ---- position embeddings (utils/posembed_util.py) --------------------------------------------------------------------

def sincos_1d(dim, pos):
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim, h, w, cls_token):
    grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))  # w first, as the official
    grid = np.stack(grid, axis=0)
    emb = np.concatenate([sincos_1d(dim // 2, grid[0]), sincos_1d(dim // 2, grid[1])], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros([1, dim]), emb], axis=0)
    return emb


class Add2DPositionEmbs(nn.Module):
    """sincos, use_cls_token: a parameter initialised to the table, read through stop_gradient."""

    @nn.compact
    def __call__(self, x):
        _, l, d = x.shape
        h = w = int(l ** 0.5)
        table = sincos_2d(d, h, w, cls_token=True)
        pe = self.param("pos_embedding", lambda *_: jnp.asarray(table, jnp.float32)[None], (1, 1 + l, d))
        return x + jax.lax.stop_gradient(pe)[:, 1:, :]


class Add1DPositionEmbs(nn.Module):
    @nn.compact
    def __call__(self, x):
        pe = self.param("pos_embedding", fixed_gaussian_init, (1,) + x.shape[1:])
        return x + pe


class Embed(nn.Module):
    """t5x Embed(one_hot=True)."""
    num_embeddings: int
    features: int

    @nn.compact
    def __call__(self, ids):
        table = self.param("embedding", fixed_gaussian_init, (self.num_embeddings, self.features))
        one_hot = jnp.array(ids[..., None] == jax.lax.iota(jnp.int32, self.num_embeddings), dtype=jnp.float32)
        return jnp.dot(one_hot, table)


# ---- masking (models_flip.random_mask) -------------------------------------------------------------------------------

def gather_by_einsum(x, ids):
    mat = jax.nn.one_hot(ids, x.shape[1])
    return jnp.einsum("nl...,nkl->nk...", x, mat)


def random_mask(rng, x, mask_ratio):
    n, l, _ = x.shape
    len_keep = int(l * (1 - mask_ratio))
    noise = jax.random.uniform(rng, shape=x.shape[:2])
    ids_shuffle = jnp.argsort(noise, axis=1)
    ids_restore = jnp.argsort(ids_shuffle, axis=1)
    x_masked = gather_by_einsum(x, ids_shuffle[:, :len_keep])
    mask = jnp.ones([n, l]).at[:, :len_keep].set(0)
    mask = gather_by_einsum(mask, ids_restore)
    return x_masked, mask, ids_restore


# ---- towers and the model --------------------------------------------------------------------------------------------

class VisionTransformer(nn.Module):
    cfg: Any

    @nn.compact
    def __call__(self, imgs, train):
        c = self.cfg
        p, q = c["patch_size"]
        dt = compute_dtype(c)
        x = nn.Conv(c["hidden_size"], (p, q), strides=(p, q), padding="VALID", kernel_init=patch_kernel_init,
                    bias_init=nn.initializers.zeros, dtype=dt, name="embedding")(imgs)
        n, h, w, d = x.shape
        x = jnp.reshape(x, [n, h * w, d])
        x = Add2DPositionEmbs(name="posembed_encoder")(x)
        mask = ids_restore = None
        if train and c["mask_ratio"] > 0:
            x, mask, ids_restore = random_mask(self.make_rng("dropout"), x, c["mask_ratio"])
        cls = self.param("cls", fixed_gaussian_init, (1, 1, d))
        x = jnp.concatenate([jnp.tile(cls, [n, 1, 1]), x], axis=1)
        t = c["transformer"]
        x = Encoder(t["num_layers"], t["mlp_dim"], t["num_heads"], t["dropout_rate"], t["droppath_rate"], dtype=dt, name="Transformer")(
            x, train)
        return x, mask, ids_restore


class LanguageTransformer(nn.Module):
    cfg: Any

    @nn.compact
    def __call__(self, txt, is_valid, train):
        c = self.cfg
        x = Embed(c["vocab_size"], c["hidden_size"], name="token_embedding")(txt)
        x = Add1DPositionEmbs(name="posembed_encoder")(x)
        mask = None
        if c.get("mask_padding"):
            mask = jnp.broadcast_to(is_valid[:, None, None, :], (x.shape[0], 1, x.shape[1], x.shape[1]))
        t = c["transformer"]
        return Encoder(t["num_layers"], t["mlp_dim"], t["num_heads"], t["dropout_rate"], t["droppath_rate"], dtype=compute_dtype(c),
                       name="Transformer")(x, train, mask)


class FLIP(nn.Module):
    cfg: Any

    @nn.compact
    def __call__(self, inputs, train):
        c = self.cfg
        clr = c["clr"]
        dt = {"dtype": c.get("dtype", "float32")}
        x_img, mask, ids_restore = VisionTransformer({**c["img"], **dt}, name="img_encoder")(inputs["image"], train)
        x_txt = LanguageTransformer({**c["txt"], **dt}, name="txt_encoder")(inputs["txt"], inputs["txt_is_valid"], train)
        z_img = x_img.mean(axis=1) if clr["img_avg_token"] else x_img[:, 0, :]
        if not clr["txt_avg_token"]:
            z_txt = x_txt[:, 0, :]
        elif c["txt"].get("mask_padding"):
            valid = inputs["txt_is_valid"].astype(jnp.float32)
            z_txt = (x_txt * valid[..., None]).sum(axis=1) / valid.sum(axis=1, keepdims=True)
        else:
            z_txt = x_txt.mean(axis=1)
        head = lambda name: nn.Dense(clr["proj_dim_out"], kernel_init=xavier, use_bias=clr["proj_out_bias"], dtype=compute_dtype(c),
                                     name=name)
        z_img = head("img_mlp1")(z_img).astype(jnp.float32)
        z_img /= jnp.linalg.norm(z_img, axis=-1, keepdims=True) + 1e-8
        z_txt = head("txt_mlp1")(z_txt).astype(jnp.float32)
        z_txt /= jnp.linalg.norm(z_txt, axis=-1, keepdims=True) + 1e-8
        # compute_contrastive_loss
        logit_scale = self.param("logit_scale", nn.initializers.constant(math.log(1 / 0.07)), (1,))
        scale = jnp.exp(jnp.clip(logit_scale, 0, math.log(100)))
        tau = 1 / scale
        logits = jnp.einsum("nc,mc->nm", z_img, z_txt) * scale
        logits_pos = jnp.einsum("nc,nc->n", z_img, z_txt) * scale
        exp_logits = jnp.exp(logits)
        loss01 = -(logits_pos - jnp.log(jnp.sum(exp_logits, axis=-1))).mean()
        loss10 = -(logits_pos - jnp.log(jnp.sum(exp_logits, axis=0))).mean()
        loss = (loss01 + loss10) / 2
        return {"loss": loss, "tau": tau[0], "z_img": z_img, "z_txt": z_txt, "mask": mask, "ids_restore": ids_restore}


def flatten(tree, prefix=()):
    """A nested params dict as (path tuple, array) pairs, depth first in key order."""
    for k, v in tree.items():
        if hasattr(v, "items"):
            yield from flatten(v, prefix + (k,))
        else:
            yield prefix + (k,), v


def unflatten(pairs):
    nested: dict = {}
    for path, v in pairs:
        d = nested
        for p in path[:-1]:
            d = d.setdefault(p, {})
        d[path[-1]] = v
    return nested
