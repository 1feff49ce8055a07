#!/usr/bin/env bash
# flip's GPU kit (built by `npm run kit:gpu`, see docs/runtime.md "GPU kit"): runs flip on a bare GPU machine with no
# Node and no network. Needs bash, tar (xz, or Python's lzma), and for the GPU steps a Python with jax and
# jax-cuda13-pjrt (jax_plugins/xla_cuda13/xla_cuda_plugin.so) and an NVIDIA GPU; g++ only if the prebuilt addon does
# not load there.
#
#   bash kit/gpu/run.sh [STEP ...]     STEP: ops, bench, train (default: all three, in that order)
#   bash kit/gpu/run.sh --cpu [STEP]   the same steps on the PJRT CPU plugin at toy sizes (the kit's own check)
#
# Steps, each with its own timeout (seconds; FLIP_KIT_TIMEOUT_<STEP> overrides) and log:
#   ops    (90)  vitest test/runtime-native/ops.test.ts with FLIP_TEST_TARGET=gpu (PJRT_PLUGIN_PATH: the CUDA plugin)
#   bench  (240) bench/gpu.sh: flip_base train step at mask 0/0.5/0.75 against JAX on the same xla_cuda_plugin.so,
#                compile times, MFU (extra options: FLIP_KIT_BENCH_ARGS, default "--steps 10 --warmup 3 --budget 120")
#   train  (120) flip run --target gpu on the default config (configs/synthetic_cpu.ts) to its accuracy line
# Output: one flat folder, $OUT if set (must be empty), else <kit>/out/<UTC time>; at most 8 files:
#   summary.txt (each step: ok / failed / timed out, seconds; the machine; the steps to redo), setup.log, ops.log,
#   bench.log, train.log, results-gpu.json + results-gpu.md (the bench's), train.tar.gz (the run's metrics, no
#   checkpoints). Exit status: 0 when every step asked for passed, 1 when one failed, 2 for a bad argument or setup.
# Environment: FLIP_KIT_PYTHON (the Python with jax_plugins.xla_cuda13; default: python3, python3.12),
#   PJRT_PLUGIN_PATH (the CUDA plugin .so; default: that Python's), FLIP_KIT_WORK (where the kit unpacks; default
#   <kit>/.x), CXX (the addon rebuild's compiler, default g++).
set -uo pipefail
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE=gpu
STEPS=()
say() { echo "run.sh: $*" >&2; }
die() { say "$*"; exit 2; }
for a in "$@"; do
  for s in ${a//,/ }; do
    case "$s" in
      --cpu) MODE=cpu ;;
      -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
      ops|bench|train) [[ " ${STEPS[*]-} " == *" $s "* ]] || STEPS+=("$s") ;;
      *) die "unknown step or option '$s': steps are ops, bench, train; options --cpu, --help" ;;
    esac
  done
done
[ ${#STEPS[@]} -eq 0 ] && STEPS=(ops bench train)

if [ -n "${OUT:-}" ]; then
  OUTDIR="$OUT"
  mkdir -p "$OUTDIR" || die "cannot create the output folder $OUTDIR"
  [ -z "$(ls -A "$OUTDIR")" ] || die "the output folder $OUTDIR is not empty; give an empty one (OUT=...) so nothing is overwritten"
else
  OUTDIR="$KIT/out/$(date -u +%Y%m%dT%H%M%SZ)"
  [ -e "$OUTDIR" ] && die "$OUTDIR exists already; wait a second and run again"
  mkdir -p "$OUTDIR" || die "cannot create the output folder $OUTDIR"
fi
OUTDIR="$(cd "$OUTDIR" && pwd)"
SUMMARY="$OUTDIR/summary.txt"
SETUP="$OUTDIR/setup.log"
T_START=$(date +%s)
echo "flip GPU kit run, $(date -u +%Y-%m-%dT%H:%M:%SZ), mode $MODE, steps: ${STEPS[*]}" >"$SUMMARY"
setup_fail() { say "$*"; echo "setup: FAILED: $*" >>"$SUMMARY"; echo "setup failed: $*" >>"$SETUP"; exit 2; }

# ---- setup: unpack, Node on PATH, the addon, the plugin ----
{
  echo "kit: $KIT"
  cat "$KIT/manifest.json" 2>/dev/null || echo "(no manifest.json)"
} >"$SETUP"
for f in manifest.json node.tar.xz modules.tar.xz flip.tar.xz; do
  [ -f "$KIT/$f" ] || setup_fail "$KIT/$f is missing: build the kit with \`npm run kit:gpu\` and carry the whole kit/gpu folder"
done
WORK="${FLIP_KIT_WORK:-$KIT/.x}"
KEY="$(cksum <"$KIT/manifest.json")"
untar() { # archive dest
  if command -v xz >/dev/null 2>&1; then
    tar -xJf "$1" -C "$2"
  else
    local py; py="$(command -v python3 || command -v python3.12 || true)"
    [ -n "$py" ] || return 1
    "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$1" "$2"
  fi
}
if [ ! -f "$WORK/.unpacked" ] || [ "$(cat "$WORK/.unpacked")" != "$KEY" ]; then
  rm -rf "$WORK" && mkdir -p "$WORK/flip" || setup_fail "cannot create $WORK"
  untar "$KIT/node.tar.xz" "$WORK" >>"$SETUP" 2>&1 || setup_fail "cannot unpack node.tar.xz into $WORK (needs tar with xz, or python3)"
  untar "$KIT/modules.tar.xz" "$WORK/flip" >>"$SETUP" 2>&1 || setup_fail "cannot unpack modules.tar.xz"
  untar "$KIT/flip.tar.xz" "$WORK/flip" >>"$SETUP" 2>&1 || setup_fail "cannot unpack flip.tar.xz"
  echo "$KEY" >"$WORK/.unpacked"
fi
export PATH="$WORK/node/bin:$PATH"
FLIP="$WORK/flip"
cd "$FLIP" || setup_fail "no $FLIP"
NODE_V="$(node --version 2>>"$SETUP")" || setup_fail "the kit's Node does not run here (see $SETUP)"
echo "node: $(command -v node) $NODE_V" >>"$SETUP"
# The prebuilt addon (built with the kit's Node on the kit's machine): kept when it loads, else rebuilt with g++
# against the shipped PJRT header and the kit's Node headers.
if node -e "require('./build/flip_pjrt.node')" >>"$SETUP" 2>&1; then
  echo "addon: the prebuilt build/flip_pjrt.node loads" >>"$SETUP"
else
  echo "addon: the prebuilt one does not load here; rebuilding with ${CXX:-g++}" >>"$SETUP"
  FLIP_CACHE_DIR="$FLIP/.kit-cache" node scripts/install.mjs --addon-only --force >>"$SETUP" 2>&1 \
    || setup_fail "the addon does not load and rebuilding it failed (needs g++; see $SETUP)"
  node -e "require('./build/flip_pjrt.node')" >>"$SETUP" 2>&1 || setup_fail "the rebuilt addon does not load (see $SETUP)"
fi

TARGET=$MODE
PLUGIN_ARGS=()
if [ "$MODE" = gpu ]; then
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >>"$SETUP" 2>&1 || setup_fail "no NVIDIA GPU here (nvidia-smi finds none); run.sh --cpu checks the kit without one"
  GPU="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
  PY=""
  for c in ${FLIP_KIT_PYTHON:-} python3 python3.12; do
    if "$c" -c 'import jax, jax_plugins.xla_cuda13' >/dev/null 2>&1; then PY="$(command -v "$c")"; break; fi
  done
  [ -n "$PY" ] || setup_fail "no Python here imports jax and jax_plugins.xla_cuda13 (set FLIP_KIT_PYTHON to one)"
  PYINFO="$("$PY" -c 'import os, sys, jax, jaxlib, jax_plugins.xla_cuda13 as p; print(os.path.dirname(p.__file__)); print(sys.version.split()[0], jax.__version__, jaxlib.__version__)' 2>>"$SETUP")"
  PLUGIN_DIR="$(echo "$PYINFO" | sed -n 1p)"
  export PJRT_PLUGIN_PATH="${PJRT_PLUGIN_PATH:-$PLUGIN_DIR/xla_cuda_plugin.so}"
  [ -f "$PJRT_PLUGIN_PATH" ] || setup_fail "no CUDA plugin at $PJRT_PLUGIN_PATH"
  # The CUDA libraries of the nvidia-* wheels beside jax_plugins: the plugin dlopens them by name.
  SITE="$(dirname "$PLUGIN_DIR")"
  SITE="$(dirname "$SITE")"
  LIBS="$(find "$SITE/nvidia" -mindepth 2 -maxdepth 3 -type d -name lib 2>/dev/null | sort | tr '\n' ':')"
  [ -n "$LIBS" ] && export LD_LIBRARY_PATH="${LIBS}${LD_LIBRARY_PATH:-}"
  # ptxas and libdevice for XLA: the nvcc wheel's (nvidia/cu13), else the CUDA toolkit's.
  for d in "$SITE/nvidia/cu13" "$SITE/nvidia/cuda_nvcc" /usr/local/cuda; do
    if [ -x "$d/bin/ptxas" ]; then
      [[ "${XLA_FLAGS:-}" == *xla_gpu_cuda_data_dir* ]] || export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_cuda_data_dir=$d"
      break
    fi
  done
  export FLIP_BENCH_PYTHON="$PY"
  # nvidia-smi has seen the GPU: flip's own pre-load check (/dev/nvidia*, /proc/driver/nvidia) must not say otherwise.
  export FLIP_SKIP_DEVICE_CHECK=1
  PLUGIN_ARGS=(--plugin "$PJRT_PLUGIN_PATH")
  {
    echo "gpu: $GPU"
    echo "python: $PY (python, jax, jaxlib: $(echo "$PYINFO" | sed -n 2p))"
    echo "plugin: $PJRT_PLUGIN_PATH"
    echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
    echo "XLA_FLAGS: ${XLA_FLAGS:-}"
    echo "device nodes: $(ls /dev/nvidia* 2>/dev/null | tr '\n' ' ')"
    echo "ldd of the plugin (missing libraries):"
    ldd "$PJRT_PLUGIN_PATH" 2>&1 | grep -i 'not found' || echo "  none"
  } >>"$SETUP"
  MACHINE="$GPU; python/jax/jaxlib $(echo "$PYINFO" | sed -n 2p); plugin $PJRT_PLUGIN_PATH"
else
  MACHINE="CPU ($(nproc) cores), the PJRT CPU plugin from flip's cache"
fi
node bin/flip.js plugins --target "$TARGET" ${PLUGIN_ARGS[@]+"${PLUGIN_ARGS[@]}"} >>"$SETUP" 2>&1 || echo "(flip plugins failed)" >>"$SETUP"
{
  echo "machine: $MACHINE"
  echo "kit: node $NODE_V, flip $(node -p "const m=require('$KIT/manifest.json'); m.flip.commit.slice(0,12)+(m.flip.dirty?' + uncommitted edits':'')+', built '+m.created")"
  echo "setup: ok ($(( $(date +%s) - T_START )) s)"
} >>"$SUMMARY"

# ---- the steps ----
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/flip-kit-run.XXXXXX")"
FAILED=()
step() { # name timeout command...
  local name=$1 limit=$2; shift 2
  local var="FLIP_KIT_TIMEOUT_${name^^}"
  limit="${!var:-$limit}"
  local t0 rc; t0=$(date +%s)
  say "step $name (timeout ${limit} s) ..."
  { echo "\$ $*"; echo "(timeout $limit s, started $(date -u +%H:%M:%SZ))"; } >"$OUTDIR/$name.log"
  timeout --kill-after=15 "$limit" "$@" >>"$OUTDIR/$name.log" 2>&1 </dev/null
  rc=$?
  local dt=$(( $(date +%s) - t0 )) status
  if [ $rc -eq 0 ]; then status=ok
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="TIMED OUT after ${limit} s"; FAILED+=("$name")
  else status="FAILED (exit $rc)"; FAILED+=("$name"); fi
  echo "$name: $status ($dt s)" >>"$SUMMARY"
  say "step $name: $status ($dt s)"
}

for s in "${STEPS[@]}"; do
  case "$s" in
    ops)
      step ops 90 env FLIP_TEST_TARGET="$TARGET" NO_COLOR=1 node node_modules/vitest/vitest.mjs run test/runtime-native/ops.test.ts
      grep -E '^ *(Tests|Test Files) ' "$OUTDIR/ops.log" | sed 's/^ */  ops /' >>"$SUMMARY"
      ;;
    bench)
      if [ "$MODE" = gpu ]; then
        # shellcheck disable=SC2086
        step bench 240 bash bench/gpu.sh --out "$OUTDIR/results-gpu.json" ${FLIP_KIT_BENCH_ARGS:---steps 10 --warmup 3 --budget 120}
      else
        step bench 240 node --import tsx bench/run.ts --quick --skip-jax --out "$OUTDIR/results-gpu.json"
      fi
      ;;
    train)
      if [ "$MODE" = gpu ]; then
        step train 120 node bin/flip.js run --target gpu ${PLUGIN_ARGS[@]+"${PLUGIN_ARGS[@]}"} --workdir "$SCRATCH/run"
      else
        step train 120 node bin/flip.js run --config configs/flip_tiny.ts --config.model.txt.vocabSize=128 \
          --config.train.samplesPerEpoch=16 --config.train.numEpochs=1 --config.train.warmupEpochs=0 \
          --workers 0 --fast-compile --workdir "$SCRATCH/run"
      fi
      grep -E '^zero-shot top-1' "$OUTDIR/train.log" | tail -1 | sed 's/^/  train: /' >>"$SUMMARY"
      if [ -d "$SCRATCH/run" ]; then
        (cd "$SCRATCH/run" && find . -maxdepth 1 -type f ! -name '*.safetensors' -print0 | tar --null -czf "$OUTDIR/train.tar.gz" -T -) 2>>"$OUTDIR/train.log"
      fi
      ;;
  esac
done
rm -rf "$SCRATCH"

echo "total: $(( $(date +%s) - T_START )) s" >>"$SUMMARY"
if [ ${#FAILED[@]} -eq 0 ]; then
  echo "all steps passed" >>"$SUMMARY"
  say "all steps passed; outputs in $OUTDIR"
  exit 0
fi
echo "redo: bash kit/gpu/run.sh $([ "$MODE" = cpu ] && echo '--cpu ')${FAILED[*]}" >>"$SUMMARY"
say "failed: ${FAILED[*]}; outputs in $OUTDIR; redo them with: bash kit/gpu/run.sh $([ "$MODE" = cpu ] && echo '--cpu ')${FAILED[*]}"
exit 1
