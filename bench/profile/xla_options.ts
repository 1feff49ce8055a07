// A/B of XLA debug options on flip's train step (flip_small, batch 8, one mask): the same StableHLO compiled with the
// plugin's defaults and with the options given, run alternately (rounds × 5 timed steps each, after one warm-up),
// median wall and CPU seconds per step of each. Usage:
//   npx tsx bench/profile/xla_options.ts [mask=0.75] [name=value ...]     e.g. xla_cpu_use_xnnpack=false
import { flatten, unflatten } from '../../compiler/trace/index.ts';
import { openClient, type Buffer, type Executable } from '../../runtime-native/index.ts';
import { compileFunction } from '../../train/compiled.ts';
import { batchSpecs, initState, stateSpecs, stepSpec, optimizerStep } from '../../train/step.ts';
import { median } from '../flip_bench.ts';
import { cpuPlan, withMask } from '../plan.ts';

const mask = Number(process.argv[2] ?? 0.75);
const options: Record<string, boolean | number | string> = {};
for (const a of process.argv.slice(3)) {
  const [k, v = 'true'] = a.split('=');
  options[k!] = v === 'true' ? true : v === 'false' ? false : /^-?\d+$/.test(v) ? Number(v) : v;
}
const rounds = 2;
const p = cpuPlan().steps;
const model = withMask(p.config, mask).model;
const client = await openClient({ target: 'cpu', devices: 1 });
const init = await compileFunction(() => initState(0, model), [], { client, name: 'init_state', optLevel: 0 });
let state: unknown = await init.run([]);
const step = await compileFunction(optimizerStep({ model, schedule: p.schedule, adamw: p.adamw, excludeWd: true, seed: 0 }),
  [stateSpecs(model), batchSpecs(model, p.batchSize), stepSpec()], { client, name: 'train_step', donate: [0] });
const n = p.batchSize, { img, txt } = model;
const batch = {
  image: client.toDevice(new Float32Array(n * img.imageSize * img.imageSize * 3).fill(0.1), [n, img.imageSize, img.imageSize, 3], 'f32'),
  txt: client.toDevice(new Int32Array(n * txt.maxLen).fill(5), [n, txt.maxLen], 'i32'),
  txtIsValid: client.toDevice(new Int32Array(n * txt.maxLen).fill(1), [n, txt.maxLen], 'i32'),
};
const isBuffer = (x: unknown) => typeof (x as Buffer | null)?.toHost === 'function';
let k = 0;
async function run(exe: Executable): Promise<[number, number]> {
  const c0 = process.cpuUsage(), t0 = performance.now();
  const leaves = flatten<Buffer>([state, batch, client.toDevice(new Int32Array([k++]), [], 'i32')], { isLeaf: isBuffer }).leaves;
  const [next, metrics] = unflatten(step.outTree, await exe.run(leaves)) as [unknown, { loss: Buffer }];
  await metrics.loss.toHost();
  state = next;
  const c = process.cpuUsage(c0);
  return [(performance.now() - t0) / 1000, (c.user + c.system) / 1e6];
}
const variants = [{ name: 'defaults', exe: await client.compile(step.mlir, { cache: false }) },
  { name: Object.entries(options).map(([a, b]) => `${a}=${String(b)}`).join(' ') || '(no options)', exe: await client.compile(step.mlir, { cache: false, envOverrides: options }) }];
const times = variants.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
for (const v of variants) await run(v.exe); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [i, v] of variants.entries()) {
    for (let s = 0; s < 5; s++) {
      const [w, c] = await run(v.exe);
      times[i]!.wall.push(w);
      times[i]!.cpu.push(c);
    }
  }
}
console.log(`flip_small train step, mask ${mask}, ${rounds * 5} steps each, alternating:`);
variants.forEach((v, i) => console.log(`  ${v.name.padEnd(40)} ${median(times[i]!.wall).toFixed(3)} s wall, ${median(times[i]!.cpu).toFixed(3)} CPU-s`));
client.dispose();
