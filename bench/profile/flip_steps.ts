// bench/profile.sh's flip driver: flip_small's train step at one mask (compile, 1 warm-up step, N timed steps), with
// the CLOCK_MONOTONIC times of the timed steps on stdout for perf's window. A third argument `bf16` times the
// model.dtype = 'bfloat16' step instead.
import { restartForHost } from '../../runtime-native/host_start.mjs';
import { openClient } from '../../runtime-native/index.ts';
import { StepRunner } from '../flip_bench.ts';
import { cpuPlan } from '../plan.ts';

// As `flip run` and the bench start (runtime-native/host_start.mjs): one malloc arena.
restartForHost();

const mask = Number(process.argv[2] ?? 0.5), steps = Number(process.argv[3] ?? 6);
const dtype = process.argv[4] === 'bf16' ? 'bfloat16' : 'float32';
const p = cpuPlan();
const plan = { ...p, steps: { ...p.steps, warmup: 1 } };
const client = await openClient({ target: 'cpu', devices: 1 });
const session = await new StepRunner(client, plan, { log: (s) => console.error(`[flip] ${s}`), ...(process.env.FLIP_HLO_DIR ? { hloDir: process.env.FLIP_HLO_DIR } : {}) }).session(mask, dtype);
const mono = () => Number(process.hrtime.bigint()) / 1e9;
const t0 = mono();
for (let i = 0; i < steps; i++) await session.rep();
const t1 = mono();
const r = session.finish();
console.log(`window ${t0} ${t1} steps ${steps} cpu ${r.cpuSeconds.reduce((a, b) => a + b, 0)}`);
client.dispose();
