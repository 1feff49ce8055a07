"""Writes jax_hlo_shardings.json: the HloSharding string JAX gives each (mesh, PartitionSpec) pair, and the
PartitionSpec flax's logical_to_mesh_axes gives logical axis names under t5x's standard rules (the table of
t5x/partitioning.py standard_logical_axis_rules, transcribed below), which test/sharding/spec.test.ts compares with
compiler/passes/sharding's hloSharding, standardLogicalAxisRules and logicalToMesh.

Run with the golden venv (JAX on CPU):  test/golden/.venv/bin/python test/sharding/make_jax_shardings.py
"""
import json
import os
import pathlib

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

MESHES = [{"data": 8}, {"data": 4, "model": 2}, {"data": 2, "model": 4}, {"data": 2, "model": 2, "x": 2}, {"data": 1, "model": 8}]
SPECS = [
    (), (None,), ("data",), ("model",), ("data", "model"), ("model", "data"), (None, "model"), ("model", None),
    (None, "data"), ("data", None), (("data", "model"),), (("model", "data"),), (None, ("data", "model")),
    ("data", None, "model"), ("model", None, "data"), (None, None, "model"), ("x",), ("x", "data"),
    (("x", "model"), "data"), ("model", "x"), (None, "x", "data"),
]

cases = []
for sizes in MESHES:
    mesh = Mesh(np.array(jax.devices()).reshape(tuple(sizes.values())), tuple(sizes))
    for spec in SPECS:
        names = [a for e in spec if e is not None for a in ((e,) if isinstance(e, str) else e)]
        if any(n not in sizes for n in names):
            continue
        rank = len(spec) if spec else 2
        hlo = str(NamedSharding(mesh, P(*spec))._to_xla_hlo_sharding(rank))
        cases.append({"mesh": sizes, "spec": [list(e) if isinstance(e, tuple) else e for e in spec], "rank": rank, "hlo": hlo})

out = pathlib.Path(__file__).with_name("jax_hlo_shardings.json")


def t5x_rules(act, par):
  """t5x/partitioning.py standard_logical_axis_rules(activation_partitioning_dims, parameter_partitioning_dims)."""
  if act == 1 and par == 1:
    rules = [("batch", "data"), ("vocab", "model"), ("embed", None), ("mlp", "model"), ("heads", "model"), ("kv", None), ("joined_kv", "model")]
  elif act == 2 and par == 1:
    rules = [("batch", "data"), ("vocab", "model"), ("mlp", "model"), ("heads", "model"), ("kv", None), ("joined_kv", "model"), ("embed", "model")]
  elif act == 1 and par == 2:
    rules = [("batch", "data"), ("vocab", "model"), ("mlp", "model"), ("heads", "model"), ("kv", None), ("joined_kv", "model"), ("embed", "data")]
  else:
    rules = [("batch", "data"), ("vocab", "model"), ("mlp", "model"), ("heads", "model"), ("kv", None), ("joined_kv", "model"), ("embed", "model"), ("embed", "data")]
  return rules + [("relpos_buckets", None), ("abspos_buckets", None), ("length", None), ("layers", None), ("stack", None), ("mlp_activations", None)]


from flax.linen import partitioning as nn_partitioning  # noqa: E402

NAMES = [
    ("batch", "length", "embed"), ("embed", "mlp"), ("mlp", "embed"), ("embed", "heads", "kv"), ("heads", "kv", "embed"),
    ("batch", "length", "heads", "kv"), ("batch", "length", "mlp"), ("embed", "joined_kv"), ("vocab", "embed"),
    ("embed",), ("mlp",), ("batch", "embed"), ("_null0", "_null1", "embed"), ("classes", "embed"), ("layers", "embed", "mlp"),
]
logical = []
for act, par in [(1, 1), (2, 1), (1, 2), (2, 2)]:
  rules = t5x_rules(act, par)
  for names in NAMES:
    spec = nn_partitioning.logical_to_mesh_axes(names, rules)
    logical.append({"act": act, "par": par, "names": list(names), "spec": [None if e is None else e for e in spec]})
tables = {f"{act},{par}": t5x_rules(act, par) for act, par in [(1, 1), (2, 1), (1, 2), (2, 2)]}

lines = ",\n".join("  " + json.dumps(c) for c in cases)
lrules = ",\n".join("  " + json.dumps(c) for c in logical)
out.write_text(f'{{"jax": "{jax.__version__}", "flax": "{__import__("flax").__version__}", "cases": [\n{lines}\n],\n"t5x_rules": {json.dumps(tables)},\n"logical": [\n{lrules}\n]}}\n')
print(f"wrote {len(cases)} shardings and {len(logical)} rule lookups to {out}")
