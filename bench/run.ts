// `npm run bench [-- options]`: flip against JAX on this machine, one run. The flip half (bench/flip_bench.ts) runs in
// this process on a PJRT client; the JAX half (bench/flip_jax.py) in a Python venv made from pinned PyPI wheels. Prints
// the figures as a table (flip, JAX, flip ÷ JAX) and writes bench/results.json (+ bench/results.md).
import { restartForHost } from '../runtime-native/host_start.mjs';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cpuBuilds, hasNvidiaGpu, openClient, selectedCpuBuild, type Client } from '../runtime-native/index.ts';
import { FlipSide, type FlipHalfResult } from './flip_bench.ts';
import { interleaved } from './interleave.ts';
import { FLOPS_FORMULA } from './flops.ts';
import { BENCH_DIR, BenchError, ensureVenv, JaxSide, venvCudaPlugin, type JaxHalfResult } from './jax_half.ts';
import { quietGate } from './quiet.ts';
import { BENCH_CONFIGS, cpuPlan, gpuPlan, quickPlan, resultsFileName, stepModel, type BenchPlan, type BenchTarget } from './plan.ts';
import { figures, header, LEGEND, machineInfo, markdownTable, textTable, type BenchResults } from './report.ts';

// flip's half starts as `flip run` does (runtime-native/host_start.mjs); the JAX half gets the user's environment.
restartForHost();

// The compile figures time XLA's compile: flip's persistent compilation cache (programs/cache.ts) stays off here.
process.env.FLIP_COMPILE_CACHE = '0';

const USAGE = `npm run bench [-- options]

Measures flip against JAX on this machine: train-step time of a FLIP at mask 0, 0.5, 0.75 and the masking speedup,
the time from a model function to a ready executable, the input pipeline's images/s, the matmul peak and the MFU.

  --target cpu|gpu   cpu (default): flip_small at batch 8 on the CPU plugin, JAX on CPU (~6 min on 2 idle cores).
                     gpu: flip_base at batch 256 on one NVIDIA GPU; flip loads the CUDA plugin of the venv's
                     jax-cuda13-pjrt, the one JAX uses (bench/gpu.sh does the same and checks the GPU first).
  --quick            flip_tiny, 2 steps: checks that the bench runs, in seconds (the figures mean nothing).
  --skip-jax         the flip half only (no Python venv).
  --cpu-build B      cpu: run flip on this pinned CPU plugin build, xla (xla-cpu-pjrt) or lammps (lammps-jax-pjrt-cpu,
                     built from jaxlib 0.11.2's XLA); default FLIP_CPU_BUILD, else the installed default
                     (docs/runtime.md). Install the other with \`flip plugins install cpu --build B\`.
  --devices N        cpu: the flip CPU client's device count (default 1, as JAX's CPU backend; the plugin's own
                     default is 4).
  --model M          the train-step figures' model: flip_small (the CPU plan's), flip_base or flip_large, both systems
                     (masking pays more where the image tower is a larger share of the FLOPs: docs/performance.md).
  --batch N          the train-step figures' batch (default: the plan's, 8 on CPU).
  --steps N          timed steps per mask (default: the plan's, 7 on CPU).
  --masks A,B,...    the mask ratios of the train-step figures (default 0,0.5,0.75); flip's bf16 steps
                     (model.dtype = 'bfloat16', timed beside the f32 ones) run at the same masks.
  --warmup N         steps run before timing (default: the plan's, 2 on CPU).
  --no-wait          never wait for other processes to go quiet (the quiet gate); on a machine that never is, the
                     gate only adds its waits (6 minutes in all), and the figures stay as loaded either way.
  --budget S         skip the compile figures not started after S seconds of measuring (default 900).
  --out FILE         results JSON (default bench/results.json, bench/results-gpu.json for --target gpu; with --model or
                     --batch, their values in the name: bench/results-flip_base.json).
  --readme           put the table in README.md's benchmark section.
  -h, --help`;

interface Args {
  target: BenchTarget;
  noWait: boolean;
  cpuBuild?: string;
  quick: boolean;
  skipJax: boolean;
  devices: number;
  masks?: number[];
  model?: string;
  batch?: number;
  steps?: number;
  warmup?: number;
  budget: number;
  out: string;
  readme: boolean;
}

function parse(argv: readonly string[]): Args | null {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      target: { type: 'string', default: 'cpu' },
      quick: { type: 'boolean', default: false },
      'skip-jax': { type: 'boolean', default: false },
      devices: { type: 'string', default: '1' },
      'cpu-build': { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      steps: { type: 'string' },
      masks: { type: 'string' },
      model: { type: 'string' },
      batch: { type: 'string' },
      warmup: { type: 'string' },
      budget: { type: 'string', default: '900' },
      out: { type: 'string' },
      readme: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  const target = values.target as BenchTarget;
  if (target !== 'cpu' && target !== 'gpu') throw new BenchError(`--target ${values.target}: use cpu or gpu`);
  const cpuBuild = values['cpu-build'];
  if (cpuBuild !== undefined) {
    const names = cpuBuilds().map((b) => b.build);
    if (!names.includes(cpuBuild)) throw new BenchError(`--cpu-build ${cpuBuild}: use ${names.join(' or ')}`);
    if (target !== 'cpu') throw new BenchError('--cpu-build is for --target cpu');
  }
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new BenchError(`--${name} ${v}: an integer >= ${min}`);
    return n;
  };
  const model = values.model;
  if (model !== undefined && !BENCH_CONFIGS[model]) throw new BenchError(`--model ${model}: use ${Object.keys(BENCH_CONFIGS).join(', ')}`);
  const batch = int('batch', values.batch, 1);
  const masks = values.masks?.split(',').map(Number);
  if (masks && !masks.every((m) => m >= 0 && m < 1)) throw new BenchError(`--masks ${values.masks}: ratios in [0, 1), comma-separated`);
  return {
    ...(masks ? { masks } : {}),
    ...(cpuBuild !== undefined ? { cpuBuild } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(batch !== undefined ? { batch } : {}),
    target, noWait: values['no-wait'], quick: values.quick, skipJax: values['skip-jax'], devices: int('devices', values.devices, 1)!, steps: int('steps', values.steps, 1), warmup: int('warmup', values.warmup, 0),
    budget: int('budget', values.budget, 0)!, readme: values.readme,
    out: path.resolve(values.out ?? path.join(BENCH_DIR, resultsFileName(target, model, batch))),
  };
}

function planOf(a: Args): BenchPlan {
  const plan0 = a.quick ? quickPlan(a.target) : a.target === 'gpu' ? gpuPlan() : cpuPlan();
  const plan = a.noWait ? { ...plan0, quiet: null } : plan0;
  // --masks picks the bf16 steps' masks too (those of the plan's bf16 masks it names).
  const bf16Masks = a.masks ? (plan.steps.bf16Masks ?? []).filter((m) => a.masks!.includes(m)) : plan.steps.bf16Masks;
  // --model / --batch: another config or batch for the train-step figures (the compile figures stay the plan's).
  const model = a.model !== undefined || a.batch !== undefined
    ? stepModel(a.model !== undefined ? BENCH_CONFIGS[a.model]! : plan.steps.config, a.batch ?? plan.steps.batchSize) : {};
  return {
    ...plan,
    steps: { ...plan.steps, ...model, steps: a.steps ?? plan.steps.steps, warmup: a.warmup ?? plan.steps.warmup, masks: a.masks ?? plan.steps.masks, ...(bf16Masks ? { bf16Masks } : {}) },
  };
}

const NO_GPU = 'no NVIDIA GPU on this machine (no /dev/nvidia* device, no driver under /proc/driver/nvidia): the GPU bench ' +
  'needs one (it was written for an H200). Run `npm run bench` for the CPU figures; docs/performance.md lists the GPU ' +
  'results as still to be taken.';

/** Where the venv's CUDA toolkit pieces are, for XLA (ptxas, libdevice), as flip's own GPU install sets it. */
function cudaDataDir(plugin: string): void {
  const cu = path.resolve(path.dirname(plugin), '..', '..', 'nvidia', 'cu13');
  if (existsSync(path.join(cu, 'bin', 'ptxas')) && !(process.env.XLA_FLAGS ?? '').includes('xla_gpu_cuda_data_dir')) {
    process.env.XLA_FLAGS = `${process.env.XLA_FLAGS ?? ''} --xla_gpu_cuda_data_dir=${cu}`.trim();
  }
}

/** The share of GPU memory each system's client takes. */
const GPU_SHARE = 0.45;

const README_START = '<!-- bench:start (npm run bench -- --readme writes this part) -->';
const README_END = '<!-- bench:end -->';

function updateReadme(markdown: string): boolean {
  const file = path.join(BENCH_DIR, '..', 'README.md');
  const text = readFileSync(file, 'utf8');
  const i = text.indexOf(README_START), j = text.indexOf(README_END);
  if (i < 0 || j < i) return false;
  writeFileSync(file, `${text.slice(0, i + README_START.length)}\n${markdown}\n${text.slice(j)}`);
  return true;
}

async function main(argv: readonly string[]): Promise<number> {
  const a = parse(argv);
  if (!a) {
    console.log(USAGE);
    return 0;
  }
  const t0 = performance.now();
  const log = (s: string) => console.error(`[bench] ${s}`);
  if (a.target === 'gpu' && !hasNvidiaGpu()) {
    console.error(`bench: ${NO_GPU}`);
    return 2;
  }
  const plan = planOf(a);
  const workdir = path.join(BENCH_DIR, '..', 'out', 'bench', a.target);
  mkdirSync(workdir, { recursive: true });
  const machine = machineInfo(a.target === 'gpu' ? 'GPU' : 'CPU');

  // The venv first: a failing pip stops the run before the long part, and the GPU's plugin comes from it.
  const python = a.skipJax && a.target === 'cpu' ? null : await ensureVenv(a.target, log);
  let client: Client;
  if (a.target === 'gpu') {
    const plugin = process.env.PJRT_PLUGIN_PATH || venvCudaPlugin(python!);
    cudaDataDir(plugin);
    // Both systems hold a client on the GPU at once (their measurements interleave): each gets a share of its memory.
    client = await openClient({ target: 'gpu', plugin, options: { memory_fraction: GPU_SHARE } });
    machine.device = `${client.devices[0]!.kind} (1 of ${client.devices.length})`;
  } else {
    if (a.cpuBuild !== undefined && !process.env.PJRT_PLUGIN_PATH) process.env.FLIP_CPU_BUILD = a.cpuBuild;
    client = await openClient({ target: 'cpu', devices: a.devices });
    machine.device = a.devices === 1 ? 'CPU' : `CPU (flip client of ${a.devices} devices)`;
  }
  const build = a.target === 'cpu' && !process.env.PJRT_PLUGIN_PATH ? ` (CPU build ${selectedCpuBuild().build})` : '';
  const flipPlugin = `${client.plugin.package ?? path.basename(client.plugin.path)}${client.plugin.version ? ` ${client.plugin.version}` : ''}${build}`;
  log(`plan: ${plan.steps.name} at batch ${plan.steps.batchSize}, masks ${plan.steps.masks.join(', ')}, ${plan.steps.warmup} warm-up + ${plan.steps.steps} timed steps; ` +
    `compile ${plan.compile.map((c) => c.name).join(', ')}; load average ${machine.loadAverage.toFixed(2)}`);
  const jaxSide = python && !a.skipJax ? JaxSide.start(plan, { python, workdir, ...(a.target === 'gpu' ? { gpuMemoryFraction: GPU_SHARE } : {}) }) : null;
  let flip: FlipHalfResult, jax: JaxHalfResult | null;
  try {
    const gate = plan.quiet ? quietGate({ ...plan.quiet, log }) : null;
    ({ flip, jax } = await interleaved(plan, new FlipSide(client, plan, workdir, (s) => log(`flip: ${s}`)), jaxSide, { budget: a.budget, gate, log }));
    await jaxSide?.close();
  } finally {
    jaxSide?.kill();
    client.dispose();
  }
  const rows = figures(plan, flip, jax);
  const results: BenchResults = {
    date: new Date().toISOString(),
    target: a.target,
    machine,
    versions: { flipPlugin, jax: jax?.jax ?? null, jaxlib: jax?.jaxlib ?? null, python: jax?.python ?? null },
    plan: {
      stepsModel: plan.steps.name, batchSize: plan.steps.batchSize, masks: plan.steps.masks, warmup: plan.steps.warmup, steps: plan.steps.steps,
      compile: plan.compile.map((c) => `${c.name} (batch ${c.batchSize})`), peakSize: plan.peak.size,
    },
    flopsFormula: FLOPS_FORMULA,
    rows,
    flip,
    jax,
    seconds: (performance.now() - t0) / 1000,
  };
  const head = header(results);
  console.log(`\n${head}\n\n${textTable(rows)}\n\n${LEGEND}\n${FLOPS_FORMULA}\n`);
  mkdirSync(path.dirname(a.out), { recursive: true });
  writeFileSync(a.out, `${JSON.stringify(results, null, 1)}\n`);
  const md = `${head}\n\n${markdownTable(rows)}\n\n${LEGEND}`;
  const mdFile = a.out.replace(/\.json$/, '') + '.md';
  writeFileSync(mdFile, `${md}\n\n${FLOPS_FORMULA}\n`);
  log(`wrote ${path.relative(process.cwd(), a.out)} and ${path.relative(process.cwd(), mdFile)} (${results.seconds.toFixed(0)}s in all)`);
  if (a.readme) log(updateReadme(md) ? 'updated README.md' : `README.md has no ${README_START} ... ${README_END} section to update`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof BenchError || String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS')) {
      console.error(`bench: ${(e as Error).message}`);
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  },
);
