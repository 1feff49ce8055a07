"""Writes golden.json: inputs, loss and JAX's gradients of the composite functions that test/passes/golden.test.ts
differentiates with flip's VJP pass. Run once (CI compares against the committed file and needs no Python):

    python3 -m venv test/golden/.venv && test/golden/.venv/bin/pip install jax
    test/golden/.venv/bin/python test/golden/autodiff/make_golden.py

Everything is float64 (jax_enable_x64) so the comparison can be tight. Inputs come from a fixed numpy seed.
"""
import json
import os

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

rng = np.random.default_rng(20240601)


def normal(*shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def softmax_ce(logits, labels):
    """Mean over the batch of -log softmax(logits)[label]."""
    logp = logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def layer_norm(x, scale, bias, eps=1e-6):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * scale + bias


def layer_norm_loss(x, scale, bias, w):
    return jnp.sum(layer_norm(x, scale, bias) * w)


def attention_block(x, wq, wk, wv, wo, scale, bias):
    """Pre-LN multi-head self-attention with a residual connection; the loss is the mean square of the output."""
    h = layer_norm(x, scale, bias)
    q = jnp.einsum("bld,dhk->blhk", h, wq)
    k = jnp.einsum("bld,dhk->blhk", h, wk)
    v = jnp.einsum("bld,dhk->blhk", h, wv)
    s = jnp.einsum("blhk,bmhk->bhlm", q, k) / jnp.sqrt(q.shape[-1])
    p = jax.nn.softmax(s, axis=-1)
    o = jnp.einsum("bhlm,bmhk->blhk", p, v)
    y = x + jnp.einsum("blhk,hkd->bld", o, wo)
    return jnp.mean(jnp.square(y))


def contrastive(a, b, t):
    """FLIP/CLIP loss: L2-normalised embeddings, logits = exp(t)·a bᵀ, mean of the image→text and text→image CE."""
    a = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
    b = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
    logits = jnp.exp(t) * a @ b.T
    labels = jnp.arange(a.shape[0])
    return (softmax_ce(logits, labels) + softmax_ce(logits.T, labels)) / 2


def case(fn, inputs, wrt):
    args = list(inputs.values())
    loss, grads = jax.value_and_grad(fn, argnums=tuple(wrt))(*args)
    names = list(inputs)
    enc = lambda v: {"dtype": str(np.asarray(v).dtype).replace("float", "f").replace("int", "i"),
                     "shape": list(np.shape(v)), "data": np.asarray(v).reshape(-1).tolist()}
    return {
        "inputs": {k: enc(v) for k, v in inputs.items()},
        "loss": float(loss),
        "grads": {names[i]: enc(g) for i, g in zip(wrt, grads)},
    }


golden = {
    "jax_version": jax.__version__,
    "softmax_cross_entropy": case(softmax_ce, {"logits": normal(4, 5, scale=2.0), "labels": np.array([0, 3, 4, 3], np.int32)}, [0]),
    "layer_norm": case(layer_norm_loss, {"x": normal(3, 8), "scale": 1 + normal(8, scale=0.1), "bias": normal(8, scale=0.1), "w": normal(3, 8)}, [0, 1, 2]),
    "attention_block": case(attention_block, {
        "x": normal(2, 4, 8), "wq": normal(8, 2, 4, scale=0.3), "wk": normal(8, 2, 4, scale=0.3), "wv": normal(8, 2, 4, scale=0.3),
        "wo": normal(2, 4, 8, scale=0.3), "scale": 1 + normal(8, scale=0.1), "bias": normal(8, scale=0.1),
    }, [0, 1, 2, 3, 4, 5, 6]),
    "contrastive": case(contrastive, {"a": normal(4, 6), "b": normal(4, 6), "t": np.array(np.log(1 / 0.07))}, [0, 1, 2]),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
with open(out, "w") as f:
    json.dump(golden, f)
    f.write("\n")
print(f"wrote {out}")
