// A/B of flip's host-memory setting (runtime-native setHostMemory, docs/runtime.md "Host memory") on flip_small's
// train step, in one process: the step is compiled once, then timed steps alternate between glibc's defaults
// ('system') and 'keep', so that other load on the machine lands on both alike. Prints each side's median wall and
// CPU seconds per step and the minor page faults of the process during its steps.
// Usage: npx tsx bench/profile/host_memory.ts [mask=0.5] [pairs=6]
import { readFileSync } from 'node:fs';
import { openClient, setHostMemory } from '../../runtime-native/index.ts';
import { StepRunner } from '../flip_bench.ts';
import { cpuPlan } from '../plan.ts';

const mask = Number(process.argv[2] ?? 0.5), pairs = Number(process.argv[3] ?? 6);
const p = cpuPlan();
const client = await openClient({ target: 'cpu', devices: 1 });
const session = await new StepRunner(client, { ...p, steps: { ...p.steps, warmup: 1 } }, { log: (s) => console.error(`[flip] ${s}`) }).session(mask);
const minorFaults = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[7]);
const sides = { system: { wall: [] as number[], cpu: [] as number[], faults: 0 }, keep: { wall: [] as number[], cpu: [] as number[], faults: 0 } };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (let i = 0; i < pairs; i++) {
  for (const mode of (i % 2 ? ['keep', 'system'] : ['system', 'keep']) as ('keep' | 'system')[]) {
    setHostMemory(mode);
    const f0 = minorFaults();
    const r = await session.rep();
    sides[mode].faults += minorFaults() - f0;
    sides[mode].wall.push(r.seconds);
    sides[mode].cpu.push(r.cpuSeconds);
  }
}
session.finish();
for (const [mode, s] of Object.entries(sides)) {
  console.log(`${mode}: step ${median(s.wall).toFixed(3)} s (${Math.min(...s.wall).toFixed(3)}–${Math.max(...s.wall).toFixed(3)}), ` +
    `CPU ${median(s.cpu).toFixed(3)} s, ${Math.round(s.faults / pairs)} minor faults per step`);
}
const k = median(sides.keep.wall) / median(sides.system.wall);
console.log(`keep ÷ system: ${k.toFixed(3)} (mask ${mask}, ${pairs} steps each)`);
client.dispose();
