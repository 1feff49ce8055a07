// config.model.rngPartitionable: the model's draws (patch masks, dropout) use JAX's partitionable threefry bits instead
// of the classic ones. The bits themselves are checked against jax.random in test/dsl/random.test.ts; here: the model
// passes the choice down to every draw (the mask is the argsort of the partitionable uniform of its module's key).
import { describe, expect, it } from 'vitest';
import tiny from '../../configs/flip_tiny.ts';
import { override } from '../../configs/official.ts';
import { argsort } from '../../dsl/index.ts';
import { makeRng } from '../../dsl/nn/index.ts';
import { key, uniform } from '../../dsl/random.ts';
import { Flip, initParams, type FlipBatch, type FlipParams } from '../../models/flip.ts';
import { hostTensor, jit } from '../../programs/jit.ts';

describe('config.model.rngPartitionable', () => {
  it('draws the patch mask from the partitionable bits of the image tower\'s key (and the classic bits by default)', async () => {
    const B = 2, S = tiny.model.img.imageSize, L = (S / tiny.model.img.patchSize[0]) ** 2;
    const image = hostTensor('f32', { batch: B, height: S, width: S, channels: 3 }, Float32Array.from({ length: B * S * S * 3 }, (_, i) => Math.sin(i)));
    const txt = hostTensor('i32', { batch: B, length: tiny.model.txt.maxLen }, Int32Array.from({ length: B * tiny.model.txt.maxLen }, (_, i) => i % 7));
    const params = await jit(() => initParams(key(0), tiny.model))();
    const masks = async (partitionable: boolean) => {
      const model = override({ ...tiny, model: { ...tiny.model } }, { model: { rngPartitionable: partitionable } }).model;
      const f = jit((p: FlipParams, image: FlipBatch['image'], txt: FlipBatch['txt']) => {
        const ctx = { train: true, rng: key(5), ...(partitionable ? { partitionable: true } : {}) };
        const { masking } = new Flip(model).loss(p, { image, txt, txtIsValid: txt }, ctx);
        const own = makeRng({ train: true, rng: key(5), path: ['img_encoder'] });
        const expected = argsort(argsort(uniform(own, { batch: B, length: L }, { partitionable }), 'length'), 'length');
        return [masking!.idsRestore, expected];
      });
      const [got, want] = await f(params as never, image, txt);
      return [Array.from((await got!.toHost()) as Int32Array), Array.from((await want!.toHost()) as Int32Array)];
    };
    const [classic, classicWant] = await masks(false);
    const [part, partWant] = await masks(true);
    expect(classic).toEqual(classicWant);
    expect(part).toEqual(partWant);
    expect(part).not.toEqual(classic);
    expect(override(tiny, {}).model.rngPartitionable).toBe(false);
  });
});
