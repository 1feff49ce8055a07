"""Golden data for test/models/mixed_precision.test.ts: flip_tiny (without masking) through the Flax reference
(flip_ref.py) with every layer module's `dtype` = bfloat16 (params float32), beside the same in float32. Writes
golden_bf16.json beside itself.

Run: test/golden/.venv/bin/python test/golden/model/make_bf16.py   (jax 0.10.2, flax 0.12.8; CI reads the JSON only)

Params are drawn as make_golden.py draws them (models/flip.ts initParams' scheme), the inputs are make_golden's; the
figures are the eval-mode loss and unit embeddings, and the training-mode loss (masking at 0.5 drawn from the
'dropout' key) with its gradient fingerprints, in both dtypes.
"""
import json
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flip_ref as R  # noqa: E402
import make_golden as G  # noqa: E402


def run(cfg):
    leaves = G.our_init(cfg, G.INIT_SEED)
    params = R.unflatten([(path, value) for path, value, _ in leaves])
    model = R.FLIP(cfg)
    inputs = G.inputs_for(cfg)
    ev = model.apply({"params": params}, inputs, train=False)
    rng = jax.random.PRNGKey(G.TRAIN_RNG_SEED)
    loss_of = lambda p: model.apply({"params": p}, inputs, train=True, rngs={"dropout": rng})["loss"]
    loss, grads = jax.value_and_grad(loss_of)(params)
    grads = dict(R.flatten(grads))
    return {
        "eval": {"loss": float(ev["loss"]), "z_img": G.floats(ev["z_img"]), "z_txt": G.floats(ev["z_txt"])},
        "train": {"rng": [int(x) for x in jax.device_get(rng)], "loss": float(loss),
                  "grads": {".".join(p): G.grad_fingerprint(grads[p]) for p, _, _ in leaves}},
    }


def main():
    cfg32 = json.loads(json.dumps(G.TINY))
    cfg16 = {**cfg32, "dtype": "bfloat16"}
    golden = {
        "jax_version": jax.__version__, "flax_version": __import__("flax").__version__,
        "batch": G.BATCH, "init_seed": G.INIT_SEED, "image_seed": G.IMAGE_SEED, "config": cfg32,
        "float32": run(cfg32), "bfloat16": run(cfg16),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_bf16.json")
    with open(path, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    for k in ("float32", "bfloat16"):
        print(f"{k}: eval loss {golden[k]['eval']['loss']:.6f}, train loss {golden[k]['train']['loss']:.6f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
