// flip_small's train steps at masks 0, 0.5 and 0.75 in turn in one process, as the bench runs them (without JAX's
// steps in between): each mask's program compiled once (from the compilation cache when it has it), one warm-up step
// each, then ROUNDS rounds of one step per mask. Prints each mask's median step and its steps. Starts as `flip run`
// does (runtime-native/host_start.mjs) unless FLIP_HOST_MALLOC=system.
// A second argument sets the batch (default the plan's, 8): two batches give the marginal time per sample, the
// per-step work (AdamW, the embedding's dense gradient) left out. A third names the model (flip_small, the plan's;
// flip_base; flip_large): the time per sample at each mask as a share of mask 0 is printed beside its model FLOPs'.
// Each step's minor page faults are printed too (a step that maps its temporary buffer afresh shows there).
// Usage: npx tsx bench/profile/rotate.ts [rounds=4] [batch] [model]
import { restartForHost } from '../../runtime-native/host_start.mjs';
import { openClient } from '../../runtime-native/index.ts';
import { StepRunner } from '../flip_bench.ts';
import { BENCH_CONFIGS, cpuPlan, maskFlopsShare, stepModel } from '../plan.ts';

restartForHost();
const p = cpuPlan();
const count = (i: number, what: string, fallback: number): number => {
  const v = process.argv[i] === undefined ? fallback : Number(process.argv[i]);
  if (Number.isInteger(v) && v > 0) return v;
  console.error(`rotate: ${what} must be a positive integer, got '${process.argv[i]}' (usage: npx tsx bench/profile/rotate.ts [rounds=4] [batch] [model])`);
  process.exit(2);
};
const rounds = count(2, 'rounds', 4);
const batchSize = count(3, 'batch', p.steps.batchSize);
const modelName = process.argv[4] ?? 'flip_small';
const config = BENCH_CONFIGS[modelName];
if (!config) {
  console.error(`rotate: model must be one of ${Object.keys(BENCH_CONFIGS).join(', ')}, got '${modelName}'`);
  process.exit(2);
}
const plan = { ...p, steps: { ...p.steps, ...stepModel(config, batchSize), warmup: 1 } };
const client = await openClient({ target: 'cpu', devices: 1 });
const runner = new StepRunner(client, plan, { log: () => {} });
const masks = [0, 0.5, 0.75];
const sessions = [];
for (const m of masks) sessions.push(await runner.session(m, 'float32'));
const times: number[][] = masks.map(() => []);
const faults: number[][] = masks.map(() => []);
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < masks.length; i++) {
    const t0 = performance.now(), f0 = process.resourceUsage().minorPageFault;
    await sessions[i]!.rep();
    times[i]!.push((performance.now() - t0) / 1000);
    faults[i]!.push(process.resourceUsage().minorPageFault - f0);
  }
}
const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!;
for (let i = 0; i < masks.length; i++) {
  const share = i === 0 ? '' : `; ÷ mask 0 ${(median(times[i]!) / median(times[0]!)).toFixed(3)}x (model FLOPs ${maskFlopsShare(config, masks[i]!, batchSize).toFixed(3)}x)`;
  console.log(`${modelName}, batch ${batchSize}, mask ${masks[i]}: ${median(times[i]!).toFixed(3)} s [${times[i]!.map((t) => t.toFixed(2)).join(' ')}]${share}; ` +
    `minor faults [${faults[i]!.join(' ')}]`);
}
for (const s of sessions) s.finish();
client.dispose();
