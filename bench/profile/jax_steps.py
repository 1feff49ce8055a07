"""bench/profile.sh's JAX driver: flip_jax's train step at one mask, as flip_steps.ts does for flip."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import flip_jax as F  # noqa: E402

plan = json.load(open(sys.argv[1]))["steps"]
plan.update(warmup=1, hloDir=os.environ.get("JAX_HLO_DIR"))
mask, steps = float(sys.argv[2]), int(sys.argv[3])
session = F.StepRunner(plan, None).session(mask)
t0 = time.monotonic()
for _ in range(steps):
    session.rep()
t1 = time.monotonic()
r = session.finish()
print(f"window {t0} {t1} steps {steps} cpu {sum(r['cpuSeconds'])}", flush=True)
