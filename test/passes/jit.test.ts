// jit: one trace and one compile per input signature (structure, statics, dtype, sizes, axis names), counted.
import { describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/index.ts';
import type { Tensor } from '../../dsl/index.ts';
import { grad, stopGradient } from '../../dsl/transforms.ts';
import { hostTensor, jit } from '../../programs/jit.ts';

type M = Tensor<'f32', readonly ['batch', 'embed']>;
const mat = (rows: number, cols: number, seed = 1) =>
  hostTensor('f32', { batch: rows, embed: cols }, Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(seed + i)));

describe('jit', () => {
  it('traces and compiles once per signature, and again for a new shape, dtype, axis name or static argument', async () => {
    const f = jit((x: M, scale: number) => x.mul(scale).tanh().sum('embed'));
    const out1 = await f(mat(2, 3), 2);
    expect(f.stats).toEqual({ traces: 1, compiles: 1, calls: 1 });
    const out2 = await f(mat(2, 3, 7), 2);
    expect(f.stats).toEqual({ traces: 1, compiles: 1, calls: 2 });
    const h1 = await out1.toHost(), h2 = await out2.toHost();
    expect([...h1]).not.toEqual([...h2]);
    expect(h1[0]).toBeCloseTo([0, 1, 2].reduce((s, i) => s + Math.tanh(2 * Math.fround(Math.sin(1 + i))), 0), 5);
    expect(out1.type).toEqual({ dtype: 'f32', shape: [2], axes: ['batch'] });

    await f(mat(4, 3), 2); // new shape
    expect(f.stats).toMatchObject({ traces: 2, compiles: 2 });
    await f(mat(4, 3), 3); // new static scalar
    expect(f.stats).toMatchObject({ traces: 3, compiles: 3 });
    await f(hostTensor('f32', { rows: 4, embed: 3 }, new Float32Array(12)) as never, 3); // new axis name
    expect(f.stats).toMatchObject({ traces: 4, compiles: 4 });
    await f(hostTensor('f64', { batch: 2, embed: 3 }, new Float64Array(6)) as never, 2); // new dtype
    expect(f.stats).toMatchObject({ traces: 5, compiles: 5 });
    await f(mat(2, 3, 9), 2); // back to the first signature
    expect(f.stats).toEqual({ traces: 5, compiles: 5, calls: 7 });
  });

  it('takes its own outputs back as device inputs without changing the signature', async () => {
    const step = jit((w: M, x: M) => {
      const g = grad((p: M) => p.mul(x).square().sum())(w);
      return w.sub(g.mul(0.1));
    });
    let w = await step(mat(2, 2, 3), mat(2, 2, 5));
    for (let i = 0; i < 3; i++) w = await step(w, mat(2, 2, 5));
    expect(step.stats).toEqual({ traces: 1, compiles: 1, calls: 4 });
    // w ← w − 0.1·2x²w, four times.
    const x = Float32Array.from({ length: 4 }, (_, i) => Math.sin(5 + i));
    const want = Float32Array.from({ length: 4 }, (_, i) => Math.sin(3 + i)).map((w0, i) => w0 * (1 - 0.2 * x[i]! ** 2) ** 4);
    [...(await w.toHost())].forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
  });

  it('lowers without stop-gradient barriers and without dead forward code', async () => {
    const f = jit((x: M) => {
      x.exp(); // dead
      return grad((y: M) => stopGradient(y).mul(y).sum())(x);
    });
    const { mlir, func } = await f.lower(mat(2, 2));
    expect(mlir).not.toContain('optimization_barrier');
    expect(mlir).not.toContain('exponential');
    expect(func.ops.map((o) => o.prim)).toEqual([]); // d/dy Σ stop(y)·y = y: just the parameter
    expect(f.stats).toMatchObject({ traces: 1, compiles: 1 });
  });

  it('refuses arguments that are not host or device tensors, and a call from inside a trace', async () => {
    const f = jit(function total(x: M) {
      return x.sum();
    });
    expect(() => f(new Float32Array(4) as never)).toThrow(FlipError);
    expect(() => f(new Float32Array(4) as never)).toThrow(/jit\(total\): argument leaf '0' must be a HostTensor or DeviceTensor/);
    const outer = jit((x: M) => f(x as never) as never);
    expect(() => outer(mat(2, 2))).toThrow(/jit\(total\) was called while tracing/);
  });
});
