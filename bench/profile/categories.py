"""CPU time of a perf recording, within a time window, by what the top frame is: matmul libraries, XLA-generated
kernels, kernel, allocator, host language, runtime. Usage: categories.py PERF_DATA START END STEPS CPU_SECONDS."""
import collections
import re
import subprocess
import sys

data, start, end, steps, cpu = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,time,ip,sym,dso", "--time", f"{start},{end}"],
                     capture_output=True, text=True, check=True).stdout


def category(frame):
    if "ynn" in frame or "slinky" in frame:
        return "YNNPACK fusions (dots + fused neighbours)"
    if "xnn_pack" in frame:
        return "XNNPACK weight packing (per dot call)"
    if "xnn_" in frame or "XnnFusion" in frame or "pthreadpool" in frame:
        return "XNNPACK dots"
    if "gemm" in frame or "gebp" in frame or "TensorContraction" in frame:
        return "Eigen dots"
    if "[unknown]" in frame and "perf-" in frame or "[JIT]" in frame:
        return "XLA-generated kernels (loop fusions)"
    if "kernel.kallsyms" in frame:
        return "OS kernel (page faults, scheduling)"
    if re.search(r"malloc|free|_int_|memmove|memcpy|memset|unlink_chunk|memalign", frame):
        return "allocator, memcpy"
    if re.search(r"v8::|Builtins|/node\b|python|libpython", frame):
        return "host language (V8 / CPython)"
    return "runtime (thunk executor, threads, other)"


counts = collections.Counter()
first = False
for line in out.splitlines():
    if not line.strip():
        first = False
        continue
    if not line.startswith((" ", "\t")):
        first = True
        continue
    if first:
        counts[category(line)] += 1
        first = False
total = sum(counts.values()) or 1
for k, v in counts.most_common():
    print(f"  {100 * v / total:5.1f}%  {cpu * v / total / steps:6.3f} CPU-s/step  {k}")
print(f"  {total} samples; {cpu / steps:.3f} CPU-s per step in all")
