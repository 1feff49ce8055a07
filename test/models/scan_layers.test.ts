// `transformer.scanLayers`: the encoder blocks as one loop (scan → stablehlo.while) give the unrolled model's loss,
// gradients and random draws on flip_tiny (with dropout, drop-path linear in depth, and remat), in a much smaller program.
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/lower/index.ts';
import { MeshError, mesh } from '../../compiler/passes/index.ts';
import { override } from '../../configs/official.ts';
import tiny from '../../configs/flip_tiny.ts';
import type { FlipModelConfig, RematName } from '../../configs/types.ts';
import { flatten } from '../../dsl/index.ts';
import { isParamSpec } from '../../dsl/nn/index.ts';
import { key, uniform, type Key } from '../../dsl/random.ts';
import { batchSpecs, checkModelConfig, flipSpecs, forward, initParams, trainLossAndGrads, type FlipBatch, type FlipParams } from '../../models/flip.ts';
import { jit, type DeviceTensor } from '../../programs/jit.ts';

const B = 4;
function model(scanLayers: boolean, opts: { layers?: number; remat?: RematName; dropout?: number } = {}): FlipModelConfig {
  const tr = { numLayers: opts.layers ?? 3, dropoutRate: opts.dropout ?? 0.1, attentionDropoutRate: 0, droppathRate: opts.dropout ?? 0.2, remat: opts.remat ?? 'none', scanLayers };
  return override(tiny.model, { img: { transformer: tr }, txt: { transformer: tr } });
}

const steps = new Map<FlipModelConfig, ReturnType<typeof step>>();
const step = (m: FlipModelConfig) => jit((p: FlipParams, b: FlipBatch, rng: Key) => trainLossAndGrads(p, b, rng, m));
const jitted = (m: FlipModelConfig) => {
  let s = steps.get(m);
  if (!s) steps.set(m, (s = step(m)));
  return s;
};
const numbers = async (t: DeviceTensor) => Array.from(await t.toHost() as Float32Array, Number);
const leaves = (x: unknown) => flatten(x).leaves as DeviceTensor[];

async function lossAndGrads(m: FlipModelConfig, params: FlipParams, batch: FlipBatch, seed = 7) {
  const out = await jitted(m)(params as never, batch as never, await jit(() => key(seed))() as never);
  return { loss: (await numbers(out.loss))[0]!, grads: await Promise.all(leaves(out.grads).map(numbers)), names: flatten(out.grads).paths };
}

describe('scanLayers', () => {
  it('trainLossAndGrads equals the unrolled model (loss and every gradient leaf), with dropout, drop-path and remat', async () => {
    const m0 = model(false);
    const params = await jit(() => initParams(key(0), m0))();
    const batch = await jit(() => ({
      image: uniform(key(1), { batch: B, height: 32, width: 32, channels: 3 }),
      txt: uniform(key(2), { batch: B, length: 8 }).mul(63).floor().astype('i32').add(1),
      txtIsValid: uniform(key(3), { batch: B, length: 8 }).mul(2).floor().astype('i32'),
    }))();
    const want = await lossAndGrads(m0, params as never, batch as never);
    for (const remat of ['none', 'minimal'] as const) {
      const got = await lossAndGrads(model(true, { remat }), params as never, batch as never);
      expect(got.names).toEqual(want.names);
      expect(Math.abs(got.loss - want.loss), `${remat}: loss ${got.loss} vs ${want.loss}`).toBeLessThan(1e-5 * Math.abs(want.loss));
      // Relative to the leaf's largest gradient, but at least 1e-4 of the largest of all, for leaves whose gradient is
      // zero in exact arithmetic (the attention key bias: softmax does not see it) and only rounding noise in f32.
      const all = Math.max(...want.grads.map((w) => Math.max(...w.map(Math.abs))));
      want.grads.forEach((w, i) => {
        const scale = Math.max(...w.map(Math.abs), 1e-4 * all);
        const worst = Math.max(...got.grads[i]!.map((g, k) => Math.abs(g - w[k]!)));
        expect(worst / scale, `${remat}: ${want.names[i]}`).toBeLessThan(2e-4);
      });
    }
    // Another rng → another loss (the draws matter, so the equality above is not a coincidence).
    const other = await lossAndGrads(m0, params as never, batch as never, 8);
    expect(Math.abs(other.loss - want.loss)).toBeGreaterThan(1e-4);
  });

  it('emits one stablehlo.while over the layers per tower (one more each for the backward) and a much smaller module', () => {
    const text = (scan: boolean, entry: 'forward' | 'train') => {
      const m = model(scan, { layers: 8, dropout: 0 });
      const specs = [flipSpecs(m), batchSpecs(m, B)] as const;
      const p = entry === 'forward'
        ? lower((ps: FlipParams, b: FlipBatch) => forward(ps, b, m).loss, specs)
        : lower((ps: FlipParams, b: FlipBatch, rng: never) => trainLossAndGrads(ps, b, rng, m), [...specs, { dtype: 'u32', shape: [2], axes: ['key'] }]);
      return p.mlir;
    };
    const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;
    const ops = (s: string) => count(s, / = "?stablehlo\./g);
    // Trip counts of the loops: 8 for a loop over the layers; 2 for the loop that makes the stacking's offsets.
    const trips = (s: string) => [...s.matchAll(/cond \{\n\s*%\S+ = stablehlo\.constant dense<(\d+)> : tensor<i32>/g)].map((m) => Number(m[1])).sort();
    expect(trips(text(true, 'forward'))).toEqual([2, 2, 8, 8]);
    const [scanned, unrolled] = [text(true, 'train'), text(false, 'train')];
    expect(trips(scanned)).toEqual([2, 2, 8, 8, 8, 8]);
    expect(count(unrolled, /stablehlo\.while/g)).toBe(0);
    // 8 layers per tower: the scanned step has a fraction of the unrolled one's computing ops (one block body, forward
    // and backward). What remains per layer is moving data: each layer's params go into the stack and their gradients
    // come out (reshape, dynamic_update_slice, dynamic_slice), one kernel per param shape for all layers in XLA.
    const moving = (s: string) => count(s, / = "?stablehlo\.(reshape|dynamic_slice|dynamic_update_slice|constant|slice)\b/g);
    const computing = (s: string) => ops(s) - moving(s);
    expect(computing(scanned) * 3, `${computing(scanned)} vs ${computing(unrolled)}`).toBeLessThan(computing(unrolled));
    expect(count(scanned, /stablehlo\.dot_general/g) * 4).toBeLessThan(count(unrolled, /stablehlo\.dot_general/g));
  });

  it('keeps the official param tree; a bad value or a mesh of several devices is one line naming the field', () => {
    const paths = (m: FlipModelConfig) => flatten(flipSpecs(m), { isLeaf: isParamSpec }).paths;
    expect(paths(model(true))).toEqual(paths(model(false)));
    expect(() => checkModelConfig({ ...model(false), img: { ...model(false).img, transformer: { ...model(false).img.transformer, scanLayers: 'yes' as never } } }))
      .toThrow(/model\.img\.transformer\.scanLayers must be true or false, got "yes"/);
    const m = model(true, { dropout: 0 });
    expect(() => lower((ps: FlipParams, b: FlipBatch) => forward(ps, b, m).loss, [flipSpecs(m), batchSpecs(m, B)], { mesh: mesh({ data: 2 }) }))
      .toThrow(MeshError);
    expect(() => lower((ps: FlipParams, b: FlipBatch) => forward(ps, b, m).loss, [flipSpecs(m), batchSpecs(m, B)], { mesh: mesh({ data: 2 }) }))
      .toThrow(/scanLayers/);
  });
});
