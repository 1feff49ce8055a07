"""jax.random reference outputs for dsl/random.ts, written to golden.json beside this script.

Run: test/golden/.venv/bin/python test/golden/random/make_golden.py
(CI needs no Python: golden.json is committed; test/dsl/random.test.ts compares our threefry against it.)

Keys are raw uint32[2] keys (jax.random.PRNGKey style). Both threefry modes are recorded: the classic bits
(jax_threefry_partitionable=False, which flip uses by default) and the partitionable ones (JAX >= 0.5 default).
Floats are stored as their float32 bit patterns, so the test can count ulps.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", False)


def u32(a):
    return [int(v) for v in np.asarray(a, dtype=np.uint32).reshape(-1)]


def f32bits(a):
    return u32(np.asarray(a, dtype=np.float32).view(np.uint32))


def raw(k):
    return jnp.asarray(k, dtype=jnp.uint32)


KEYS = {
    "seed0": jax.random.PRNGKey(0),
    "seed42": jax.random.PRNGKey(42),
    "raw_hi": raw([0x12345678, 0x9ABCDEF0]),
    "raw_max": raw([0xFFFFFFFF, 0xFFFFFFFE]),
}

SHAPES = [(1,), (3,), (2, 3, 7), (65,)]
BIG = {"seed0", "raw_hi"}  # keys that also draw 1000 values (a longer count range)


def cases_for(partitionable):
    jax.config.update("jax_threefry_partitionable", partitionable)
    out = []
    for seed in [0, 1, 42, 2**31 + 5, 2**32 - 1]:
        out.append({"op": "key", "seed": seed, "out": u32(jax.random.PRNGKey(seed))})
    for name, k in KEYS.items():
        kw = u32(k)
        for n in [1, 3, 8]:
            out.append({"op": "split", "key": kw, "n": n, "out": u32(jax.random.split(k, n))})
        for data in [0, 7, 2**32 - 1]:
            out.append({"op": "fold_in", "key": kw, "data": data, "out": u32(jax.random.fold_in(k, np.uint32(data)))})
        big = [(1000,)] if name in BIG else []
        for shape in SHAPES + big:
            out.append({"op": "bits", "key": kw, "shape": list(shape), "out": u32(jax.random.bits(k, shape, jnp.uint32))})
        for shape, lo, hi in [((4, 5), 0.0, 1.0), ((65,), -1.0, 1.0), ((2, 3, 7), -0.5, 3.25)] + [(s, 0.0, 1.0) for s in big]:
            v = jax.random.uniform(k, shape, jnp.float32, lo, hi)
            out.append({"op": "uniform", "key": kw, "shape": list(shape), "min": lo, "max": hi, "out": f32bits(v)})
        for shape in [(4, 5), (65,)] + big:
            out.append({"op": "normal", "key": kw, "shape": list(shape), "out": f32bits(jax.random.normal(k, shape, jnp.float32))})
        for shape, lo, hi in [((65,), -2.0, 2.0), ((4, 5), -1.0, 3.0)]:
            v = jax.random.truncated_normal(k, lo, hi, shape, jnp.float32)
            out.append({"op": "truncated_normal", "key": kw, "shape": list(shape), "lower": lo, "upper": hi, "out": f32bits(v)})
        for shape, p in [((65,), 0.5), ((4, 5), 0.9)] + [(s, 0.1) for s in big]:
            v = jax.random.bernoulli(k, p, shape)
            out.append({"op": "bernoulli", "key": kw, "shape": list(shape), "p": p, "out": [int(b) for b in np.asarray(v).reshape(-1)]})
    # Chains: split then fold_in then split again, as a model's init does.
    k = jax.random.PRNGKey(7)
    a, b = jax.random.split(k)
    c = jax.random.fold_in(b, 3)
    d = jax.random.split(c, 4)[2]
    out.append({"op": "chain", "seed": 7, "out": u32(d), "uniform": f32bits(jax.random.uniform(d, (6,)))})
    return out


def main():
    golden = {
        "jax_version": jax.__version__,
        "modes": {"classic": cases_for(False), "partitionable": cases_for(True)},
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(path, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    n = sum(len(v) for v in golden["modes"].values())
    print(f"wrote {path}: {n} cases, jax {jax.__version__}")


if __name__ == "__main__":
    main()
