// grad / valueAndGrad / stopGradient / checkpoint from the DSL, at top level and nested, run with jit on the CPU plugin.
import { describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/index.ts';
import { traceFunc, spec, type Tensor } from '../../dsl/index.ts';
import { checkpoint, grad, stopGradient, valueAndGrad } from '../../dsl/transforms.ts';
import { hostTensor, jit, type DeviceTensor } from '../../programs/jit.ts';

type V = Tensor<'f64', readonly ['n']>;
const vec = (xs: number[]) => hostTensor('f64', { n: xs.length }, Float64Array.from(xs));
const host = async (t: DeviceTensor) => [...(await t.toHost() as Float64Array)];
const close = (got: number[], want: number[], tol = 1e-12) => {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `element ${i}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!))));
};

const xs = [0.3, -1.2, 2.0], ws = [1.5, 0.5, -0.7];

describe('grad and valueAndGrad', () => {
  it('differentiates a scalar loss with respect to argnums, returning the argument structure', async () => {
    const loss = (x: V, w: V) => x.sin().mul(w).sum();
    const [gx, gw] = await jit(grad(loss, { argnums: [0, 1] }))(vec(xs), vec(ws));
    close(await host(gx), xs.map((x, i) => Math.cos(x) * ws[i]!));
    close(await host(gw), xs.map(Math.sin));
    const gwOnly = await jit(grad(loss, { argnums: 1 }))(vec(xs), vec(ws));
    close(await host(gwOnly), xs.map(Math.sin));
  });

  it('takes pytrees of params, keeping their structure and static leaves', async () => {
    type P = { layers: { w: V; b: V }[]; scale: V; name: string };
    const loss = (p: P, x: V) => p.layers.reduce((h: V, l) => h.mul(l.w).add(l.b).tanh(), x).mul(p.scale).sum();
    const params = { layers: [{ w: vec(ws), b: vec([0.1, 0.2, 0.3]) }, { w: vec([0.9, -0.4, 0.2]), b: vec([0, 0, 0.5]) }], scale: vec([1, 2, 3]), name: 'mlp' };
    const g = await jit(grad(loss))(params, vec(xs));
    expect(Object.keys(g)).toEqual(['layers', 'scale', 'name']);
    expect(g.name).toBe('mlp');
    // By hand: h1 = tanh(x·w0 + b0), h2 = tanh(h1·w1 + b1), L = Σ h2·s.
    const w0 = ws, b0 = [0.1, 0.2, 0.3], w1 = [0.9, -0.4, 0.2], b1 = [0, 0, 0.5], s = [1, 2, 3];
    const h1 = xs.map((x, i) => Math.tanh(x * w0[i]! + b0[i]!));
    const h2 = h1.map((h, i) => Math.tanh(h * w1[i]! + b1[i]!));
    const d2 = h2.map((h, i) => s[i]! * (1 - h * h));
    const d1 = h1.map((h, i) => d2[i]! * w1[i]! * (1 - h * h));
    close(await host(g.scale), h2);
    close(await host(g.layers[1]!.w), d2.map((d, i) => d * h1[i]!));
    close(await host(g.layers[1]!.b), d2);
    close(await host(g.layers[0]!.w), d1.map((d, i) => d * xs[i]!));
    close(await host(g.layers[0]!.b), d1);
  });

  it('returns the value and aux with hasAux, and nests: grad of grad, grad closing over an outer tensor', async () => {
    const f = (x: V) => [x.mul(x).mul(x).sum(), { doubled: x.mul(2) }] as const;
    const [[value, aux], g] = await jit(valueAndGrad(f, { hasAux: true }))(vec(xs));
    close(await host(value), [xs.reduce((s, x) => s + x ** 3, 0)]);
    close(await host(aux.doubled), xs.map((x) => 2 * x));
    close(await host(g), xs.map((x) => 3 * x * x));
    // Second order: d/dx Σ 3x² = 6x.
    const secondOrder = grad((x: V) => grad((y: V) => y.mul(y).mul(y).sum())(x).sum());
    close(await host(await jit(secondOrder)(vec(xs))), xs.map((x) => 6 * x));
    // An inner grad that closes over w from the outer trace (captured), inside an outer valueAndGrad over w.
    const outer = valueAndGrad((w: V, x: V) => grad((y: V) => y.mul(w).sin().sum())(x).mul(w).sum());
    const [v, gw] = await jit(outer)(vec(ws), vec(xs));
    // v = Σ cos(x w) w², dv/dw = Σ -sin(xw) x w² + 2w cos(xw)
    close(await host(v), [xs.reduce((s, x, i) => s + Math.cos(x * ws[i]!) * ws[i]! ** 2, 0)]);
    close(await host(gw), xs.map((x, i) => -Math.sin(x * ws[i]!) * x * ws[i]! ** 2 + 2 * ws[i]! * Math.cos(x * ws[i]!)));
  });

  it('treats stopGradient as a constant', async () => {
    const g = await jit(grad((x: V) => stopGradient(x).mul(x).sum()))(vec(xs));
    close(await host(g), xs);
    const both = await jit(grad((x: V) => x.mul(x).sum()))(vec(xs));
    close(await host(both), xs.map((x) => 2 * x));
  });

  it('gives the same value and gradients with checkpoint, for every policy', async () => {
    const block = (h: Tensor<'f64', readonly ['b', 'n']>, w: Tensor<'f64', readonly ['n', 'm']>) =>
      h.dot(w, { contract: ['n'] }).tanh().dot(w, { contract: ['m'] }).add(h);
    const mk = (policy?: 'nothing_saveable' | 'dots_with_no_batch_dims_saveable' | 'everything_saveable') => {
      const layer = policy ? checkpoint(block, { policy }) : block;
      return valueAndGrad((w: Tensor<'f64', readonly ['n', 'm']>, x: Tensor<'f64', readonly ['b', 'n']>) => layer(layer(x, w), w).square().mean());
    };
    const w = hostTensor('f64', { n: 3, m: 2 }, Float64Array.from([0.2, -0.5, 0.7, 0.1, -0.3, 0.4]));
    const x = hostTensor('f64', { b: 2, n: 3 }, Float64Array.from([1, 2, -1, 0.5, -0.2, 0.3]));
    const [v0, g0] = await jit(mk())(w, x);
    for (const policy of ['nothing_saveable', 'dots_with_no_batch_dims_saveable', 'everything_saveable'] as const) {
      const [v, g] = await jit(mk(policy))(w, x);
      close(await host(v), await host(v0));
      close(await host(g), await host(g0));
    }
  });
});

describe('grad errors', () => {
  const at = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(FlipError);
      return (e as Error).message;
    }
    throw new Error('expected a FlipError');
  };

  it('names the function and the returned type when the output is not a scalar float', () => {
    function perExample(x: V) {
      return x.square();
    }
    const msg = at(() => traceFunc(grad(perExample), [spec('f64', { n: 3 })]));
    expect(msg).toMatch(/grad\(perExample\): the function must return a scalar float tensor, but it returned f64\[n=3\]/);
    expect(msg).toMatch(/transforms\.test\.ts:\d+/);
    const count = (x: V) => x.gt(0).astype('i32').sum();
    expect(at(() => traceFunc(grad(count), [spec('f64', { n: 3 })]))).toMatch(/grad\(count\): .* returned i32\[\]/);
    const two = (x: V) => [x.sum(), x.sum()];
    expect(at(() => traceFunc(grad(two as never), [spec('f64', { n: 3 })]))).toMatch(/grad\(two\): the function must return one scalar float tensor, got \[\*, \*\]/);
  });

  it('names the function and the integer argument (path, dtype, shape)', () => {
    function embed(table: Tensor<'f64', readonly ['vocab', 'embed']>, batch: { ids: Tensor<'i32', readonly ['batch']> }) {
      return table.take(batch.ids, 'vocab').sum();
    }
    const specs = [spec('f64', { vocab: 5, embed: 2 }), { ids: spec('i32', { batch: 4 }) }];
    const msg = at(() => traceFunc(grad(embed, { argnums: [0, 1] }), specs));
    expect(msg).toMatch(/grad\(embed\): cannot differentiate with respect to argument 'batch\.ids', a i32\[batch=4\] tensor/);
    // Differentiating only the table is fine: integer inputs simply get no gradient.
    expect(() => traceFunc(grad(embed), specs)).not.toThrow();
  });
});
