// The compiled train step: one XLA program (forward, loss, gradients, AdamW, lr schedule) whose state inputs are
// donated (aliased to the new state), with the masking key folded with the step number.
import { afterAll, describe, expect, it } from 'vitest';
import { flatten, unflatten } from '../../compiler/trace/index.ts';
import tiny from '../../configs/flip_tiny.ts';
import { openClient, type Buffer, type Client } from '../../runtime-native/index.ts';
import { compileFunction } from '../../train/compiled.ts';
import { FLIP_ADAMW } from '../../train/optimizer.ts';
import { learningRate, makeSchedule } from '../../train/schedule.ts';
import { batchSpecs, initState, stateSpecs, stepSpec, optimizerStep } from '../../train/step.ts';

let client: Client | undefined;
afterAll(() => client?.dispose());

describe('train step', () => {
  it('is one program that donates its state, draws masks from fold_in(key, step), and reports the scheduled lr', async () => {
    client = await openClient({ target: 'cpu', devices: 1 });
    const m = { ...tiny.model, txt: { ...tiny.model.txt, vocabSize: 64 } };
    const B = 4;
    const schedule = makeSchedule({ learning_rate: 1e-3, batch_size: B, warmup_epochs: 1, num_epochs: 3, warmup_abs_lr: 0, min_abs_lr: 0, samples_per_epoch: 16 });
    const step = await compileFunction(optimizerStep({ model: m, schedule, adamw: FLIP_ADAMW, excludeWd: true, seed: 0 }),
      [stateSpecs(m), batchSpecs(m, B), stepSpec()], { client, name: 'train_step', donate: [0], optLevel: 0 });
    const init = await compileFunction(() => initState(0, m), [], { client, name: 'init_state', optLevel: 0 });
    const nState = flatten(stateSpecs(m)).leaves.length;
    expect(step.donated).toEqual(Array.from({ length: nState }, (_, i) => i));
    expect(step.mlir.match(/tf\.aliasing_output = \d+ : i32/g)).toHaveLength(nState);

    const S = m.img.imageSize, L = m.txt.maxLen;
    const image = Float32Array.from({ length: B * S * S * 3 }, (_, i) => Math.sin(i * 0.37));
    const txt = Int32Array.from({ length: B * L }, (_, i) => (i * 7) % 60);
    const batch = () => ({
      image: client!.toDevice(image, [B, S, S, 3], 'f32'),
      txt: client!.toDevice(txt, [B, L], 'i32'),
      txtIsValid: client!.toDevice(new Int32Array(B * L).fill(1), [B, L], 'i32'),
    });
    const run = async (t: number) => {
      const state = await init.run([]);
      const inputs = flatten<Buffer>(state).leaves;
      const [next, metrics] = (await step.run([state, batch(), client!.toDevice(new Int32Array([t]), [], 'i32')])) as [unknown, Record<string, Buffer>];
      const read = async (b: Buffer) => ((await b.toHost()) as Float32Array)[0]!;
      return { inputs, next, loss: await read(metrics.loss!), lr: await read(metrics.lr!), tau: await read(metrics.tau!) };
    };
    const a = await run(2), b = await run(2), c = await run(3);
    // Donated: every state input buffer was consumed, and the new state came back in its place.
    expect(a.inputs.every((x) => x.donated)).toBe(true);
    const nextLeaves = flatten<Buffer>(a.next).leaves;
    expect(nextLeaves).toHaveLength(nState);
    expect(unflatten(flatten(stateSpecs(m)).treedef, nextLeaves)).toBeTruthy();
    // Same step, same draws; another step, another mask.
    expect(b.loss).toBe(a.loss);
    expect(c.loss).not.toBe(a.loss);
    expect(a.lr).toBeCloseTo(learningRate(schedule, 2), 9);
    expect(c.lr).toBeCloseTo(learningRate(schedule, 3), 9);
    expect(a.tau).toBeCloseTo(0.07, 6);
  });
});
