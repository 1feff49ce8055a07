// The flip half of `npm run bench`: on one PJRT client, the train step of a plan's model at each mask ratio (built by
// train/step.ts's optimizerStep and compiled by train/compiled.ts's compileFunction, as `flip run` does), the time from
// a model function to a ready executable for bigger models, an f32 matmul's FLOP rate, and the input pipeline's
// images/s (train/data's measureThroughput). The JAX half (flip_jax.py) measures the same things the same way.
//
// Repeated measurements (matmul, train steps) are sessions: `start` compiles and warms up, each `rep` times one run,
// `finish` sums up. run.ts alternates flip's reps with JAX's, so that other work on a shared machine falls on both.
import { optimizedHlo } from '../programs/inspect.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dot, spec, type Tensor } from '../dsl/index.ts';
import type { Buffer, Client } from '../runtime-native/index.ts';
import { measureThroughput, type ThroughputReport } from '../train/data/throughput.ts';
import { writeSynthDataset } from '../train/data/synth.ts';
import { compileFunction, type CompiledFunction } from '../train/compiled.ts';
import { batchSpecs, initState, stateSpecs, stepSpec, optimizerStep } from '../train/step.ts';
import { irDotFlops, trainStepFlops } from './flops.ts';
import { summarizeHlo, type HloSummary } from './hlo.ts';
import { withMask, type BenchPlan, type StepDType, type StepModel } from './plan.ts';
import { lower } from '../compiler/lower/index.ts';
import { CompileCache } from '../programs/cache.ts';
import { loadProgram } from '../programs/compile.ts';
import { rmSync } from 'node:fs';
import { OtherLoad } from './quiet.ts';

/** One timed run of a session. */
export interface Rep {
  seconds: number;
  /** Process CPU time (all threads) of the run. */
  cpuSeconds: number;
  /** Cores other processes kept busy during the run (null off Linux). */
  otherCores: number | null;
}

/** A repeated measurement, one timed run per `rep()`. */
export interface Session<R> {
  rep(): Promise<Rep>;
  finish(): R;
}

export interface PeakResult {
  size: number;
  /** Seconds of each timed matmul. */
  seconds: number[];
  /** 2·size³ / the fastest run. */
  flopsPerSecond: number;
  /** Cores other processes kept busy meanwhile (median over the runs; null off Linux). */
  otherCores: number | null;
}

export interface StepResult {
  maskRatio: number;
  /** `model.dtype` of the step (absent in results written before it existed: float32). */
  dtype?: StepDType;
  /** Trace + passes + lower + XLA compile of this mask's train step. */
  compileSeconds: number;
  /** Each timed step (after the warm-up), dispatch to outputs ready. */
  stepSeconds: number[];
  medianStepSeconds: number;
  /** Process CPU time (all threads) of each timed step: with the wall time, how many cores the step kept busy. */
  cpuSeconds: number[];
  /** Cores other processes kept busy during each timed step (null off Linux). */
  otherCores: (number | null)[];
  /** Losses of every step run (warm-up included): a sanity check that both systems train the same thing. */
  losses: number[];
  /** Matmul FLOPs of the step by formula (bench/flops.ts) and as read off the traced IR. */
  modelFlops: number;
  irDotFlops: number;
  /** XLA's cost analysis of the compiled step ("flops"), where the plugin reports it. */
  xlaFlops: number | null;
  hlo: HloSummary;
}

export interface CompileResult {
  name: string;
  batchSize: number;
  /** Tracing the step (autodiff included: valueAndGrad runs its VJP pass inside the trace) and simplify. */
  traceSeconds: number;
  /** IR → StableHLO text. */
  lowerSeconds: number;
  /** PJRT_Client_Compile: XLA parses the text, optimizes and generates code. */
  compileSeconds: number;
  totalSeconds: number;
  stablehloChars: number;
  irOps: number;
  hlo: HloSummary;
  otherCores: number | null;
}

export interface PipelineResult extends ThroughputReport {
  sourceSize: number;
  otherCores: number | null;
}

/** The same train step compiled twice through an empty persistent compilation cache (programs/cache.ts). */
export interface CachedCompileResult {
  name: string;
  batchSize: number;
  /** Model function → executable with XLA compiling (and the cache storing the executable). */
  firstSeconds: number;
  /** The second time: trace and lower again, then the executable loaded from the cache (XLA's compile skipped). */
  cachedSeconds: number;
  /** Whether the second executable really came from the cache. */
  loaded: boolean;
}

export interface FlipHalfResult {
  platform: { name: string; version: string; plugin: string; pluginVersion: string | null; devices: number; deviceKind: string };
  peak: PeakResult;
  steps: StepResult[];
  compile: CompileResult[];
  cachedCompile?: CachedCompileResult;
  pipeline: PipelineResult;
  /** Seconds spent waiting for other processes to go quiet. */
  waitedSeconds: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const medianOrNull = (xs: readonly (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? median(v) : null;
};

/** Time `run` (wall, own CPU, other processes' cores). */
async function timed<T>(run: () => Promise<T>): Promise<[Rep, T]> {
  const other = new OtherLoad();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  return [{ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, otherCores: other.cores() }, value];
}

/** compileFunction with its phases as it reports them (CompiledFunction.phases: tracing, lowering, XLA's compile). */
async function compileTimed(fn: (...args: never[]) => unknown, specs: readonly unknown[], client: Client, name: string, donate: readonly number[], optLevel?: number) {
  client.clearCache(); // a compile, not a cache hit
  const t0 = performance.now();
  const compiled = await compileFunction(fn, specs, { client, name, donate, ...(optLevel !== undefined ? { optLevel } : {}) });
  const { traceSeconds, lowerSeconds, xlaSeconds } = compiled.phases;
  return { compiled, traceSeconds, lowerSeconds, compileSeconds: xlaSeconds, totalSeconds: (performance.now() - t0) / 1000 };
}

/** 2·n³ FLOPs of an n×n by n×n f32 matmul through the client's plugin; compiled and run once before the reps. */
export async function peakSession(client: Client, size: number, optLevel?: number): Promise<Session<PeakResult>> {
  const f = await compileFunction(
    (a: Tensor<'f32', readonly ['m', 'k']>, b: Tensor<'f32', readonly ['k', 'n']>) => dot(a, b, { contract: ['k'] }),
    [spec('f32', { m: size, k: size }), spec('f32', { k: size, n: size })], { client, name: 'matmul', ...(optLevel !== undefined ? { optLevel } : {}) },
  );
  const fill = () => {
    const x = new Float32Array(size * size);
    for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
    return client.toDevice(x, [size, size], 'f32');
  };
  const a = fill(), b = fill();
  const once = () => timed(async () => {
    const out = (await f.run([a, b])) as Buffer;
    await out.ready();
    out.dispose();
  });
  await once();
  const reps: Rep[] = [];
  return {
    async rep() {
      const [r] = await once();
      reps.push(r);
      return r;
    },
    finish() {
      a.dispose();
      b.dispose();
      f.executable.dispose();
      const seconds = reps.map((r) => r.seconds);
      return { size, seconds, flopsPerSecond: (2 * size ** 3) / Math.min(...seconds), otherCores: medianOrNull(reps.map((r) => r.otherCores)) };
    },
  };
}

/** A batch of the model's input shapes on the device: normal-ish pixels, token ids in [1, vocab), all valid. */
export function deviceBatch(client: Client, m: StepModel): { image: Buffer; txt: Buffer; txtIsValid: Buffer } {
  const { img, txt } = m.config.model;
  const n = m.batchSize;
  const pixels = new Float32Array(n * img.imageSize * img.imageSize * img.channels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.37) * 1.5;
  const ids = new Int32Array(n * txt.maxLen);
  for (let i = 0; i < ids.length; i++) ids[i] = 1 + ((i * 7919) % (txt.vocabSize - 1));
  return {
    image: client.toDevice(pixels, [n, img.imageSize, img.imageSize, img.channels], 'f32'),
    txt: client.toDevice(ids, [n, txt.maxLen], 'i32'),
    txtIsValid: client.toDevice(new Int32Array(n * txt.maxLen).fill(1), [n, txt.maxLen], 'i32'),
  };
}

export function buildStep(m: StepModel, seed: number) {
  const o = m.config.train.optimizer;
  return optimizerStep({ model: m.config.model, schedule: m.schedule, adamw: m.adamw, excludeWd: o.excludeWd, seed });
}

/**
 * The plan's train steps, one mask at a time: a state initialised once and carried from mask to mask, one batch.
 * `session(mask)` compiles the mask's step and runs the warm-up steps; each rep is one timed step.
 */
export class StepRunner {
  #state: unknown = null;
  #batch: ReturnType<typeof deviceBatch> | null = null;
  #step = 0;
  constructor(readonly client: Client, readonly plan: BenchPlan, readonly o: { log: (s: string) => void; hloDir?: string }) {}

  async session(maskRatio: number, dtype: StepDType = 'float32'): Promise<Session<StepResult>> {
    const { client, plan, o } = this;
    const s = plan.steps;
    if (this.#state === null) {
      // Run once, not timed: XLA's quickest compile.
      const init = await compileFunction(() => initState(s.seed, s.config.model), [], { client, name: 'init_state', optLevel: 0 });
      this.#state = await init.run([]);
      init.executable.dispose();
      this.#batch = deviceBatch(client, s);
    }
    const m: StepModel = { ...s, config: withMask(s.config, maskRatio, dtype) };
    const { compiled, totalSeconds } = await compileTimed(
      buildStep(m, s.seed), [stateSpecs(m.config.model), batchSpecs(m.config.model, m.batchSize), stepSpec()], client, 'train_step', [0], plan.optLevel,
    );
    const hloText = optimizedHlo(compiled.executable);
    if (o.hloDir) {
      mkdirSync(o.hloDir, { recursive: true });
      writeFileSync(path.join(o.hloDir, `flip_train_step_mask${maskRatio}${dtype === 'bfloat16' ? '_bf16' : ''}.hlo.txt`), hloText);
    }
    const losses: number[] = [];
    const once = () => timed(async () => {
      const step = client.toDevice(new Int32Array([this.#step++]), [], 'i32');
      const [next, metrics] = (await compiled.run([this.#state, this.#batch, step])) as [unknown, { loss: Buffer }];
      this.#state = next;
      losses.push((await metrics.loss.toHost())[0] as number);
    });
    for (let i = 0; i < s.warmup; i++) await once();
    const reps: Rep[] = [];
    return {
      async rep() {
        const [r] = await once();
        reps.push(r);
        return r;
      },
      finish() {
        const cost = compiled.executable.costAnalysis();
        const stepSeconds = reps.map((r) => r.seconds), cpuSeconds = reps.map((r) => r.cpuSeconds);
        const r: StepResult = {
          maskRatio, dtype, compileSeconds: totalSeconds, stepSeconds, medianStepSeconds: median(stepSeconds), cpuSeconds,
          otherCores: reps.map((x) => x.otherCores), losses,
          modelFlops: trainStepFlops(m.config.model, m.batchSize).train, irDotFlops: irDotFlops(compiled.func),
          xlaFlops: typeof cost?.flops === 'number' ? cost.flops : null, hlo: summarizeHlo(hloText),
        };
        o.log(`mask ${maskRatio}${dtype === 'bfloat16' ? ' bf16' : ''}: compiled in ${totalSeconds.toFixed(1)}s; steps ${stepSeconds.map((t) => t.toFixed(3)).join(', ')} s ` +
          `(${(median(cpuSeconds) / r.medianStepSeconds).toFixed(2)} cores busy); loss ${losses.at(-1)!.toFixed(4)}`);
        compiled.executable.dispose();
        return r;
      },
    };
  }
}

/** Trace + passes + lower + compile of a model's train step (no execution). */
export async function measureCompile(client: Client, m: StepModel, seed: number, o: { optLevel?: number; hloDir?: string } = {}): Promise<CompileResult> {
  const other = new OtherLoad();
  const r = await compileTimed(buildStep(m, seed), [stateSpecs(m.config.model), batchSpecs(m.config.model, m.batchSize), stepSpec()], client, 'train_step', [0], o.optLevel);
  const c: CompiledFunction = r.compiled;
  const otherCores = other.cores();
  const hlo = optimizedHlo(c.executable);
  if (o.hloDir) {
    mkdirSync(o.hloDir, { recursive: true });
    writeFileSync(path.join(o.hloDir, `flip_compile_${m.name}.hlo.txt`), hlo);
    writeFileSync(path.join(o.hloDir, `flip_compile_${m.name}.mlir`), c.mlir);
  }
  const out: CompileResult = {
    name: m.name, batchSize: m.batchSize, traceSeconds: r.traceSeconds, lowerSeconds: r.lowerSeconds, compileSeconds: r.compileSeconds,
    totalSeconds: r.totalSeconds, stablehloChars: c.mlir.length, irOps: c.func.ops.length, hlo: summarizeHlo(hlo), otherCores,
  };
  c.executable.dispose();
  return out;
}

/**
 * The cached-compile figure: `m`'s train step compiled from its model function twice through a fresh, empty
 * persistent compilation cache in `dir` (what a second `flip run` of a config does): the first compile runs XLA and
 * stores the executable, the second traces and lowers again and loads it.
 */
export async function measureCachedCompile(client: Client, m: StepModel, seed: number, o: { dir: string; optLevel?: number }): Promise<CachedCompileResult> {
  rmSync(o.dir, { recursive: true, force: true });
  const cache = new CompileCache({ dir: o.dir, note: () => {} });
  const specs = [stateSpecs(m.config.model), batchSpecs(m.config.model, m.batchSize), stepSpec()];
  const once = async () => {
    client.clearCache(); // nothing held in memory: the second executable must come from the folder
    const t0 = performance.now();
    const program = lower(buildStep(m, seed), specs, { name: 'train_step', donate: [0] });
    const loaded = await loadProgram(client, program, { compileCache: cache, ...(o.optLevel !== undefined ? { optLevel: o.optLevel } : {}) });
    const seconds = (performance.now() - t0) / 1000;
    loaded.executable.dispose();
    return { seconds, cached: loaded.cached };
  };
  const first = await once();
  const second = await once();
  rmSync(o.dir, { recursive: true, force: true });
  return { name: m.name, batchSize: m.batchSize, firstSeconds: first.seconds, cachedSeconds: second.seconds, loaded: second.cached };
}

/** The synthetic JPEG set of the pipeline figure, written once per size into `workdir`. */
export async function pipelineData(plan: BenchPlan, workdir: string): Promise<string> {
  const p = plan.pipeline;
  const dir = path.join(workdir, `synth-${p.images}x${p.sourceSize}`);
  const info = path.join(dir, 'info.json');
  const have = existsSync(info) ? (JSON.parse(readFileSync(info, 'utf8')) as { n?: number; imageSize?: number }) : null;
  if (!have || have.n !== p.images || have.imageSize !== p.sourceSize) await writeSynthDataset({ out: dir, n: p.images, imageSize: p.sourceSize, evalN: 0 });
  return dir;
}

/** Images/s through the train loader (decode + augment + tokenize on the worker threads) on the synthetic set. */
export async function measurePipeline(plan: BenchPlan, dir: string): Promise<PipelineResult> {
  const p = plan.pipeline;
  const m = plan.steps.config.model;
  const other = new OtherLoad();
  const r = await measureThroughput({
    data: dir, batchSize: plan.steps.batchSize, imageSize: m.img.imageSize, vocab: path.join(dir, 'vocab.txt'), maxLen: m.txt.maxLen,
    batches: p.batches, warmup: p.warmup, ...(p.workers !== undefined ? { workers: p.workers } : {}), onWarning: () => {},
  });
  return { ...r, sourceSize: p.sourceSize, otherCores: other.cores() };
}

/** The client's platform, as the results record it. */
export function platformOf(client: Client): FlipHalfResult['platform'] {
  return {
    name: client.platform.name, version: client.platform.version, plugin: client.plugin.package ?? path.basename(client.plugin.path),
    pluginVersion: client.plugin.version ?? null, devices: client.devices.length, deviceKind: client.devices[0]!.kind,
  };
}

/** flip's side of the bench: sessions for the repeated measurements, one call for the others. */
export class FlipSide {
  readonly hloDir: string;
  readonly #steps: StepRunner;
  constructor(readonly client: Client, readonly plan: BenchPlan, readonly workdir: string, readonly log: (s: string) => void = () => {}) {
    this.hloDir = path.join(workdir, 'hlo');
    this.#steps = new StepRunner(client, plan, { log, hloDir: this.hloDir });
  }
  async peak(): Promise<Session<PeakResult>> {
    const s = await peakSession(this.client, this.plan.peak.size, this.plan.optLevel);
    return {
      rep: () => s.rep(),
      finish: () => {
        const r = s.finish();
        this.log(`matmul peak ${(r.flopsPerSecond / 1e9).toFixed(1)} GFLOP/s (${r.size}x${r.size} f32)`);
        return r;
      },
    };
  }
  steps(maskRatio: number, dtype: StepDType = 'float32'): Promise<Session<StepResult>> {
    return this.#steps.session(maskRatio, dtype);
  }
  async cachedCompile(m: StepModel): Promise<CachedCompileResult> {
    const c = await measureCachedCompile(this.client, m, this.plan.steps.seed, {
      dir: path.join(this.workdir, 'compile-cache'), ...(this.plan.optLevel !== undefined ? { optLevel: this.plan.optLevel } : {}),
    });
    this.log(`${m.name}: first compile ${c.firstSeconds.toFixed(1)}s, second through the compilation cache ${c.cachedSeconds.toFixed(2)}s` +
      `${c.loaded ? '' : ' (NOT loaded from the cache)'}`);
    return c;
  }
  async pipeline(dir: string): Promise<PipelineResult> {
    const r = await measurePipeline(this.plan, dir);
    this.log(`input pipeline: ${r.imagesPerSecond.toFixed(1)} images/s with ${r.workers} worker thread(s)`);
    return r;
  }
  async compile(m: StepModel): Promise<CompileResult> {
    const c = await measureCompile(this.client, m, this.plan.steps.seed, { ...(this.plan.optLevel !== undefined ? { optLevel: this.plan.optLevel } : {}), hloDir: this.hloDir });
    this.log(`${m.name}: trace ${c.traceSeconds.toFixed(2)}s, lower ${c.lowerSeconds.toFixed(2)}s, compile ${c.compileSeconds.toFixed(1)}s`);
    return c;
  }
}
