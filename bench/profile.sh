#!/usr/bin/env bash
# Where a train step's CPU time goes, flip vs JAX: perf samples (cpu-clock, 499 Hz, call stacks) of flip_small's
# train step at one mask, N timed steps each (after compile and one warm-up step), classified by their top frame.
# CPU time, not wall time: a busy machine does not move these figures much. Needs perf (Debian: linux-perf) and the
# bench venv (run `npm run bench` once). Usage: bench/profile.sh [mask=0.5] [steps=6]
set -euo pipefail
cd "$(dirname "$0")/.."
mask=${1:-0.5}
steps=${2:-6}
out=out/bench/profile
mkdir -p "$out"
command -v perf >/dev/null || { echo "bench/profile.sh: needs perf (apt-get install linux-perf)" >&2; exit 2; }
[ -x bench/.venv/bin/python ] || { echo "bench/profile.sh: no bench/.venv; run npm run bench once" >&2; exit 2; }
npx tsx -e "import { cpuPlan } from './bench/plan.ts'; console.log(JSON.stringify(cpuPlan()))" > "$out/plan.json"

perf record -q -k CLOCK_MONOTONIC -e cpu-clock -F 499 -g -o "$out/flip.data" -- \
  npx tsx bench/profile/flip_steps.ts "$mask" "$steps" > "$out/flip.window" 2>/dev/null
JAX_PLATFORMS=cpu perf record -q -k CLOCK_MONOTONIC -e cpu-clock -F 499 -g -o "$out/jax.data" -- \
  bench/.venv/bin/python bench/profile/jax_steps.py "$out/plan.json" "$mask" "$steps" > "$out/jax.window" 2>/dev/null

for side in flip jax; do
  read -r _ t0 t1 _ n _ cpu < "$out/$side.window"
  echo "$side: flip_small train step at mask $mask, $n steps"
  python3 bench/profile/categories.py "$out/$side.data" "$t0" "$t1" "$n" "$cpu"
done
