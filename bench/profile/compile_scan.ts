// transformer.scanLayers, measured: model function → executable of flip_base's and flip_large's train step (batch 2,
// as `npm run bench` compiles them) with the blocks unrolled and scanned, each with its phases (trace, lower, XLA);
// then flip_small's train step at mask 0.5 (the bench's step model, batch 8) unrolled and scanned, timed, so the
// step cost of the loop is known. Run with FLIP_COMPILE_CACHE=0 (no persistent cache):
//   FLIP_COMPILE_CACHE=0 npx tsx bench/profile/compile_scan.ts [--models flip_base,flip_large] [--steps 5] [--no-steps]
// Prints one line per measurement and a JSON summary last.
import base from '../../configs/flip_base.ts';
import large from '../../configs/flip_large.ts';
import type { FlipConfig } from '../../configs/types.ts';
import { openClient } from '../../runtime-native/index.ts';
import { StepRunner, measureCompile, type CompileResult } from '../flip_bench.ts';
import { cpuPlan, stepModel } from '../plan.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const models = (arg('--models') ?? 'flip_base,flip_large').split(',');
const steps = Number(arg('--steps') ?? 5);
const noSteps = process.argv.includes('--no-steps');
if (process.env.FLIP_COMPILE_CACHE !== '0') console.error('[compile_scan] note: FLIP_COMPILE_CACHE is not 0; set it so a compile is never a cache hit');

/** `config` with both towers' transformer.scanLayers set. */
function withScan(config: FlipConfig, scanLayers: boolean): FlipConfig {
  const m = config.model;
  return {
    ...config,
    name: `${config.name}${scanLayers ? '_scan' : ''}`,
    model: {
      ...m,
      img: { ...m.img, transformer: { ...m.img.transformer, scanLayers } },
      txt: { ...m.txt, transformer: { ...m.txt.transformer, scanLayers } },
    },
  };
}

const CONFIGS: Record<string, FlipConfig> = { flip_base: base, flip_large: large };
const client = await openClient({ target: 'cpu', devices: 1 });
const compile: (CompileResult & { scanLayers: boolean; cpuSeconds: number })[] = [];
for (const name of models) {
  const cfg = CONFIGS[name];
  if (!cfg) {
    console.error(`compile_scan: unknown model '${name}' (flip_base, flip_large)`);
    process.exit(2);
  }
  for (const scanLayers of [false, true]) {
    const c0 = process.cpuUsage();
    const r = await measureCompile(client, stepModel(withScan(cfg, scanLayers), 2), 0);
    const c1 = process.cpuUsage(c0);
    const cpuSeconds = (c1.user + c1.system) / 1e6;
    compile.push({ ...r, scanLayers, cpuSeconds });
    console.log(`${name} scanLayers=${scanLayers}: model fn → executable ${r.totalSeconds.toFixed(2)} s ` +
      `(trace ${r.traceSeconds.toFixed(2)} s, lower ${r.lowerSeconds.toFixed(2)} s, XLA ${r.compileSeconds.toFixed(2)} s); ` +
      `process CPU ${cpuSeconds.toFixed(1)} s (other processes: ${r.otherCores === null ? '?' : r.otherCores.toFixed(1)} cores); ` +
      `${r.irOps} IR ops, ${(r.stablehloChars / 1e6).toFixed(2)} MB StableHLO, ${r.hlo.instructions} HLO instructions`);
  }
}

const step: { scanLayers: boolean; compileSeconds: number; medianStepSeconds: number; stepSeconds: number[]; losses: number[] }[] = [];
if (!noSteps) {
  for (const scanLayers of [false, true]) {
    const p = cpuPlan();
    const plan = { ...p, steps: { ...p.steps, ...stepModel(withScan(p.steps.config, scanLayers), p.steps.batchSize), warmup: 1, steps } };
    const runner = new StepRunner(client, plan, { log: (s) => console.error(`[compile_scan] ${s}`) });
    const s = await runner.session(0.5);
    for (let i = 0; i < steps; i++) await s.rep();
    const r = s.finish();
    step.push({ scanLayers, compileSeconds: r.compileSeconds, medianStepSeconds: r.medianStepSeconds, stepSeconds: r.stepSeconds, losses: r.losses });
    console.log(`${p.steps.config.name} batch ${p.steps.batchSize} mask 0.5 scanLayers=${scanLayers}: median step ${r.medianStepSeconds.toFixed(3)} s ` +
      `(${r.stepSeconds.map((x) => x.toFixed(3)).join(', ')}); compile ${r.compileSeconds.toFixed(1)} s; losses ${r.losses.map((x) => x.toFixed(5)).join(', ')}`);
  }
}
console.log(JSON.stringify({ compile, step }));
client.dispose();
