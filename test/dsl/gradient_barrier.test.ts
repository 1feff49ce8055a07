// gradientBarrier (dsl/transforms.ts): the identity whose cotangent autodiff computes once, behind an
// optimization_barrier. Gradients unchanged, the forward identity gone before lowering. What XLA makes of it (the
// residual stream's gradient no longer re-summed inside each consumer) is test/lammps/gradient_barrier.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/lower/index.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { opsOf, trace } from './helpers.ts';
import { DEPTH, runStack, specs, stack } from './residual_stack.ts';

describe('gradientBarrier in the IR', () => {
  it('puts the cotangent behind a plain barrier; the forward identity is dropped when lowering', () => {
    const f = trace(stack(true), specs);
    const barriers = opsOf(f, 'optimization_barrier');
    const marked = (o: (typeof barriers)[number]) => (o.attrs as { gradientBarrier?: boolean }).gradientBarrier === true;
    expect(barriers.filter(marked)).toHaveLength(DEPTH);
    // One per block whose input has a cotangent to pass on (the first block's input, x, is not differentiated).
    expect(barriers.filter((o) => !marked(o))).toHaveLength(DEPTH - 1);
    expect(lower(stack(true), specs, { name: 'stack' }).mlir.match(/stablehlo\.optimization_barrier/g)).toHaveLength(DEPTH - 1);
    expect(lower(stack(false), specs, { name: 'stack' }).mlir).not.toContain('optimization_barrier');
  });
});

describe('gradientBarrier on the CPU plugin', () => {
  let client: Client;
  beforeAll(async () => {
    client = await openClient({ target: 'cpu', devices: 1 });
  });
  afterAll(() => client.dispose());

  it('the gradients are the same with and without it', async () => {
    const plain = await runStack(client, false), kept = await runStack(client, true);
    for (let l = 0; l < DEPTH; l++) {
      const a = plain.grads[l]!, b = kept.grads[l]!;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (Math.abs(a[i]!) + 1e-3));
      expect(worst).toBeLessThan(1e-5);
    }
  });
});
