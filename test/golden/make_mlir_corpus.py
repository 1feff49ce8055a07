"""Writes the StableHLO golden corpus: modules lowered by JAX, with inputs and JAX's outputs.

Run from the repo root:
    python3 -m venv test/golden/.venv && test/golden/.venv/bin/pip install 'jax[cpu]==0.10.2'
    test/golden/.venv/bin/python test/golden/make_mlir_corpus.py [--only interop]
(`--only interop` writes test/fixtures/mlir/interop/ alone: see interop_corpus.)
Writes test/fixtures/mlir/<name>.mlir and <name>.safetensors (tensors `input.N`, `output.N`) and
the versions into test/fixtures/mlir/README.md. The outputs are committed so CI needs no Python.
"""

import json
import os
import struct
import sys

# Eight host devices for the sharded modules; must be set before jax is imported.
os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "mlir")

DTYPES = {
    np.dtype(np.float32): "F32",
    np.dtype(np.float64): "F64",
    np.dtype(np.float16): "F16",
    np.dtype(ml_dtypes.bfloat16): "BF16",
    np.dtype(np.int32): "I32",
    np.dtype(np.int64): "I64",
    np.dtype(np.uint32): "U32",
    np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.int8): "I8",
    np.dtype(np.int16): "I16",
    np.dtype(np.uint16): "U16",
    np.dtype(np.complex64): "C64",
    np.dtype(np.uint64): "U64",
    np.dtype(ml_dtypes.float8_e4m3fn): "F8_E4M3",
    np.dtype(ml_dtypes.float8_e5m2): "F8_E5M2",
    np.dtype(ml_dtypes.float8_e4m3fnuz): "F8_E4M3FNUZ",
    np.dtype(ml_dtypes.float8_e5m2fnuz): "F8_E5M2FNUZ",
    np.dtype(ml_dtypes.float8_e8m0fnu): "F8_E8M0",
}


def write_safetensors(path, tensors):
    """The safetensors layout: u64 LE header size, JSON header, then the raw little-endian bytes."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.array(arr, order="C", copy=True)  # keeps 0-d arrays 0-d (ascontiguousarray would not)
        data = arr.tobytes()
        header[name] = {"dtype": DTYPES[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def emit(name, fn, args, *, debug_info=False, out=OUT):
    lowered = jax.jit(fn).lower(*args) if not hasattr(fn, "lower") else fn.lower(*args)
    text = lowered.as_text(debug_info=debug_info)
    outs = fn(*args)
    outs = jax.tree_util.tree_leaves(outs)
    with open(os.path.join(out, name + ".mlir"), "w") as f:
        f.write(text)
    tensors = {f"input.{i}": np.asarray(a) for i, a in enumerate(args)}
    tensors.update({f"output.{i}": np.asarray(o) for i, o in enumerate(outs)})
    write_safetensors(os.path.join(out, name + ".safetensors"), tensors)
    print(f"{name}: {len(text)} chars, {len(args)} inputs, {len(outs)} outputs")


def normal(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def gelu(x):
    return jax.nn.gelu(x, approximate=True)


def layer_norm(x, g, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + 1e-6) * g + b


def attention(x, wqkv, wo, heads):
    b, t, d = x.shape
    qkv = x @ wqkv
    q, k, v = jnp.split(qkv, 3, axis=-1)
    split = lambda a: a.reshape(b, t, heads, d // heads)
    q, k, v = split(q), split(k), split(v)
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d // heads).astype(np.float32)
    probs = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, t, d)
    return out @ wo


def block(x, p, heads):
    h = x + attention(layer_norm(x, p["ln1_g"], p["ln1_b"]), p["wqkv"], p["wo"], heads)
    y = layer_norm(h, p["ln2_g"], p["ln2_b"])
    # The MLP runs its first matmul in bf16, as mixed-precision training does.
    y = (y.astype(jnp.bfloat16) @ p["w1"].astype(jnp.bfloat16)).astype(jnp.float32)
    return h + gelu(y) @ p["w2"]


def block_params(rng, d, mlp):
    return {
        "ln1_g": 1 + normal(rng, d, scale=0.1), "ln1_b": normal(rng, d, scale=0.1),
        "wqkv": normal(rng, d, 3 * d, scale=d ** -0.5), "wo": normal(rng, d, d, scale=d ** -0.5),
        "ln2_g": 1 + normal(rng, d, scale=0.1), "ln2_b": normal(rng, d, scale=0.1),
        "w1": normal(rng, d, mlp, scale=d ** -0.5), "w2": normal(rng, mlp, d, scale=mlp ** -0.5),
    }


def flat(p):
    keys = sorted(p)
    return keys, [p[k] for k in keys]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.RandomState(0)

    # 1. MLP with biases and a tanh-GELU, with source locations.
    x = normal(rng, 4, 8)
    w1, b1, w2, b2 = normal(rng, 8, 16, scale=0.3), normal(rng, 16), normal(rng, 16, 4, scale=0.3), normal(rng, 4)
    emit("mlp", lambda x, w1, b1, w2, b2: gelu(x @ w1 + b1) @ w2 + b2, [x, w1, b1, w2, b2], debug_info=True)

    # 2. Pre-LN transformer block: layer norm, 2-head attention with softmax, bf16 MLP matmul.
    keys, vals = flat(block_params(rng, 16, 32))
    xb = normal(rng, 2, 8, 16)
    emit("transformer_block", lambda x, *ps: block(x, dict(zip(keys, ps)), 2), [xb, *vals])

    # 3. ViT forward: patchify by a strided convolution, class token, position embeddings, one block, head.
    img = normal(rng, 2, 16, 16, 3)
    conv_w = normal(rng, 4, 4, 3, 16, scale=0.2)
    cls = normal(rng, 1, 1, 16, scale=0.1)
    pos = normal(rng, 1, 17, 16, scale=0.1)
    head = normal(rng, 16, 10, scale=0.25)
    bkeys, bvals = flat(block_params(rng, 16, 32))

    def vit(img, conv_w, cls, pos, head, *bp):
        p = jax.lax.conv_general_dilated(img, conv_w, (4, 4), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        tokens = p.reshape(img.shape[0], -1, 16)
        tokens = jnp.concatenate([jnp.broadcast_to(cls, (img.shape[0], 1, 16)), tokens], axis=1) + pos
        tokens = block(tokens, dict(zip(bkeys, bp)), 2)
        return tokens[:, 0] @ head

    emit("vit_forward", vit, [img, conv_w, cls, pos, head, *bvals])

    # 4. FLIP-style loss with grads: random masking (argsort of noise, keep 25%), mean-pooled towers,
    #    L2-normalized embeddings, symmetric InfoNCE with a learned temperature; value_and_grad.
    patches = normal(rng, 4, 16, 12)
    noise = rng.uniform(size=(4, 16)).astype(np.float32)
    tokens = rng.randint(0, 20, size=(4, 6)).astype(np.int32)
    w_img = normal(rng, 12, 8, scale=0.3)
    embed = normal(rng, 20, 8, scale=0.3)
    w_txt = normal(rng, 8, 8, scale=0.3)
    logit_scale = np.array(np.log(1 / 0.07), dtype=np.float32)

    def flip_loss(w_img, embed, w_txt, logit_scale, patches, noise, tokens):
        keep = patches.shape[1] // 4
        ids = jnp.argsort(noise, axis=1)[:, :keep]
        kept = jnp.take_along_axis(patches, ids[:, :, None], axis=1)
        zi = kept.mean(1) @ w_img
        zt = embed[tokens].mean(1) @ w_txt
        zi = zi / jnp.linalg.norm(zi, axis=-1, keepdims=True)
        zt = zt / jnp.linalg.norm(zt, axis=-1, keepdims=True)
        logits = jnp.exp(logit_scale) * zi @ zt.T
        labels = jnp.arange(logits.shape[0])
        li = -jnp.take_along_axis(jax.nn.log_softmax(logits, 1), labels[:, None], 1).mean()
        lt = -jnp.take_along_axis(jax.nn.log_softmax(logits, 0), labels[None, :], 0).mean()
        return (li + lt) / 2

    emit("flip_loss_grad", jax.value_and_grad(flip_loss, argnums=(0, 1, 2, 3)),
         [w_img, embed, w_txt, logit_scale, patches, noise, tokens])

    # 5. A sharded MLP over a 4x2 (data, model) mesh of 8 host devices: GSPMD and Shardy spellings.
    devices = np.array(jax.devices()[:8]).reshape(4, 2)
    mesh = Mesh(devices, ("data", "model"))
    xs = normal(rng, 8, 16)
    ws1 = normal(rng, 16, 32, scale=0.25)
    ws2 = normal(rng, 32, 16, scale=0.2)

    def sharded_mlp(x, w1, w2):
        h = gelu(x @ w1)
        h = jax.lax.with_sharding_constraint(h, NamedSharding(mesh, P("data", "model")))
        return jnp.sum(h @ w2, axis=1)

    shard = lambda *spec: NamedSharding(mesh, P(*spec))
    in_sh = (shard("data", None), shard(None, "model"), shard("model", None))
    shardy = jax.config.jax_use_shardy_partitioner
    for use_shardy, name in ((False, "sharded_mlp_gspmd"), (True, "sharded_mlp_shardy")):
        jax.config.update("jax_use_shardy_partitioner", use_shardy)
        emit(name, jax.jit(sharded_mlp, in_shardings=in_sh, out_shardings=shard("data")), [xs, ws1, ws2])
    jax.config.update("jax_use_shardy_partitioner", shardy)

    syntax_corpus(mesh)
    interop_corpus()

    import jaxlib
    versions = {"python": sys.version.split()[0], "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                "numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__}
    write_readme(versions)


def syntax_corpus(mesh):
    """More of JAX's spellings (control flow, collectives, shard_map, custom calls): parsed and verified (test/mlir/sharding.test.ts runs the shard_map ones)."""
    from jax import shard_map
    out = os.path.join(OUT, "jax-extra")
    os.makedirs(out, exist_ok=True)

    def w(name, f, *args, **kw):
        with open(os.path.join(out, name + ".mlir"), "w") as fh:
            fh.write(jax.jit(f, **kw).lower(*args).as_text())

    x = jnp.ones((8, 4), jnp.float32)
    w("cond", lambda p, x: jax.lax.cond(p, lambda x: x * 2, lambda x: x - 1, x), True, x)
    w("switch", lambda i, x: jax.lax.switch(i, [lambda x: x, lambda x: x * 2, jnp.sin], x), 1, x)
    w("scan", lambda x: jax.lax.scan(lambda c, y: (c + y, c * y), jnp.zeros(4), x), x)
    w("cumsum_reduce_window", lambda x: (jnp.cumsum(x, 0), jax.lax.reduce_window(x, 0., jax.lax.add, (2, 2), (1, 1), "SAME")), x)
    w("remat", jax.grad(lambda x: jnp.sum(jax.checkpoint(lambda y: jnp.sin(y) * y)(x))), x)
    w("rbg", lambda k: jax.random.uniform(k, (3,)), jax.random.key(0, impl="rbg"))
    w("topk", lambda x: jax.lax.top_k(x, 2), x)
    w("dus", lambda x, u, i: jax.lax.dynamic_update_slice(x, u, (i, 0)), x, jnp.ones((2, 4)), 3)
    w("donate", lambda x: x + 1, x, donate_argnums=0)
    w("conv_transpose", lambda x, k: jax.lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")),
      jnp.ones((1, 4, 4, 3)), jnp.ones((3, 3, 3, 5)))
    w("select_and_scatter", jax.grad(lambda x: jnp.sum(jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (2, 2), (2, 2), "VALID"))), x)
    w("fft", lambda x: jnp.fft.fft(x).real, x)
    w("int_ops", lambda a, b: (a // b, a % b, a >> 1, jnp.clip(a, 0, 3), jnp.sign(a), a.astype(jnp.uint8)),
      jnp.arange(8, dtype=jnp.int32), jnp.full((8,), 3, jnp.int32))
    w("f16", lambda a: (a * 2).astype(jnp.float16), np.ones(3, np.float32))
    w("sort_multi", lambda a, b: jax.lax.sort((a, b), num_keys=1), x, x.astype(jnp.int32))
    shardy = jax.config.jax_use_shardy_partitioner
    for use_shardy, tag in ((True, "sdy"), (False, "gspmd")):
        jax.config.update("jax_use_shardy_partitioner", use_shardy)
        w(f"shard_map_psum_{tag}", lambda x: shard_map(lambda y: jax.lax.psum(y, "data"), mesh=mesh, in_specs=P("data", None),
                                                      out_specs=P(None, None), check_vma=False)(x), x)
        w(f"shard_map_all_gather_{tag}", lambda x: shard_map(lambda y: jax.lax.all_gather(y, "data", tiled=True), mesh=mesh,
                                                             in_specs=P("data"), out_specs=P(), check_vma=False)(x), x)
    jax.config.update("jax_use_shardy_partitioner", shardy)


F8 = [ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fnuz, ml_dtypes.float8_e5m2fnuz, ml_dtypes.float8_e8m0fnu]


def testdata_module(path, fn, args, kind, *, perturb=0.0):
    """A module in the form of openxla/stablehlo's stablehlo/testdata: @main takes nothing, computes fn on constant
    inputs (JAX lowers them into the module) and compares the result with JAX's value through
    `stablehlo.custom_call @check.<kind>(%result, %expected)`. `perturb` shifts the expected value (a failing check)."""
    text = jax.jit(lambda: fn(*args)).lower().as_text()
    expected = np.asarray(fn(*args))
    if perturb:
        expected = (expected.astype(np.float64) + perturb).astype(expected.dtype)
    lines = text.split("\n")
    at = next(i for i, l in enumerate(lines) if l.strip().startswith("return ") and i > next(
        j for j, m in enumerate(lines) if "func.func public @main" in m))
    value, ty = lines[at].strip()[len("return "):].split(" : ")
    hexbytes = expected.tobytes().hex().upper()
    lines[at:at] = [
        f'    %expected = stablehlo.constant dense<"0x{hexbytes}"> : {ty}',
        f"    stablehlo.custom_call @check.{kind}({value}, %expected) {{has_side_effect = true}} : ({ty}, {ty}) -> ()",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def interop_corpus():
    """test/fixtures/mlir/interop/: what other frameworks hand `flipc run`. dtypes.mlir takes and returns every
    byte-sized type safetensors carries (i8, i16, u16, u64, the five 8-bit floats); complex.mlir complex64 and
    complex128 (complex_fixtures); chlo_binary.mlir has
    chlo.next_after / polygamma / zeta in their `T, T -> T` form; f8_values.safetensors the 8-bit floats' 256 bit
    patterns and their values as float64 (ml_dtypes); testdata/ modules in stablehlo/testdata's form (check.* calls)."""
    out = os.path.join(OUT, "interop")
    os.makedirs(os.path.join(out, "testdata"), exist_ok=True)
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    f32 = np.float32

    def dtypes(i8, i16, u16, u64, *f8s):
        return (i8 * 3 - 1, i16 * i16, u16 + u16, u64 * 3 + 1, *[(x.astype(f32) * 2).astype(x.dtype) for x in f8s])

    i8 = np.array([-128, -1, 0, 42, 127], np.int8)
    i16 = np.array([-300, -1, 0, 181, 255], np.int16)
    u16 = np.array([0, 1, 1000, 32767, 65535], np.uint16)
    u64 = np.array([0, 1, 2**40, 2**62, 2**64 - 1], np.uint64)
    vals = np.array([0.5, -1.25, 3.0, 0.0625, 100.0], f32)
    f8s = [np.abs(vals).astype(t) if t == ml_dtypes.float8_e8m0fnu else vals.astype(t) for t in F8]
    emit("dtypes", dtypes, [i8, i16, u16, u64, *f8s], out=out)

    a = np.array([0.5, 1.5, 2.0, -3.0], f32)
    b = np.array([1.0, 1.0, 3.0, -3.5], f32)
    emit("chlo_binary", lambda a, b: (jax.lax.nextafter(a, b), jax.lax.polygamma(jnp.array([1.0, 2.0, 1.0, 3.0], f32), jnp.abs(b)),
                                      jax.lax.zeta(jnp.abs(b) + 1, jnp.abs(a))), [a, b], out=out)

    bits = np.arange(256, dtype=np.uint8)
    tensors = {"bits": bits}
    for t in F8:
        tensors[np.dtype(t).name] = bits.view(t).astype(np.float64)
    write_safetensors(os.path.join(out, "f8_values.safetensors"), tensors)

    td = os.path.join(out, "testdata")
    x = np.linspace(-3, 3, 12, dtype=f32).reshape(3, 4)
    testdata_module(os.path.join(td, "sin_float32_3_4.mlir"), jnp.sin, [x], "expect_close")
    testdata_module(os.path.join(td, "nextafter_float32_3_4_chlo.mlir"), jax.lax.nextafter, [x, x[::-1]], "expect_close")
    testdata_module(os.path.join(td, "mul_int8_3_4.mlir"), lambda v: v * np.int8(3), [np.arange(12, dtype=np.int8).reshape(3, 4)], "expect_eq")
    testdata_module(os.path.join(td, "add_uint64_4.mlir"), lambda v: v + np.uint64(2**63), [np.arange(4, dtype=np.uint64)], "expect_eq")
    testdata_module(os.path.join(td, "exp_float16_3_4.mlir"), jnp.exp, [x.astype(np.float16)], "expect_almost_eq")
    # Its expected values are JAX's plus 0.01: the check fails.
    testdata_module(os.path.join(td, "wrong_cos_float32_3_4.mlir"), jnp.cos, [x], "expect_close", perturb=0.01)
    complex_fixtures(out, td)
    jax.config.update("jax_enable_x64", x64)
    print(f"interop: {len(os.listdir(out))} files, testdata/: {len(os.listdir(td))} modules")


def complex_fixtures(out, td):
    """complex.mlir: complex64 arguments and results, a complex constant, stablehlo.complex / real / imag, and a
    complex128 result made from float64 parts. complex.safetensors is written by the safetensors library itself
    (safetensors.numpy, which has C64 and no complex128): the inputs and the complex64 results as C64; the complex128
    result as its float64 view, shape [..., 2] (real, imaginary), the bytes flip's host array holds. Only exact
    arithmetic (add, multiply, negate, parts): the values are XLA's bit for bit on any CPU. testdata/ gets complex64
    and complex128 modules with JAX's complex constants in the `dense<[(re,im), ...]>` form."""
    from safetensors.numpy import save_file
    c64, c128 = np.complex64, np.complex128

    def cplx(z, w, re, im):
        k = jnp.array([1 + 2j, -0.5 + 0.25j, 3 - 1j, 1j], c64)  # a complex constant in the module
        c = jax.lax.complex(re, im)  # complex128 from two float64s
        return z * w + k, jnp.real(z), jnp.imag(w), -jnp.conj(z), c * c + c128(1 - 1j)

    z = np.array([1 + 1j, -2.5 + 0.5j, 0.125 - 3j, 4 + 0j], c64)
    w = np.array([0.5 - 2j, 1 + 1j, -1 - 1j, 0 + 2j], c64)
    re = np.array([1.5, -0.25, 3.0], np.float64)
    im = np.array([-2.0, 0.5, 1e-3], np.float64)
    text = jax.jit(cplx).lower(z, w, re, im).as_text()
    with open(os.path.join(out, "complex.mlir"), "w") as f:
        f.write(text)
    outs = [np.asarray(o) for o in cplx(z, w, re, im)]
    assert outs[4].dtype == c128
    tensors = {f"input.{i}": a for i, a in enumerate([z, w, re, im])}
    tensors.update({f"output.{i}": o for i, o in enumerate(outs[:4])})
    tensors["output.4"] = np.ascontiguousarray(outs[4]).view(np.float64).reshape(*outs[4].shape, 2)
    save_file(tensors, os.path.join(out, "complex.safetensors"))
    print(f"complex: {len(text)} chars, 4 inputs, {len(outs)} outputs")

    zz = (np.arange(12, dtype=np.float32).reshape(3, 4) * (0.5 - 0.25j)).astype(c64)
    testdata_module(os.path.join(td, "mul_complex64_3_4.mlir"), lambda v: v * c64(2 - 1j) + c64(0.5j), [zz], "expect_close")
    testdata_module(os.path.join(td, "real_imag_complex128_3.mlir"), lambda v: jax.lax.complex(jnp.imag(v), jnp.real(v) * 2),
                    [np.array([1 + 2j, -3.5 + 0j, 1e-300 - 7j], c128)], "expect_eq")


def write_readme(versions):
    lines = [
        "# StableHLO golden corpus",
        "",
        "Written by `test/golden/make_mlir_corpus.py` (see its docstring for how to run it); do not edit by hand.",
        "Each `<name>.mlir` is `jax.jit(f).lower(...).as_text()`; `<name>.safetensors` holds the inputs",
        "(`input.0`, `input.1`, ...) in the order of `@main`'s parameters and JAX's outputs (`output.0`, ...)",
        "in the order of its results. `mlp.mlir` carries source locations (`debug_info=True`).",
        "The sharded modules use a 4x2 (data, model) mesh of 8 host devices",
        "(`XLA_FLAGS=--xla_force_host_platform_device_count=8`): `sharded_mlp_gspmd` with `mhlo.sharding`,",
        "`sharded_mlp_shardy` with `sdy` annotations. Their outputs are the full (unsharded) arrays.",
        "",
        "`jax-examples/` holds copies of the per-op reference files (StableHLO as JAX 0.10.2 lowers them);",
        "`jax-extra/` more of JAX's spellings (cond/switch/scan, reduce_window, select_and_scatter, top_k, fft,",
        "rng_bit_generator, shard_map with psum/all_gather in both sharding dialects): parsed and verified (the shard_map ones also run: test/mlir/sharding.test.ts).",
        "`interop/` (`--only interop`): every byte-sized dtype safetensors carries, complex64/complex128, CHLO's binary ops, the 8-bit floats'",
        "values, and `testdata/` modules in openxla/stablehlo's stablehlo/testdata form (check.* custom calls).",
        "",
        "Versions:",
        "",
    ]
    lines += [f"- {k} {v}" for k, v in versions.items()]
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--only", "interop"]:
        interop_corpus()
    elif sys.argv[1:]:
        sys.exit("usage: make_mlir_corpus.py [--only interop]")
    else:
        main()
