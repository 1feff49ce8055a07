// The flip half of `npm run bench`: on one PJRT client, the train step of a plan's model at each mask ratio (built by
// train/step.ts's trainStep and compiled by train/compiled.ts's compileFunction, as `flip run` does), the time from
// a model function to a ready executable for bigger models, an f32 matmul's FLOP rate, and the input pipeline's
// images/s (train/data's measureThroughput). The JAX half (flip_jax.py) measures the same things the same way.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dot, spec, type Tensor } from '../dsl/index.ts';
import type { Buffer, Client } from '../runtime-native/index.ts';
import { measureThroughput, type ThroughputReport } from '../train/data/throughput.ts';
import { writeSynthDataset } from '../train/data/synth.ts';
import { compileFunction, type CompiledFunction } from '../train/compiled.ts';
import { batchSpecs, initState, stateSpecs, stepSpec, trainStep } from '../train/step.ts';
import { irDotFlops, trainStepFlops } from './flops.ts';
import { summarizeHlo, type HloSummary } from './hlo.ts';
import { withMask, type BenchPlan, type StepModel } from './plan.ts';

export interface PeakResult {
  size: number;
  /** Seconds of each timed matmul. */
  seconds: number[];
  /** 2·size³ / the fastest run. */
  flopsPerSecond: number;
}

export interface StepResult {
  maskRatio: number;
  /** Trace + passes + lower + XLA compile of this mask's train step. */
  compileSeconds: number;
  /** Each timed step (after the warm-up), dispatch to outputs ready. */
  stepSeconds: number[];
  medianStepSeconds: number;
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
}

export interface PipelineResult extends ThroughputReport {
  sourceSize: number;
}

export interface FlipHalfResult {
  platform: { name: string; version: string; plugin: string; pluginVersion: string | null; devices: number; deviceKind: string };
  peak: PeakResult;
  steps: StepResult[];
  compile: CompileResult[];
  pipeline: PipelineResult;
}

export interface FlipHalfOptions {
  client: Client;
  /** Where the synthetic pipeline data and the optimized HLO go. */
  workdir: string;
  log?: (line: string) => void;
  /** Skip a compile measurement once this many seconds have passed since the half started (the bench's time bound). */
  compileBudgetSeconds?: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
export { median };

/** compileFunction with its phases timed from its progress messages (tracing, lowering, compiling, compiled). */
async function compileTimed(fn: (...args: never[]) => unknown, specs: readonly unknown[], client: Client, name: string, donate: readonly number[], optLevel?: number) {
  const marks = new Map<string, number>();
  client.clearCache(); // a compile, not a cache hit
  const t0 = performance.now();
  const compiled = await compileFunction(fn, specs, {
    client, name, donate, ...(optLevel !== undefined ? { optLevel } : {}),
    log: (m) => {
      const phase = /: (tracing|lowering|compiling|compiled)\b/.exec(m)?.[1];
      if (phase && !marks.has(phase)) marks.set(phase, performance.now());
    },
  });
  const t3 = performance.now();
  const t1 = marks.get('lowering') ?? t0, t2 = marks.get('compiling') ?? t1;
  return { compiled, traceSeconds: (t1 - t0) / 1000, lowerSeconds: (t2 - t1) / 1000, compileSeconds: (t3 - t2) / 1000, totalSeconds: (t3 - t0) / 1000 };
}

/** 2·n³ FLOPs of an n×n by n×n f32 matmul through the client's plugin, best of `reps` after one warm-up. */
export async function measurePeak(client: Client, size: number, reps: number, optLevel?: number): Promise<PeakResult> {
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
  const once = async () => {
    const t0 = performance.now();
    const out = (await f.run([a, b])) as Buffer;
    await out.ready();
    const s = (performance.now() - t0) / 1000;
    out.dispose();
    return s;
  };
  await once();
  const seconds: number[] = [];
  for (let i = 0; i < reps; i++) seconds.push(await once());
  a.dispose();
  b.dispose();
  f.executable.dispose();
  return { size, seconds, flopsPerSecond: (2 * size ** 3) / Math.min(...seconds) };
}

/** A batch of the model's input shapes on the device: normal-ish pixels, token ids in [1, vocab), all valid. */
function deviceBatch(client: Client, m: StepModel): { image: Buffer; txt: Buffer; txtIsValid: Buffer } {
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

function buildStep(m: StepModel, seed: number) {
  const o = m.config.train.optimizer;
  return trainStep({ model: m.config.model, schedule: m.schedule, adamw: m.adamw, excludeWd: o.excludeWd, seed });
}

/** The plan's train step at each mask: compile, `warmup` steps, `steps` timed steps (the state carried through). */
export async function measureSteps(client: Client, plan: BenchPlan, o: { log: (s: string) => void; hloDir?: string }): Promise<StepResult[]> {
  const s = plan.steps;
  // Run once, not timed: XLA's quickest compile.
  const init = await compileFunction(() => initState(s.seed, s.config.model), [], { client, name: 'init_state', optLevel: 0 });
  let state = await init.run([]);
  init.executable.dispose();
  const batch = deviceBatch(client, s);
  const results: StepResult[] = [];
  for (const maskRatio of s.masks) {
    const m: StepModel = { ...s, config: withMask(s.config, maskRatio) };
    const { compiled, totalSeconds } = await compileTimed(
      buildStep(m, s.seed), [stateSpecs(m.config.model), batchSpecs(m.config.model, m.batchSize), stepSpec()], client, 'train_step', [0], plan.optLevel,
    );
    const hloText = compiled.executable.optimizedHlo();
    if (o.hloDir) {
      mkdirSync(o.hloDir, { recursive: true });
      writeFileSync(path.join(o.hloDir, `flip_train_step_mask${maskRatio}.hlo.txt`), hloText);
    }
    const stepSeconds: number[] = [];
    const losses: number[] = [];
    for (let i = 0; i < s.warmup + s.steps; i++) {
      const t0 = performance.now();
      const step = client.toDevice(new Int32Array([i]), [], 'i32');
      const [next, metrics] = (await compiled.run([state, batch, step])) as [unknown, { loss: Buffer }];
      const loss = (await metrics.loss.toHost())[0] as number;
      const dt = (performance.now() - t0) / 1000;
      state = next;
      losses.push(loss);
      if (i >= s.warmup) stepSeconds.push(dt);
    }
    const cost = compiled.executable.costAnalysis();
    const r: StepResult = {
      maskRatio, compileSeconds: totalSeconds, stepSeconds, medianStepSeconds: median(stepSeconds), losses,
      modelFlops: trainStepFlops(m.config.model, m.batchSize).train, irDotFlops: irDotFlops(compiled.func),
      xlaFlops: typeof cost?.flops === 'number' ? cost.flops : null, hlo: summarizeHlo(hloText),
    };
    o.log(`mask ${maskRatio}: compiled in ${totalSeconds.toFixed(1)}s; steps ${stepSeconds.map((t) => t.toFixed(3)).join(', ')} s; loss ${losses.at(-1)!.toFixed(4)}`);
    results.push(r);
    compiled.executable.dispose();
  }
  return results;
}

/** Trace + passes + lower + compile of a model's train step (no execution). */
export async function measureCompile(client: Client, m: StepModel, seed: number, o: { optLevel?: number; hloDir?: string } = {}): Promise<CompileResult> {
  const r = await compileTimed(buildStep(m, seed), [stateSpecs(m.config.model), batchSpecs(m.config.model, m.batchSize), stepSpec()], client, 'train_step', [0], o.optLevel);
  const c: CompiledFunction = r.compiled;
  const hlo = c.executable.optimizedHlo();
  if (o.hloDir) {
    mkdirSync(o.hloDir, { recursive: true });
    writeFileSync(path.join(o.hloDir, `flip_compile_${m.name}.hlo.txt`), hlo);
    writeFileSync(path.join(o.hloDir, `flip_compile_${m.name}.mlir`), c.mlir);
  }
  const out: CompileResult = {
    name: m.name, batchSize: m.batchSize, traceSeconds: r.traceSeconds, lowerSeconds: r.lowerSeconds, compileSeconds: r.compileSeconds,
    totalSeconds: r.totalSeconds, stablehloChars: c.mlir.length, irOps: c.func.ops.length, hlo: summarizeHlo(hlo),
  };
  c.executable.dispose();
  return out;
}

/** Images/s through the train loader (decode + augment + tokenize on the worker threads) on a synthetic JPEG set. */
export async function measurePipeline(plan: BenchPlan, workdir: string): Promise<PipelineResult> {
  const p = plan.pipeline;
  const dir = path.join(workdir, `synth-${p.images}x${p.sourceSize}`);
  const info = path.join(dir, 'info.json');
  const have = existsSync(info) ? (JSON.parse(readFileSync(info, 'utf8')) as { n?: number; imageSize?: number }) : null;
  if (!have || have.n !== p.images || have.imageSize !== p.sourceSize) {
    await writeSynthDataset({ out: dir, n: p.images, imageSize: p.sourceSize, evalN: 0 });
  }
  const m = plan.steps.config.model;
  const r = await measureThroughput({
    data: dir, batchSize: plan.steps.batchSize, imageSize: m.img.imageSize, vocab: path.join(dir, 'vocab.txt'), maxLen: m.txt.maxLen,
    batches: p.batches, warmup: p.warmup, ...(p.workers !== undefined ? { workers: p.workers } : {}), onWarning: () => {},
  });
  return { ...r, sourceSize: p.sourceSize };
}

/** Everything flip measures for the plan, on `client`. */
export async function runFlipHalf(plan: BenchPlan, o: FlipHalfOptions): Promise<FlipHalfResult> {
  const log = o.log ?? (() => {});
  const start = performance.now();
  const { client } = o;
  const dev = client.devices[0]!;
  const platform = {
    name: client.platform.name, version: client.platform.version, plugin: client.plugin.package ?? path.basename(client.plugin.path),
    pluginVersion: client.plugin.version ?? null, devices: client.devices.length, deviceKind: dev.kind,
  };
  log(`flip on ${platform.plugin}${platform.pluginVersion ? ` ${platform.pluginVersion}` : ''} (${platform.name}, ${dev.kind})`);
  const peak = await measurePeak(client, plan.peak.size, plan.peak.reps, plan.optLevel);
  log(`matmul peak ${(peak.flopsPerSecond / 1e9).toFixed(1)} GFLOP/s (${plan.peak.size}x${plan.peak.size} f32)`);
  const steps = await measureSteps(client, plan, { log, hloDir: path.join(o.workdir, 'hlo') });
  const pipeline = await measurePipeline(plan, o.workdir);
  log(`input pipeline: ${pipeline.imagesPerSecond.toFixed(1)} images/s with ${pipeline.workers} worker thread(s)`);
  const compile: CompileResult[] = [];
  for (const m of plan.compile) {
    const elapsed = (performance.now() - start) / 1000;
    if (o.compileBudgetSeconds !== undefined && elapsed > o.compileBudgetSeconds) {
      log(`${m.name}: compile not measured (${elapsed.toFixed(0)}s spent, budget ${o.compileBudgetSeconds}s)`);
      continue;
    }
    const c = await measureCompile(client, m, plan.steps.seed, { ...(plan.optLevel !== undefined ? { optLevel: plan.optLevel } : {}), hloDir: path.join(o.workdir, 'hlo') });
    log(`${m.name}: trace ${c.traceSeconds.toFixed(2)}s, lower ${c.lowerSeconds.toFixed(2)}s, compile ${c.compileSeconds.toFixed(1)}s`);
    compile.push(c);
  }
  return { platform, peak, steps, compile, pipeline };
}
