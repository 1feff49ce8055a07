// A/B of two source trees' train step in one process: flip_small's step at one mask as this tree lowers it (A) and
// as the tree at OTHER lowers it (B; a git worktree of another commit, e.g. `git worktree add /tmp/base HEAD~1`),
// both compiled by this tree's runtime and run alternately on one state, so that other load on the machine lands on
// both alike (separate processes on a shared machine differ by more than most changes do). Prints each side's median
// wall and CPU seconds per step. Both trees must lower the step to the same signature (state, batch, step).
// Usage: npx tsx bench/profile/ab.ts OTHER [mask=0.5] [pairs=8]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lower } from '../../compiler/lower/index.ts';
import { loadProgram } from '../../programs/compile.ts';
import { openClient } from '../../runtime-native/index.ts';
import { batchSpecs, initState, stateSpecs, stepSpec } from '../../train/step.ts';
import { buildStep, deviceBatch } from '../flip_bench.ts';
import { compileFunction } from '../../train/compiled.ts';
import { cpuPlan, withMask } from '../plan.ts';

const [other, maskArg = '0.5', pairsArg = '8'] = process.argv.slice(2);
if (!other) {
  console.error('usage: npx tsx bench/profile/ab.ts OTHER_TREE [mask=0.5] [pairs=8]');
  process.exit(2);
}
const mask = Number(maskArg), pairs = Number(pairsArg);
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-ab-'));
const otherFile = path.join(tmp, 'b.json');
execFileSync('npx', ['tsx', path.join(here, 'bench/profile/lower_step.ts'), path.resolve(other), String(mask), otherFile], { cwd: path.resolve(other), stdio: 'inherit' });

const s = cpuPlan().steps;
const m = { ...s, config: withMask(s.config, mask, 'float32') };
const config = m.config;
const a = lower(buildStep(m, s.seed), [stateSpecs(config.model), batchSpecs(config.model, s.batchSize), stepSpec()], { name: 'train_step', donate: [0] });
type Types = { dtype: string; shape: number[] }[];
const theirs = JSON.parse(readFileSync(otherFile, 'utf8')) as { mlir: string; params: Types; results: Types };
rmSync(tmp, { recursive: true, force: true });
// B runs in A's argument and result structure: the two programs' parameter and result types must agree.
const types = (args: readonly { type: { dtype: string; shape: readonly number[] } }[]): Types => args.map((x) => ({ dtype: x.type.dtype, shape: [...x.type.shape] }));
if (JSON.stringify([types(a.params), types(a.results)]) !== JSON.stringify([theirs.params, theirs.results])) {
  console.error(`the two trees lower the step to different signatures (${a.params.length} vs ${theirs.params.length} parameters, ${a.results.length} vs ${theirs.results.length} results)`);
  process.exit(2);
}
const b = { ...a, mlir: theirs.mlir };

const client = await openClient({ target: 'cpu', devices: 1 });
const [A, B] = [await loadProgram(client, a), await loadProgram(client, b)];
const init = await compileFunction(() => initState(s.seed, config.model), [], { client, name: 'init_state', optLevel: 0 });
let state = await init.run([]);
const batch = deviceBatch(client, m);
let k = 0;
const once = async (run: typeof A.run) => {
  const c0 = process.cpuUsage(), t0 = performance.now();
  const [next, metrics] = (await run([state, batch, client.toDevice(new Int32Array([k++]), [], 'i32')])) as [unknown, { loss: { toHost(): Promise<ArrayLike<number>> } }];
  state = next;
  await metrics.loss.toHost();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
};
await once(A.run);
await once(B.run);
const res = { A: [] as { wall: number; cpu: number }[], B: [] as { wall: number; cpu: number }[] };
for (let i = 0; i < pairs; i++) {
  for (const side of i % 2 ? (['B', 'A'] as const) : (['A', 'B'] as const)) res[side].push(await once(side === 'A' ? A.run : B.run));
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
for (const side of ['A', 'B'] as const) {
  const w = res[side].map((r) => r.wall), c = res[side].map((r) => r.cpu);
  console.log(`${side === 'A' ? 'this tree ' : 'other tree'}: step ${median(w).toFixed(3)} s (${Math.min(...w).toFixed(3)}–${Math.max(...w).toFixed(3)}), CPU ${median(c).toFixed(3)} s`);
}
console.log(`this ÷ other: ${(median(res.A.map((r) => r.wall)) / median(res.B.map((r) => r.wall))).toFixed(3)} wall, ` +
  `${(median(res.A.map((r) => r.cpu)) / median(res.B.map((r) => r.cpu))).toFixed(3)} CPU (mask ${mask}, ${pairs} steps each)`);
client.dispose();
