// bench/profile.sh's flip driver: flip_small's train step at one mask (compile, 1 warm-up step, N timed steps), with
// the CLOCK_MONOTONIC times of the timed steps on stdout for perf's window. A third argument `bf16` times the
// model.dtype = 'bfloat16' step instead. `--model flip_base` (or flip_large) times that config at the plan's batch.
// Each timed step's seconds, minor page faults and the process's RSS after it go to stderr: a step that faults its
// temporary buffer in afresh shows there (docs/runtime.md, "Host memory").
// Usage: npx tsx bench/profile/flip_steps.ts [mask=0.5] [steps=6] [bf16] [--model flip_small|flip_base|flip_large]
import { restartForHost } from '../../runtime-native/host_start.mjs';
import { openClient } from '../../runtime-native/index.ts';
import { StepRunner } from '../flip_bench.ts';
import { BENCH_CONFIGS, cpuPlan, stepModel, takeModelFlag } from '../plan.ts';

// As `flip run` and the bench start (runtime-native/host_start.mjs): one malloc arena.
restartForHost();

const args = process.argv.slice(2);
const model = takeModelFlag(args);
const mask = Number(args[0] ?? 0.5), steps = Number(args[1] ?? 6);
if (!model || !(mask >= 0 && mask < 1) || !Number.isInteger(steps) || steps < 1) {
  console.error(`flip_steps: usage: npx tsx bench/profile/flip_steps.ts [mask in [0, 1)] [steps ≥ 1] [bf16] [--model ${Object.keys(BENCH_CONFIGS).join('|')}]`);
  process.exit(2);
}
const dtype = args[2] === 'bf16' ? 'bfloat16' : 'float32';
const p = cpuPlan();
const { name: modelName, config } = model;
const plan = { ...p, steps: { ...p.steps, ...stepModel(config, p.steps.batchSize), warmup: 1 } };
const client = await openClient({ target: 'cpu', devices: 1 });
const session = await new StepRunner(client, plan, { log: (s) => console.error(`[flip] ${s}`), ...(process.env.FLIP_HLO_DIR ? { hloDir: process.env.FLIP_HLO_DIR } : {}) }).session(mask, dtype);
const mono = () => Number(process.hrtime.bigint()) / 1e9;
const t0 = mono();
for (let i = 0; i < steps; i++) {
  const s0 = mono(), f0 = process.resourceUsage().minorPageFault;
  await session.rep();
  console.error(`[flip] ${modelName} step ${i + 1}: ${(mono() - s0).toFixed(2)} s, ${process.resourceUsage().minorPageFault - f0} minor faults, RSS ${(process.memoryUsage.rss() / 1e9).toFixed(2)} GB`);
}
const t1 = mono();
const r = session.finish();
console.log(`window ${t0} ${t1} steps ${steps} cpu ${r.cpuSeconds.reduce((a, b) => a + b, 0)}`);
client.dispose();
