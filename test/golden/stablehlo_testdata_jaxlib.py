"""jaxlib's side of the StableHLO test-data measurement in docs/stablehlo.md.

Runs openxla/stablehlo's stablehlo/testdata modules (JAX-lowered, expected values inside, compared by
`stablehlo.custom_call @check.expect_eq / expect_close / expect_almost_eq`) on jaxlib's CPU client, with the
rules `flipc run` applies (programs/mlir_checks.ts): the check calls are taken out of @main, their operands
returned as extra results and compared on the host (expect_close: at most 3 ULP; expect_almost_eq: within 0.001;
non-finite values equal or both NaN).

    test/golden/.venv/bin/python test/golden/stablehlo_testdata_jaxlib.py FILE.mlir... > jaxlib.txt

Prints `PASS file` / `FAIL file: why` per module and a summary, as `flipc run` does for many modules.
"""

import os
import re
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
from jax.extend import backend as jex_backend  # noqa: E402
from jax._src.lib import xla_client as xc  # noqa: E402

MAX_ULP = 3
ALMOST_EQ_TOLERANCE = 0.001

CHECK = re.compile(r"^\s*stablehlo\.custom_call @check\.(\w+)\((%[\w#]+), (%[\w#]+)\)[^:]*: \((.*)\) -> \(\)\s*$")


def split_types(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def strip_checks(text):
    """The module with @main's check calls taken out and their operands returned; and the checks' kinds."""
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if "func.func public @main" in l)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("  }"))
    checks, extra_vals, extra_types, keep = [], [], [], []
    for i in range(start + 1, end):
        m = CHECK.match(lines[i])
        if m:
            checks.append(m.group(1))
            extra_vals += [m.group(2), m.group(3)]
            extra_types += split_types(m.group(4))
        else:
            keep.append(i)
    if not checks:
        return text, []
    ret = next(i for i in range(end - 1, start, -1) if lines[i].strip().startswith("return"))
    m = re.match(r"^(\s*return )(.*) : (.*)$", lines[ret])
    lines[ret] = f"{m.group(1)}{', '.join([m.group(2)] + extra_vals)} : {', '.join([m.group(3)] + extra_types)}"
    sig = lines[start]
    k = sig.rindex(") {")
    lines[start] = sig[:k] + "".join(f", {t}" for t in extra_types) + sig[k:]
    body = [lines[i] for i in keep]
    return "\n".join(lines[: start + 1] + body + lines[end:]), checks


def ordinals(a):
    bits = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    u = a.view(bits).astype(object).ravel()
    sign = 1 << (a.dtype.itemsize * 8 - 1)
    return [-(x & (sign - 1)) if x & sign else x for x in u]


def compare(kind, actual, expected):
    if actual.dtype != expected.dtype or actual.shape != expected.shape:
        return f"types differ: {actual.dtype}{actual.shape} vs {expected.dtype}{expected.shape}"
    if np.issubdtype(actual.dtype, np.complexfloating):
        for part in (np.real, np.imag):
            why = compare(kind, np.ascontiguousarray(part(actual)), np.ascontiguousarray(part(expected)))
            if why:
                return why
        return None
    floating = actual.dtype.kind == "f" or actual.dtype in (ml_dtypes.bfloat16,) or "float8" in str(actual.dtype)
    if not floating:
        bad = np.flatnonzero(actual.ravel() != expected.ravel())
        return f"{len(bad)} of {actual.size} differ" if len(bad) else None
    a = actual.astype(np.float64).ravel()
    e = expected.astype(np.float64).ravel()
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    finite = np.isfinite(a) & np.isfinite(e)
    if kind == "expect_eq":
        ok = same
    elif kind == "expect_almost_eq":
        ok = same | (finite & (np.abs(a - e) <= ALMOST_EQ_TOLERANCE))
    else:
        oa, oe = ordinals(actual), ordinals(expected)
        ulp = np.array([abs(x - y) for x, y in zip(oa, oe)], dtype=object)
        ok = same | (finite & (ulp <= MAX_ULP).astype(bool))
    bad = np.flatnonzero(~ok)
    return f"{len(bad)} of {actual.size} differ" if len(bad) else None


def main(files):
    backend = jex_backend.get_backend("cpu")
    devices = xc.DeviceList(tuple(backend.devices()[:1]))
    passed = failed = 0
    for f in files:
        try:
            text, checks = strip_checks(open(f).read())
            exe = backend.compile_and_load(text, executable_devices=devices, compile_options=xc.CompileOptions())
            outs = [np.asarray(x) for x in exe.execute([])]
            n = len(outs) - 2 * len(checks)
            whys = [compare(k, outs[n + 2 * i], outs[n + 2 * i + 1]) for i, k in enumerate(checks)]
            whys = [w for w in whys if w]
            if whys or not checks:
                failed += 1
                print(f"FAIL {f}: {whys[0] if whys else 'no checks'}")
            else:
                passed += 1
                print(f"PASS {f}")
        except Exception as e:  # noqa: BLE001 - one line per module, whatever went wrong
            failed += 1
            print(f"FAIL {f}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    print(f"{len(files)} modules: {passed} passed their checks, {failed} failed (jax {jax.__version__})")


if __name__ == "__main__":
    main(sys.argv[1:])
