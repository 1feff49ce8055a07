"""Golden data for test/models/flip.test.ts, from the Flax reference in flip_ref.py. Writes golden.json beside itself.

Run: test/golden/.venv/bin/python test/golden/model/make_golden.py   (needs jax and flax; CI reads the JSON only)

  * param_counts: parameters of the official-architecture model (jax.eval_shape of flip_ref.FLIP.init) for the
    official base / large / huge14 configs, per tower.
  * cases: for flip_tiny (and variants), params drawn with OUR init scheme (models/flip.ts initParams: the key split
    into one key per leaf in the param tree's order, each leaf drawn with its official initializer from its own key)
    using jax.random, so the TS test can check its init against these fingerprints; then the reference's forward
    pass in eval and training mode (the key as Flax's 'dropout' rng collection: masking and dropout drawn by Flax's
    make_rng, whose streams models/flip.ts derives alike) on fixed inputs, and jax.grad of the training-mode loss with
    respect to every param, as a per-leaf summary (grad_fingerprint).
  * streams: the key Flax's make_rng("dropout") returns in modules at a few paths, each also checked here against
    flip's definition written out (stream_key: fold_in of SHA-1 of the path and the draw counter 1).
"""
import hashlib
import json
import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

jax.config.update("jax_enable_x64", False)
jax.config.update("jax_threefry_partitionable", False)  # flip's default threefry mode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flip_ref as R  # noqa: E402


def transformer(width, heads, layers, dropout=0.0, droppath=0.0):
    return {"num_layers": layers, "num_heads": heads, "mlp_dim": 4 * width, "dropout_rate": dropout, "droppath_rate": droppath}


def official(img_w, img_heads, img_layers, patch, txt_w, txt_heads, txt_layers, proj):
    """configs/default.py with the cfg_flip_*.py overrides."""
    return {
        "img": {"image_size": 224, "patch_size": [patch, patch], "hidden_size": img_w, "mask_ratio": 0.5,
                "transformer": transformer(img_w, img_heads, img_layers)},
        "txt": {"vocab_size": 30523, "max_len": 32, "hidden_size": txt_w, "mask_padding": False,
                "transformer": transformer(txt_w, txt_heads, txt_layers)},
        "clr": {"proj_dim_out": proj, "proj_out_bias": False, "img_avg_token": True, "txt_avg_token": False},
    }


OFFICIAL = {
    "flip_base": official(768, 12, 12, 16, 512, 8, 12, 512),
    "flip_large": official(1024, 16, 24, 16, 768, 12, 12, 768),
    "flip_huge14": official(1280, 16, 32, 14, 1024, 16, 24, 1024),
}

# configs/flip_tiny.ts, model section (the TS test checks that it still says this).
TINY = {
    "img": {"image_size": 32, "patch_size": [8, 8], "hidden_size": 32, "mask_ratio": 0.5,
            "transformer": {"num_layers": 2, "num_heads": 2, "mlp_dim": 64, "dropout_rate": 0.0, "droppath_rate": 0.0}},
    "txt": {"vocab_size": 64, "max_len": 8, "hidden_size": 32, "mask_padding": False,
            "transformer": {"num_layers": 2, "num_heads": 2, "mlp_dim": 64, "dropout_rate": 0.0, "droppath_rate": 0.0}},
    "clr": {"proj_dim_out": 16, "proj_out_bias": False, "img_avg_token": True, "txt_avg_token": False},
}


def variant(**changes):
    cfg = json.loads(json.dumps(TINY))
    for path, value in changes.items():
        d = cfg
        keys = path.split("__")
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return cfg


CASES = {
    "tiny": TINY,
    # 75% masking with dropout and drop-path in both towers: checks where our randomness goes.
    "tiny_mask75_dropout": variant(img__mask_ratio=0.75,
                                   img__transformer__dropout_rate=0.1, img__transformer__droppath_rate=0.2,
                                   txt__transformer__dropout_rate=0.1, txt__transformer__droppath_rate=0.2),
    # Our text-padding option: padding keys masked in attention, mean of the valid tokens as the text embedding.
    "tiny_textmask": variant(txt__mask_padding=True, clr__txt_avg_token=True),
}

BATCH = 4
INIT_SEED = 0
IMAGE_SEED = 1
TRAIN_RNG_SEED = 5


def dummy_inputs(cfg, batch):
    s, l = cfg["img"]["image_size"], cfg["txt"]["max_len"]
    return {"image": jnp.zeros((batch, s, s, 3), jnp.float32), "txt": jnp.zeros((batch, l), jnp.int32),
            "txt_is_valid": jnp.ones((batch, l), jnp.int32)}


def official_shapes(cfg):
    model = R.FLIP(cfg)
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), dummy_inputs(cfg, 1), train=False))["params"]
    return list(R.flatten(shapes))


def counts(cfg):
    out = {"total": 0, "img_encoder": 0, "txt_encoder": 0, "heads": 0}
    for path, s in official_shapes(cfg):
        n = int(np.prod(s.shape))
        out["total"] += n
        out[path[0] if path[0] in ("img_encoder", "txt_encoder") else "heads"] += n
    return out


# ---- our parameter layout and init scheme -------------------------------------------------------------------------------

def encoder_paths(prefix, layers):
    block = [("LayerNorm_0", "scale"), ("LayerNorm_0", "bias")]
    for proj in ("query", "key", "value", "out"):
        block += [("MultiHeadDotProductAttention_0", proj, "kernel"), ("MultiHeadDotProductAttention_0", proj, "bias")]
    block += [("LayerNorm_1", "scale"), ("LayerNorm_1", "bias")]
    block += [("MlpBlock_0", d, leaf) for d in ("Dense_0", "Dense_1") for leaf in ("kernel", "bias")]
    paths = [prefix + ("encoderblock_{:02d}".format(l),) + b for l in range(layers) for b in block]
    return paths + [prefix + ("encoder_norm", "scale"), prefix + ("encoder_norm", "bias")]


def our_order(cfg):
    """The leaf order of models/flip.ts's param tree (its specs' insertion order), checked against the reference's set."""
    img, txt = ("img_encoder",), ("txt_encoder",)
    return ([img + ("embedding", "kernel"), img + ("embedding", "bias"), img + ("posembed_encoder", "pos_embedding"), img + ("cls",)]
            + encoder_paths(img + ("Transformer",), cfg["img"]["transformer"]["num_layers"])
            + [txt + ("token_embedding", "embedding"), txt + ("posembed_encoder", "pos_embedding")]
            + encoder_paths(txt + ("Transformer",), cfg["txt"]["transformer"]["num_layers"])
            + [("img_mlp1", "kernel"), ("txt_mlp1", "kernel"), ("logit_scale",)])


def our_layout(cfg):
    """(path, official shape, our shape) in the param tree's order."""
    layout = []
    ref = dict(official_shapes(cfg))
    order = our_order(cfg)
    assert sorted(order) == sorted(ref), (sorted(set(order) ^ set(ref)))
    for path in order:
        s = ref[path]
        shape = tuple(int(d) for d in s.shape)
        tower = cfg["img"] if path[0] == "img_encoder" else cfg["txt"]
        heads = tower["transformer"]["num_heads"]
        name, leaf = (path[-2] if len(path) > 1 else ""), path[-1]
        if name in ("query", "key", "value"):
            ours = (shape[0], heads, shape[1] // heads) if leaf == "kernel" else (heads, shape[0] // heads)
        elif name == "out" and leaf == "kernel":
            ours = (heads, shape[0] // heads, shape[1])
        elif leaf in ("pos_embedding", "cls", "logit_scale"):
            ours = tuple(d for d in shape if d != 1) if leaf != "pos_embedding" else shape[1:]
        else:
            ours = shape
        layout.append((path, shape, ours))
    return layout


xavier = jax.nn.initializers.xavier_uniform()
qkv = jax.nn.initializers.variance_scaling(0.5, "fan_avg", "uniform")
normal02 = jax.nn.initializers.normal(0.02)


def init_leaf(path, official_shape, cfg, key):
    """The official initializer of a leaf, drawn in the official shape (our shapes are reshapes of it)."""
    name, leaf = (path[-2] if len(path) > 1 else ""), path[-1]
    if leaf == "bias":
        return jnp.zeros(official_shape, jnp.float32)
    if leaf == "scale":
        return jnp.ones(official_shape, jnp.float32)
    if leaf == "logit_scale":
        return jnp.full(official_shape, math.log(1 / 0.07), jnp.float32)
    if leaf == "pos_embedding" and path[0] == "img_encoder":
        _, l, d = official_shape
        h = int((l - 1) ** 0.5)
        return jnp.asarray(R.sincos_2d(d, h, h, True), jnp.float32)[None]
    if leaf in ("pos_embedding", "cls", "embedding"):
        return normal02(key, official_shape, jnp.float32)
    if leaf == "kernel" and name in ("query", "key", "value"):
        return qkv(key, official_shape, jnp.float32)
    if leaf == "kernel" and path[:2] == ("img_encoder", "embedding"):
        return R.patch_kernel_init(key, official_shape)
    if leaf == "kernel":
        return xavier(key, official_shape, jnp.float32)
    raise ValueError(f"no initializer for {path}")


def our_init(cfg, seed):
    layout = our_layout(cfg)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(layout))
    return [(path, init_leaf(path, shape, cfg, keys[i]), ours) for i, (path, shape, ours) in enumerate(layout)]


def fingerprint(a):
    v = np.asarray(a, dtype=np.float64).reshape(-1)
    return {"sum": float(v.sum()), "sumsq": float((v * v).sum()), "head": [float(x) for x in v[:4]], "last": float(v[-1])}


def probe_weights(n):
    """Fixed weights w_i = sin(i + 1) over a leaf's row-major elements: Σ w_i·g_i sees every element of the leaf."""
    return np.sin(np.arange(n, dtype=np.float64) + 1)


def grad_fingerprint(a):
    """A gradient leaf's summary, in float64 over its row-major elements (our shapes are row-major reshapes of the
    official ones, so the order is the same): sum, sum of squares, max |g|, the probe Σ sin(i + 1)·g_i, first 4, last."""
    v = np.asarray(a, dtype=np.float64).reshape(-1)
    fp = fingerprint(a)
    fp.update({"absmax": float(np.abs(v).max()), "probe": float((probe_weights(v.size) * v).sum())})
    return fp


def inputs_for(cfg):
    s, l, vocab = cfg["img"]["image_size"], cfg["txt"]["max_len"], cfg["txt"]["vocab_size"]
    image = jax.random.uniform(jax.random.PRNGKey(IMAGE_SEED), (BATCH, s, s, 3), jnp.float32)
    b = np.arange(BATCH)[:, None]
    t = np.arange(l)[None, :]
    valid = (t < (l - b)).astype(np.int32)  # example b has l - b real tokens
    txt = np.where(valid == 1, (b * 13 + t * 7 + 1) % vocab, 0).astype(np.int32)
    return {"image": image, "txt": jnp.asarray(txt), "txt_is_valid": jnp.asarray(valid)}


def floats(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


def run_case(name, cfg):
    leaves = our_init(cfg, INIT_SEED)
    params = R.unflatten([(path, value) for path, value, _ in leaves])
    model = R.FLIP(cfg)
    inputs = inputs_for(cfg)
    ev = model.apply({"params": params}, inputs, train=False)
    rng = jax.random.PRNGKey(TRAIN_RNG_SEED)
    tr = model.apply({"params": params}, inputs, train=True, rngs={"dropout": rng})
    # The gradient of the training-mode loss (same key: the same mask and dropout) with respect to every param.
    loss_of = lambda p: model.apply({"params": p}, inputs, train=True, rngs={"dropout": rng})["loss"]
    grad_loss, grads = jax.value_and_grad(loss_of)(params)
    grads = dict(R.flatten(grads))
    return {
        "config": cfg,
        "paths": [[".".join(p), list(ours)] for p, _, ours in leaves],
        "init": {".".join(p): fingerprint(v) for p, v, _ in leaves},
        "txt": [int(x) for x in np.asarray(inputs["txt"]).reshape(-1)],
        "txt_is_valid": [int(x) for x in np.asarray(inputs["txt_is_valid"]).reshape(-1)],
        "eval": {"loss": float(ev["loss"]), "tau": float(ev["tau"]), "z_img": floats(ev["z_img"]), "z_txt": floats(ev["z_txt"])},
        "train": {
            "rng": [int(x) for x in np.asarray(rng)], "loss": float(tr["loss"]), "tau": float(tr["tau"]),
            "z_img": floats(tr["z_img"]), "z_txt": floats(tr["z_txt"]),
            "mask": floats(tr["mask"]), "ids_restore": [int(x) for x in np.asarray(tr["ids_restore"]).reshape(-1)],
        },
        "grads": {"loss": float(grad_loss), "leaves": {".".join(p): grad_fingerprint(grads[p]) for p, _, _ in leaves}},
    }


# ---- random streams: Flax's make_rng against flip's definition -------------------------------------------------------

class Probe(nn.Module):
    """Nested modules named by `names`; the innermost one returns its first make_rng("dropout")."""
    names: tuple

    @nn.compact
    def __call__(self):
        if not self.names:
            return self.make_rng("dropout")
        return Probe(self.names[1:], name=self.names[0])()


def flax_stream(rng, path):
    return Probe(tuple(path)).apply({}, rngs={"dropout": rng})


def stream_key(rng, path):
    """flip's stream of a module path (dsl/nn/context.ts makeRng): fold_in(rng, the first 4 bytes, big-endian, of
    SHA-1 over the path's names (UTF-8, no separator) and the draw counter 1 as one byte)."""
    digest = hashlib.sha1(b"".join(s.encode("utf-8") for s in path) + bytes([1])).digest()
    return jax.random.fold_in(rng, np.uint32(int.from_bytes(digest[:4], "big")))


STREAM_PATHS = [
    [],
    ["img_encoder"],
    ["img_encoder", "Transformer", "encoderblock_00", "Dropout_0"],
    ["img_encoder", "Transformer", "encoderblock_00", "droppath_msa"],
    ["img_encoder", "Transformer", "encoderblock_01", "droppath_mlp"],
    ["txt_encoder", "Transformer", "encoderblock_01", "MlpBlock_0", "Dropout_1"],
]


def streams():
    rng = jax.random.PRNGKey(TRAIN_RNG_SEED)
    out = []
    for path in STREAM_PATHS:
        flax_key = np.asarray(flax_stream(rng, path))
        assert (flax_key == np.asarray(stream_key(rng, path))).all(), path
        out.append({"path": path, "key": [int(x) for x in flax_key]})
    return {"rng": [int(x) for x in np.asarray(rng)], "paths": out}


def main():
    golden = {
        "jax_version": jax.__version__,
        "flax_version": __import__("flax").__version__,
        "batch": BATCH, "init_seed": INIT_SEED, "image_seed": IMAGE_SEED,
        "param_counts": {k: counts(c) for k, c in OFFICIAL.items()},
        "streams": streams(),
        "cases": {k: run_case(k, c) for k, c in CASES.items()},
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(path, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}")
    for k, v in golden["param_counts"].items():
        print(f"  {k}: {v}")
    for k, v in golden["cases"].items():
        print(f"  {k}: eval loss {v['eval']['loss']:.6f}, train loss {v['train']['loss']:.6f}")


if __name__ == "__main__":
    main()
