"""The JAX half of `npm run bench`: FLIP's train step in plain JAX, timed as bench/flip_bench.ts times flip's.

The model is models/flip.ts written in jax.numpy, op for op, so that the two systems compute the same thing and a
difference in time is a difference between the compilers, not between two models:
  * patch embedding as patchify + one matmul (the official Conv with stride = window is the same sum);
  * token embedding and the kept-patch selection by gather (`table[ids]`, `take_along_axis`); the official code uses
    one-hot matmuls there (for pjit), which flip does not either;
  * pre-LN encoder blocks (two-pass LayerNorm, eps 1e-6), q/k/v kernels [embed, heads, kv], q / sqrt(kv), softmax,
    tanh-GELU MLP, final LayerNorm; mean of the image tokens, first text token; bias-free projection heads;
  * the contrastive loss without the max shift (as the official one), learnable logit scale clipped to [0, ln 100];
  * AdamW (b1 0.9, b2 0.95, eps 1e-8, weight decay 0.2 except biases, norm scales and position embeddings) and
    the warmup-cosine lr evaluated in the step on the step counter, the gradient norm as a metric; state donated.

Driven by bench/jax_half.ts: `python bench/flip_jax.py PLAN.json`, the plan holding flip's config numbers (its
configs/*.ts as JSON) and what to measure; it then answers one JSON command a line on stdin with one JSON line on
stdout, so that run.ts can interleave the two systems' measurements ("peak" and "steps" start a session, compiled and
warmed up, whose timed runs come one per "rep", summed up by "finish"; several step sessions can be open at once).
Progress lines go to stderr.
"""
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

jax.config.update("jax_threefry_partitionable", False)  # flip's default threefry mode


def log(msg):
    print(f"[jax] {msg}", file=sys.stderr, flush=True)


# ---- the model (models/flip.ts) ------------------------------------------------------------------------------------

def sincos_2d(dim, h, w):
    """dsl/nn/posembed.ts sincos2dTable with the cls row: [1 + h*w, dim]."""
    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    cols = np.tile(np.arange(w), h)
    rows = np.repeat(np.arange(h), w)
    emb = np.concatenate([one_d(dim // 2, cols), one_d(dim // 2, rows)], axis=1)
    return np.concatenate([np.zeros([1, dim]), emb], axis=0).astype(np.float32)


def init_encoder(key, width, t):
    layers = t["numLayers"]
    heads = t["numHeads"]
    kv = width // heads
    mlp = t["mlpDim"]
    keys = iter(jax.random.split(key, layers * 6 + 1))

    def u(shape, fan_in, fan_out, scale=1.0):
        lim = math.sqrt(3 * scale / ((fan_in + fan_out) / 2))
        return jax.random.uniform(next(keys), shape, jnp.float32, -lim, lim)

    ln = lambda: {"scale": jnp.ones([width]), "bias": jnp.zeros([width])}
    blocks = {}
    for l in range(layers):
        proj = lambda: {"kernel": u([width, heads, kv], width, width, 0.5), "bias": jnp.zeros([heads, kv])}
        blocks[f"encoderblock_{l:02d}"] = {
            "LayerNorm_0": ln(),
            "MultiHeadDotProductAttention_0": {
                "query": proj(), "key": proj(), "value": proj(),
                "out": {"kernel": u([heads, kv, width], width, width), "bias": jnp.zeros([width])},
            },
            "LayerNorm_1": ln(),
            "MlpBlock_0": {
                "Dense_0": {"kernel": u([width, mlp], width, mlp), "bias": jnp.zeros([mlp])},
                "Dense_1": {"kernel": u([mlp, width], mlp, width), "bias": jnp.zeros([width])},
            },
        }
    blocks["encoder_norm"] = ln()
    return blocks


def init_params(key, m):
    img, txt, clr = m["img"], m["txt"], m["clr"]
    k = jax.random.split(key, 8)
    p, q = img["patchSize"]
    c, d = img["channels"], img["hiddenSize"]
    gh, gw = img["imageSize"] // p, img["imageSize"] // q
    lim = math.sqrt(3 / ((p * q * c + d) / 2))
    dt = txt["hiddenSize"]
    params = {
        "img_encoder": {
            "embedding": {"kernel": jax.random.uniform(k[0], [p, q, c, d], jnp.float32, -lim, lim), "bias": jnp.zeros([d])},
            "posembed_encoder": {"pos_embedding": jnp.asarray(sincos_2d(d, gh, gw))},
            "cls": 0.02 * jax.random.normal(k[1], [d]),
            "Transformer": init_encoder(k[2], d, img["transformer"]),
        },
        "txt_encoder": {
            "token_embedding": {"embedding": 0.02 * jax.random.normal(k[3], [txt["vocabSize"], dt])},
            "posembed_encoder": {"pos_embedding": 0.02 * jax.random.normal(k[4], [txt["maxLen"], dt])},
            "Transformer": init_encoder(k[5], dt, txt["transformer"]),
        },
        "img_mlp1": {"kernel": jax.random.uniform(k[6], [d, clr["projDimOut"]], jnp.float32, -0.05, 0.05)},
        "txt_mlp1": {"kernel": jax.random.uniform(k[7], [dt, clr["projDimOut"]], jnp.float32, -0.05, 0.05)},
        "logit_scale": jnp.asarray(math.log(1 / 0.07), jnp.float32),
    }
    return params


def layer_norm(p, x, eps=1e-6):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mean
    var = jnp.mean(xc * xc, axis=-1, keepdims=True)
    return xc * lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def attention(p, x, heads):
    kv = x.shape[-1] // heads
    proj = lambda w: jnp.einsum("bld,dhk->blhk", x, w["kernel"]) + w["bias"]
    q = proj(p["query"]) / math.sqrt(kv)
    k = proj(p["key"])
    v = proj(p["value"])
    w = jax.nn.softmax(jnp.einsum("bqhk,bshk->bhqs", q, k), axis=-1)
    y = jnp.einsum("bhqs,bshk->bqhk", w, v)
    return jnp.einsum("bqhk,hkd->bqd", y, p["out"]["kernel"]) + p["out"]["bias"]


def encoder(p, x, t):
    for l in range(t["numLayers"]):
        b = p[f"encoderblock_{l:02d}"]
        x = x + attention(b["MultiHeadDotProductAttention_0"], layer_norm(b["LayerNorm_0"], x), t["numHeads"])
        m = b["MlpBlock_0"]
        y = layer_norm(b["LayerNorm_1"], x)
        y = jax.nn.gelu(y @ m["Dense_0"]["kernel"] + m["Dense_0"]["bias"], approximate=True)
        x = x + (y @ m["Dense_1"]["kernel"] + m["Dense_1"]["bias"])
    return layer_norm(p["encoder_norm"], x)


def patchify(imgs, p, q):
    n, h, w, c = imgs.shape
    x = imgs.reshape(n, h // p, p, w // q, q, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, (h // p) * (w // q), p * q * c)


def encode_images(params, images, rng, cfg):
    p = params["img_encoder"]
    ph, pw = cfg["patchSize"]
    kern = p["embedding"]["kernel"]
    x = patchify(images, ph, pw) @ kern.reshape(-1, kern.shape[-1]) + p["embedding"]["bias"]
    x = x + lax.stop_gradient(p["posembed_encoder"]["pos_embedding"])[1:]
    n, length, d = x.shape
    if cfg["maskRatio"] > 0:
        # models_flip.random_mask: argsort of uniform noise, keep the first int(L (1 - ratio)) of the shuffle.
        keep = int(length * (1 - cfg["maskRatio"]))
        noise = jax.random.uniform(jax.random.fold_in(rng, 0), (n, length))
        ids = jnp.argsort(noise, axis=1)[:, :keep]
        x = jnp.take_along_axis(x, ids[:, :, None], axis=1)
    cls = jnp.broadcast_to(p["cls"], (n, 1, d))
    x = jnp.concatenate([cls, x], axis=1)
    x = encoder(p["Transformer"], x, cfg["transformer"])
    return x.mean(axis=1)


def encode_texts(params, txt, cfg):
    p = params["txt_encoder"]
    x = p["token_embedding"]["embedding"][txt] + p["posembed_encoder"]["pos_embedding"]
    x = encoder(p["Transformer"], x, cfg["transformer"])
    return x[:, 0, :]


def l2_normalize(z):
    return z / (jnp.sqrt(jnp.sum(z * z, axis=-1, keepdims=True)) + 1e-8)


def train_loss(params, batch, rng, m):
    z_img = l2_normalize(encode_images(params, batch["image"], jax.random.fold_in(rng, 0), m["img"]) @ params["img_mlp1"]["kernel"])
    z_txt = l2_normalize(encode_texts(params, batch["txt"], m["txt"]) @ params["txt_mlp1"]["kernel"])
    scale = jnp.exp(jnp.clip(params["logit_scale"], 0, math.log(100)))
    logits = jnp.einsum("nc,mc->nm", z_img, z_txt) * scale
    pos = jnp.sum(z_img * z_txt, axis=-1) * scale
    e = jnp.exp(logits)
    loss01 = -jnp.mean(pos - jnp.log(jnp.sum(e, axis=1)))
    loss10 = -jnp.mean(pos - jnp.log(jnp.sum(e, axis=0)))
    return (loss01 + loss10) / 2, 1 / scale


# ---- the train step (train/step.ts, train/optimizer.ts, train/schedule.ts) -----------------------------------------

def decays(path):
    """train/optimizer.ts decays(): no decay on biases, norm scales, position embeddings (cls is decayed)."""
    leaf, parent = path[-1], path[-2] if len(path) > 1 else ""
    if leaf in ("bias", "scale"):
        return False
    if any("pos_embed" in s or "posembed" in s for s in path):
        return False
    return not ("norm" in parent.lower() or parent.lower().startswith("ln"))


def path_names(path):
    return tuple(getattr(k, "key", str(k)) for k in path)


def learning_rate(s, step):
    """train/schedule.ts learningRateAt, in f32 on the step (its constants exceed int32 for official epoch counts)."""
    peak, warm_lr, alpha = float(s["peakLr"]), float(s["warmupAbsLr"]), float(s["alpha"])
    warm_steps, decay_steps = float(s["warmupSteps"]), float(s["decaySteps"])
    warm = (warm_lr - peak) * (1 - jnp.clip(step, 0, warm_steps) / warm_steps) + peak if warm_steps > 0 else jnp.asarray(peak, jnp.float32)
    count = jnp.minimum(step - warm_steps, decay_steps)
    decayed = (jnp.cos(count * (math.pi / decay_steps)) + 1) * 0.5 * (peak * (1 - alpha)) + peak * alpha
    return jnp.where(step < warm_steps, warm, decayed)


def make_train_step(m, schedule, adamw, seed):
    base = jax.random.split(jax.random.PRNGKey(seed))[1]
    b1, b2, eps, wd = adamw["b1"], adamw["b2"], adamw["eps"], adamw["weight_decay"]

    def train_step(state, batch, step):
        rng = jax.random.fold_in(base, step)
        (loss, tau), grads = jax.value_and_grad(lambda p: train_loss(p, batch, rng, m), has_aux=True)(state["params"])
        t = step.astype(jnp.float32)
        lr = learning_rate(schedule, t)
        count = t + 1
        c1 = 1 - b1 ** count
        c2 = 1 - b2 ** count

        def update(path, p, g, mu, nu):
            mu = b1 * mu + (1 - b1) * g
            nu = b2 * nu + (1 - b2) * g * g
            u = (mu / c1) / (jnp.sqrt(nu / c2) + eps)
            if wd != 0 and decays(path_names(path)):
                u = u + wd * p
            return p - lr * u, mu, nu

        out = jax.tree_util.tree_map_with_path(update, state["params"], grads, state["mu"], state["nu"])
        pick = lambda i: jax.tree_util.tree_map(lambda _, o: o[i], state["params"], out)
        grad_norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
        new = {"params": pick(0), "mu": pick(1), "nu": pick(2)}
        return new, {"loss": loss, "tau": tau, "lr": lr, "gradNorm": grad_norm}

    return train_step


def with_mask(m, ratio):
    out = json.loads(json.dumps(m))
    out["img"]["maskRatio"] = ratio
    return out


def init_state(m, seed):
    params = init_params(jax.random.split(jax.random.PRNGKey(seed))[0], m)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"params": params, "mu": zeros, "nu": jax.tree_util.tree_map(jnp.zeros_like, params)}


def batch_of(m, n, seed=0):
    rng = np.random.default_rng(seed)
    img, txt = m["img"], m["txt"]
    return {
        "image": jnp.asarray(rng.standard_normal((n, img["imageSize"], img["imageSize"], img["channels"]), dtype=np.float32)),
        "txt": jnp.asarray(rng.integers(1, txt["vocabSize"], (n, txt["maxLen"]), dtype=np.int32)),
        "txtIsValid": jnp.ones((n, txt["maxLen"]), jnp.int32),
    }


def batch_shapes(m, n):
    img, txt = m["img"], m["txt"]
    return {
        "image": jax.ShapeDtypeStruct((n, img["imageSize"], img["imageSize"], img["channels"]), jnp.float32),
        "txt": jax.ShapeDtypeStruct((n, txt["maxLen"]), jnp.int32),
        "txtIsValid": jax.ShapeDtypeStruct((n, txt["maxLen"]), jnp.int32),
    }


def write_hlo(hlo_dir, name, text):
    """The optimized HLO for bench/hlo.ts to summarise next to flip's."""
    if not hlo_dir:
        return None
    os.makedirs(hlo_dir, exist_ok=True)
    path = os.path.join(hlo_dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


# ---- other processes' load (bench/quiet.ts's twin) -----------------------------------------------------------------

def machine_busy_seconds():
    try:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
        return (sum(fields) - fields[3] - fields[4]) / 100.0
    except (OSError, IndexError, ValueError):
        return None


def own_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class OtherLoad:
    """Cores other processes keep busy over a window: machine busy time minus this process's, per second."""

    def __init__(self):
        self.machine0, self.own0, self.t0 = machine_busy_seconds(), own_seconds(), time.perf_counter()

    def cores(self):
        m = machine_busy_seconds()
        wall = time.perf_counter() - self.t0
        if m is None or self.machine0 is None or wall <= 0:
            return None
        return max(0.0, (m - self.machine0 - (own_seconds() - self.own0)) / wall)


# ---- measurements --------------------------------------------------------------------------------------------------

def compile_options(opt_level):
    return {} if opt_level is None else {"compiler_options": {"xla_backend_optimization_level": opt_level}}


def timed(run):
    """(rep, value): wall seconds, own CPU seconds and other processes' cores of one call of `run`."""
    other = OtherLoad()
    c0 = own_seconds()
    t0 = time.perf_counter()
    value = run()
    dt = time.perf_counter() - t0
    return {"seconds": dt, "cpuSeconds": own_seconds() - c0, "otherCores": other.cores()}, value


def median_or_none(xs):
    v = [x for x in xs if x is not None]
    return statistics.median(v) if v else None


class StepSession:
    """One mask's train step: compiled and warmed up on creation, one timed step per rep (bench/flip_bench.ts's twin)."""

    def __init__(self, runner, ratio):
        plan = runner.plan
        self.runner, self.ratio = runner, ratio
        m = with_mask(plan["config"]["model"], ratio)
        fn = jax.jit(make_train_step(m, plan["schedule"], plan["adamw"], plan["seed"]), donate_argnums=(0,))
        t0 = time.perf_counter()
        self.compiled = fn.lower(runner.state, runner.batch, jnp.int32(0)).compile(**compile_options(runner.opt_level))
        self.compile_s = time.perf_counter() - t0
        self.hlo = write_hlo(plan.get("hloDir"), f"jax_train_step_mask{ratio}.hlo.txt", self.compiled.as_text())
        self.losses, self.reps = [], []
        for _ in range(plan["warmup"]):
            self.once()

    def once(self):
        r = self.runner
        step = jnp.int32(r.step)
        r.step += 1

        def run():
            r.state, metrics = self.compiled(r.state, r.batch, step)
            return float(metrics["loss"])  # waits for the step, as flip's run awaits its outputs

        rep, loss = timed(run)
        self.losses.append(loss)
        return rep

    def rep(self):
        rep = self.once()
        self.reps.append(rep)
        return rep

    def finish(self):
        cost = self.compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        times = [r["seconds"] for r in self.reps]
        cpus = [r["cpuSeconds"] for r in self.reps]
        busy = statistics.median(cpus) / statistics.median(times)
        log(f"mask {self.ratio}: compiled in {self.compile_s:.1f}s; steps {', '.join(f'{t:.3f}' for t in times)} s ({busy:.2f} cores busy); loss {self.losses[-1]:.4f}")
        return {
            "maskRatio": self.ratio, "compileSeconds": self.compile_s, "stepSeconds": times, "medianStepSeconds": statistics.median(times),
            "cpuSeconds": cpus, "otherCores": [r["otherCores"] for r in self.reps], "losses": self.losses,
            "xlaFlops": float(cost["flops"]) if cost and "flops" in cost else None, "hloFile": self.hlo,
        }


class StepRunner:
    """The plan's train steps: state initialised once and carried from mask to mask, one batch."""

    def __init__(self, plan, opt_level):
        self.plan, self.opt_level = plan, opt_level
        m0 = plan["config"]["model"]
        self.state = init_state(m0, plan["seed"])
        self.batch = batch_of(m0, plan["batchSize"])
        self.step = 0

    def session(self, ratio):
        return StepSession(self, ratio)


def measure_compile(entry, seed, hlo_dir, opt_level):
    m = entry["config"]["model"]
    n = entry["batchSize"]
    step = make_train_step(m, entry["schedule"], entry["adamw"], seed)
    params = jax.eval_shape(lambda: init_params(jax.random.PRNGKey(0), m))
    state = {"params": params, "mu": params, "nu": params}
    fn = jax.jit(step, donate_argnums=(0,))
    other = OtherLoad()
    t0 = time.perf_counter()
    traced = fn.trace(state, batch_shapes(m, n), jax.ShapeDtypeStruct((), jnp.int32))
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile(**compile_options(opt_level))
    t3 = time.perf_counter()
    other_cores = other.cores()
    text = lowered.as_text()
    hlo = write_hlo(hlo_dir, f"jax_compile_{entry['name']}.hlo.txt", compiled.as_text())
    log(f"{entry['name']}: trace {t1 - t0:.2f}s, lower {t2 - t1:.2f}s, compile {t3 - t2:.1f}s")
    return {
        "name": entry["name"], "batchSize": n, "traceSeconds": t1 - t0, "lowerSeconds": t2 - t1, "compileSeconds": t3 - t2,
        "totalSeconds": t3 - t0, "stablehloChars": len(text), "hloFile": hlo, "otherCores": other_cores,
    }


class PeakSession:
    """2 n^3 FLOPs of an n x n by n x n f32 matmul: compiled and run once on creation, one timed matmul per rep."""

    def __init__(self, size, opt_level):
        self.size = size
        self.a = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.float32)
        self.b = jax.random.normal(jax.random.PRNGKey(2), (size, size), jnp.float32)
        self.f = jax.jit(jnp.dot).lower(self.a, self.b).compile(**compile_options(opt_level))
        self.f(self.a, self.b).block_until_ready()
        self.reps = []

    def rep(self):
        rep, _ = timed(lambda: self.f(self.a, self.b).block_until_ready())
        self.reps.append(rep)
        return rep

    def finish(self):
        times = [r["seconds"] for r in self.reps]
        r = {"size": self.size, "seconds": times, "flopsPerSecond": 2 * self.size ** 3 / min(times),
             "otherCores": median_or_none([r["otherCores"] for r in self.reps])}
        log(f"matmul peak {r['flopsPerSecond'] / 1e9:.1f} GFLOP/s ({self.size}x{self.size} f32)")
        return r


def main():
    """Serve bench/jax_half.ts: one JSON command a line on stdin, one JSON answer a line on stdout."""
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    dev = jax.devices()[0]
    want = {"cpu": "cpu", "gpu": "gpu"}[plan.get("platform", "cpu")]
    if dev.platform != want:
        raise SystemExit(f"[jax] wanted the {want} backend but JAX runs on {dev.platform} ({dev.device_kind})")
    try:
        import jaxlib
        jaxlib_version = jaxlib.__version__
    except Exception:  # noqa: BLE001
        jaxlib_version = None
    log(f"jax {jax.__version__} on {dev.platform} ({dev.device_kind})")
    opt_level = plan.get("optLevel")
    runner = None
    compile_entries = {c["name"]: c for c in plan["compile"]}
    sessions = {}
    out = sys.stdout
    sys.stdout = sys.stderr  # anything printed by accident must not break the protocol

    def start(kind, cmd):
        nonlocal runner
        if kind == "peak":
            session = PeakSession(plan["peak"]["size"], opt_level)
        else:
            runner = runner or StepRunner(plan["steps"], opt_level)
            session = runner.session(cmd["mask"])
        sid = len(sessions) + 1
        sessions[sid] = session
        return {"id": sid}

    ops = {
        "info": lambda cmd: {"jax": jax.__version__, "jaxlib": jaxlib_version, "python": platform.python_version(),
                             "device": {"platform": dev.platform, "kind": dev.device_kind}},
        "peak": lambda cmd: start("peak", cmd),
        "steps": lambda cmd: start("steps", cmd),
        "rep": lambda cmd: sessions[cmd["id"]].rep(),
        "finish": lambda cmd: sessions.pop(cmd["id"]).finish(),
        "compile": lambda cmd: measure_compile(compile_entries[cmd["name"]], plan["steps"]["seed"], plan["steps"].get("hloDir"), opt_level),
    }
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        try:
            answer = {"ok": True, "result": ops[cmd["op"]](cmd)}
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
