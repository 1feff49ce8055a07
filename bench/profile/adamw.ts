// AdamW's share of a train step: flip's update (train/optimizer.ts: adamwUpdate and the step's gradientNorm) alone,
// compiled as the train step is (the state {params, mu, nu} donated, so the update writes into its buffers) and run
// over a model's params (flip_small's by default: 55M). Prints the median time of the update with its range, the
// bytes its fusions must move at the least (p, g, mu, nu read; p, mu, nu written; g read again by the norm: 11 × 4
// bytes a param, XLA's CPU backend making one fusion per output) and the bandwidth that implies. Compare with a
// train step's time (bench/profile/rotate.ts). Starts as `flip run` does (runtime-native/host_start.mjs).
// Usage: npx tsx bench/profile/adamw.ts [calls=9] [--model flip_small|flip_base|flip_large]
import { spec } from '../../compiler/trace/index.ts';
import { flatten, unflatten, type Tensor } from '../../dsl/index.ts';
import { restartForHost } from '../../runtime-native/host_start.mjs';
import { openClient, type Buffer } from '../../runtime-native/index.ts';
import { paramCount } from '../../dsl/nn/index.ts';
import { flipSpecs } from '../../models/flip.ts';
import { compileFunction } from '../../train/compiled.ts';
import { adamwUpdate, gradientNorm } from '../../train/optimizer.ts';
import { paramSpecs, stateSpecs, stepSettings, type TrainState } from '../../train/step.ts';
import { BENCH_CONFIGS, takeModelFlag } from '../plan.ts';

restartForHost();
const args = process.argv.slice(2);
const model = takeModelFlag(args);
const calls = Number(args[0] ?? 9);
if (!model || !Number.isInteger(calls) || calls < 2) {
  console.error(`adamw: usage: npx tsx bench/profile/adamw.ts [calls ≥ 2] [--model ${Object.keys(BENCH_CONFIGS).join('|')}]`);
  process.exit(2);
}
const { name: modelName, config } = model;
const settings = stepSettings(config);
const client = await openClient({ target: 'cpu', devices: 1 });
const f = await compileFunction(
  (state: TrainState<unknown>, grads: unknown, t: Tensor<'f32', readonly []>, lr: Tensor<'f32', readonly []>) => {
    const up = adamwUpdate(state.params, grads, { mu: state.mu, nu: state.nu }, t, lr, settings.adamw);
    return [{ params: up.params, mu: up.state.mu, nu: up.state.nu }, gradientNorm(grads)];
  },
  [stateSpecs(config.model), paramSpecs(config.model), spec('f32', {}), spec('f32', {})],
  { client, name: 'adamw', donate: [0] },
);
// A tree of every param's shape on the device, filled with `value`.
const specs = flatten<{ shape: number[] }>(paramSpecs(config.model), { isLeaf: (x) => typeof x === 'object' && x !== null && 'shape' in x });
const count = paramCount(flipSpecs(config.model));
const filled = (value: number) => unflatten(specs.treedef, specs.leaves.map((s) =>
  client.toDevice(new Float32Array(s.shape.reduce((x, y) => x * y, 1)).fill(value), s.shape, 'f32')));
const scalarBuffer = (x: number) => client.toDevice(new Float32Array([x]), [], 'f32');
let state: unknown = { params: filled(0.02), mu: filled(0), nu: filled(0) };
const grads = filled(1e-3);
const times: number[] = [];
for (let i = 0; i < calls; i++) {
  const t0 = performance.now();
  const [next, norm] = (await f.run([state, grads, scalarBuffer(i + 1), scalarBuffer(1e-4)])) as [unknown, Buffer];
  await norm.toHost();
  if (i > 0) times.push((performance.now() - t0) / 1000); // the first call faults the outputs' memory in
  state = next;
}
times.sort((a, b) => a - b);
const med = times[times.length >> 1]!;
const bytes = 11 * 4 * count;
console.log(`${modelName}: AdamW + gradient norm over ${(count / 1e6).toFixed(1)}M params: ${(med * 1000).toFixed(0)} ms ` +
  `(${(times[0]! * 1000).toFixed(0)}-${(times.at(-1)! * 1000).toFixed(0)}, ${times.length} calls); ` +
  `${(bytes / 1e9).toFixed(2)} GB moved at the least, ${(bytes / med / 1e9).toFixed(1)} GB/s`);
client.dispose();
