// Every differentiable primitive's VJP against central finite differences in f64, on random shapes, attributes and
// inputs, run through the real PJRT CPU plugin (emitter → compile → run).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FuncBuilder, PRIMS, numElements, tensorType, type Prim } from '../../compiler/ir/index.ts';
import { vjpFunc } from '../../compiler/passes/index.ts';
import { compile, evaluate, run } from './device.ts';
import { PRIM_CASES, rng, type PrimCase } from './prim_cases.ts';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const gaussian = (r: () => number, n: number) =>
  Float64Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));

/**
 * With random cotangents c and random directions v: ⟨grad, v⟩ from the VJP must equal
 * (L(x + εv) − L(x − εv)) / 2ε where L(x) = Σ_k ⟨c_k, f_k(x)⟩. The VJP function also returns f, so one compile serves both.
 */
async function checkCase(c: PrimCase, seed: number): Promise<void> {
  const g = vjpFunc(c.func, { wrt: c.wrt });
  const exe = await compile(g);
  const r = rng(seed);
  const cts = c.func.results.map((res) => gaussian(r, numElements(res.type.shape)));
  const xs = c.params.map((p) => p.values);
  const out = await run(g, exe, [...xs, ...cts]);
  const grads = out.slice(c.func.results.length);
  const L = (o: Float64Array[]) => o.slice(0, cts.length).reduce((s, y, k) => s + dot(y, cts[k]!), 0);
  const eps = c.eps ?? 1e-5, tol = c.tol ?? 1e-6;
  for (let dir = 0; dir < 2; dir++) {
    const vs = c.wrt.map((i) => gaussian(r, c.params[i]!.values.length));
    const shifted = (sign: number) => xs.map((x, i) => {
      const k = c.wrt.indexOf(i);
      return k < 0 ? x : Float64Array.from(x, (xi, j) => xi + sign * eps * vs[k]![j]!);
    });
    const [plus, minus] = await Promise.all([run(g, exe, [...shifted(1), ...cts]), run(g, exe, [...shifted(-1), ...cts])]);
    const fd = (L(plus) - L(minus)) / (2 * eps);
    const analytic = grads.reduce((s, gr, k) => s + dot(gr, vs[k]!), 0);
    if (!(Math.abs(fd - analytic) <= tol * (1 + Math.abs(analytic))))
      throw new Error(`${c.name}: ⟨vjp, v⟩ = ${analytic} but finite differences give ${fd}\nshapes ${c.params.map((p) => `[${p.type.shape}]`).join(' ')}`);
  }
  exe.dispose();
}

const differentiable = PRIMS.filter((p): p is Prim => PRIM_CASES[p] !== 'nondiff');

describe('VJP rules against finite differences on the CPU plugin', () => {
  for (const prim of differentiable) {
    it(prim, async () => {
      const arb = PRIM_CASES[prim] as fc.Arbitrary<PrimCase>;
      await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 1, max: 1e9 }), checkCase), { numRuns: 6, seed: 20240601 });
    });
  }

  it('gives exactly zero through piecewise-constant and integer ops (sign, floor, ceil, round, convert to int)', async () => {
    const b = new FuncBuilder('steps');
    const x = b.param(tensorType('f64', [5], ['a']));
    const parts = [
      b.emit1('sign', [x], {}), b.emit1('floor', [x], {}), b.emit1('ceil', [x], {}), b.emit1('round_nearest_even', [x], {}),
      b.emit1('convert', [b.emit1('convert', [x], { dtype: 'i32' })], { dtype: 'f64' }),
    ];
    const y = parts.reduce((s, p) => b.emit1('add', [s, p], {}));
    const g = vjpFunc(b.finish([b.emit1('multiply', [y, x], {})]), { wrt: [0] });
    const xs = Float64Array.from([-1.7, -0.2, 0.4, 1.5, 2.6]);
    const [, grad] = await evaluate(g, [xs, Float64Array.from([1, 1, 1, 1, 1])]);
    // d/dx (y(x)·x) = y(x) where y is locally constant.
    const want = [...xs].map((v) => Math.sign(v) + Math.floor(v) + Math.ceil(v) + (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v)) + Math.trunc(v));
    expect([...grad!]).toEqual(want);
  });

  it('splits the cotangent equally among tied maxima and minima, as JAX does', async () => {
    const b = new FuncBuilder('ties');
    const x = b.param(tensorType('f64', [2, 4], ['r', 'c']));
    const y = b.param(tensorType('f64', [2, 4], ['r', 'c']));
    const rmax = b.emit1('reduce', [x], { dims: [1], kind: 'max' });
    const rmin = b.emit1('reduce', [x], { dims: [1], kind: 'min' });
    const emax = b.emit1('maximum', [x, y], {});
    const g = vjpFunc(b.finish([rmax, rmin, emax]), { wrt: [0, 1] });
    const xs = Float64Array.from([1, 3, 3, 2, /* */ 5, 5, 5, 0]);
    const ys = Float64Array.from([1, 0, 4, 2, /* */ 5, 6, 0, 0]);
    const out = await evaluate(g, [xs, ys, Float64Array.from([1, 1]), Float64Array.from([10, 10]), new Float64Array(8).fill(100)]);
    const [gx, gy] = out.slice(3);
    // row 0: max 3 twice (½ each), min 1 once; row 1: max 5 three times (⅓ each), min 0 once. Elementwise ties give ½.
    expect([...gx!]).toEqual([10 + 50, 0.5 + 100, 0.5, 50, 1 / 3 + 50, 1 / 3, 1 / 3 + 100, 10 + 50]);
    expect([...gy!]).toEqual([50, 0, 100, 50, 50, 100, 0, 50]);
  });
});
