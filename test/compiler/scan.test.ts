// The scan primitive end to end: DSL `scan` → IR → VJP (forward saves residuals, backward is a reverse scan) →
// stablehlo.while on the CPU plugin, checked against the same computation unrolled in JS-level code.
import { describe, expect, it } from 'vitest';
import { FlipError, printFunc, verifyFunc, type Func, type PrimAttrs } from '../../compiler/ir/index.ts';
import { simplify } from '../../compiler/passes/index.ts';
import { emitFunc } from '../../compiler/stablehlo/index.ts';
import { spec, traceFunc, type Tensor } from '../../dsl/index.ts';
import { checkpoint, grad, scan, valueAndGrad } from '../../dsl/transforms.ts';
import { hostTensor, jit, type DeviceTensor } from '../../programs/jit.ts';

type H = Tensor<'f64', readonly ['n']>;
type Wl = Tensor<'f64', readonly ['n', 'm']>;
type W = Tensor<'f64', readonly ['layers', 'n', 'm']>;
const L = 4, N = 3;

const rand = (seed: number, n: number) => {
  let s = seed;
  return Float64Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1);
};
const ws = hostTensor('f64', { layers: L, n: N, m: N }, rand(1, L * N * N).map((x) => x * 0.8));
const h0 = hostTensor('f64', { n: N }, rand(2, N));
const bias = hostTensor('f64', { n: N }, rand(3, N).map((x) => x * 0.3));
const host = async (t: DeviceTensor) => [...(await t.toHost() as Float64Array)];
const close = (got: number[], want: number[], tol = 1e-12) => {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `element ${i}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!))));
};

/** One layer: h ← tanh(h·W + b); its y is Σh scaled by the layer index + 1. */
const layer = (h: H, w: Wl, b: H): H => h.dot(w, { contract: ['n'] }).rename('m', 'n').add(b).tanh();

function scanned(policy?: 'nothing_saveable' | 'dots_with_no_batch_dims_saveable', reverse = false) {
  return (w: W, h: H, b: H) => {
    const body = (c: H, wl: Wl, i: Tensor<'i32', readonly []>) => {
      const next = policy ? checkpoint(layer, { policy })(c, wl, b) : layer(c, wl, b);
      return [next, next.sum().mul(i.astype('f64').add(1))] as const;
    };
    const [hl, ys] = scan(body, h, w, { axis: 'layers', reverse });
    return hl.sum().add(ys.mul(ys).sum());
  };
}
function unrolled(reverse = false) {
  return (w: W, h: H, b: H) => {
    let c = h;
    const ys: Tensor<'f64', readonly []>[] = [];
    const order = [...Array(L).keys()];
    for (const l of reverse ? order.reverse() : order) {
      c = layer(c, w.slice('layers', l, l + 1).reshape({ n: N, m: N }) as Wl, b);
      ys.push(c.sum().mul(l + 1));
    }
    return ys.reduce((acc, y) => acc.add(y.mul(y)), c.sum());
  };
}

const scans = (f: Func): number => f.ops.reduce((n, op) => n + (op.prim === 'scan' ? 1 + scans((op.attrs as PrimAttrs['scan']).body) : 0), 0);

describe('scan', () => {
  it('runs a loop of matmuls as one stablehlo.while and matches the unrolled loop, forward and reversed', async () => {
    for (const reverse of [false, true]) {
      const [a, b] = await Promise.all([jit(scanned(undefined, reverse))(ws, h0, bias), jit(unrolled(reverse))(ws, h0, bias)]);
      close(await host(a), await host(b));
    }
    const traced = traceFunc(scanned(), [spec('f64', { layers: L, n: N, m: N }), spec('f64', { n: N }), spec('f64', { n: N })]);
    expect(verifyFunc(traced.func)).toEqual([]);
    expect(scans(traced.func)).toBe(1);
    const text = emitFunc(simplify(traced.func));
    expect(text.match(/stablehlo\.while/g)).toHaveLength(1);
    expect(text.match(/stablehlo\.dot_general/g)).toHaveLength(1);
    expect(printFunc(traced.func)).toMatch(/scan\(.*\{body=@body/);
  });

  it('differentiates through the loop: grads of the stacked weights, the carry init and a closed-over tensor match the unrolled loop', async () => {
    const want = await jit(valueAndGrad(unrolled(), { argnums: [0, 1, 2] }))(ws, h0, bias);
    for (const policy of [undefined, 'nothing_saveable', 'dots_with_no_batch_dims_saveable'] as const) {
      const got = await jit(valueAndGrad(scanned(policy), { argnums: [0, 1, 2] }))(ws, h0, bias);
      close(await host(got[0]), await host(want[0]));
      for (let k = 0; k < 3; k++) close(await host(got[1][k]!), await host(want[1][k]!), 1e-11);
    }
    const reversed = await jit(grad(scanned(undefined, true)))(ws, h0, bias);
    close(await host(reversed), await host(await jit(grad(unrolled(true)))(ws, h0, bias)), 1e-11);
  });

  it('saves the body residuals per iteration (no recomputation) unless a checkpoint inside the body says otherwise', () => {
    const specs = [spec('f64', { layers: L, n: N, m: N }), spec('f64', { n: N }), spec('f64', { n: N })];
    const residuals = (policy?: 'nothing_saveable') => {
      const f = simplify(traceFunc(grad(scanned(policy)), specs).func);
      expect(verifyFunc(f)).toEqual([]);
      const loops = f.ops.filter((o) => o.prim === 'scan').map((o) => o.attrs as PrimAttrs['scan']);
      expect(loops).toHaveLength(2);
      expect(loops.map((a) => a.reverse ?? false)).toEqual([false, true]);
      // forward: the carry and the y, then the residuals; the backward recomputes only under the checkpoint.
      const fwd = loops[0]!, bwd = loops[1]!;
      const dots = (g: Func) => g.ops.filter((o) => o.prim === 'dot_general').length;
      return { saved: fwd.body.results.length - 2, bwdDots: dots(bwd.body) };
    };
    const plain = residuals(), remat = residuals('nothing_saveable');
    expect(plain.bwdDots).toBe(2); // ∂h and ∂W: the forward matmul is not redone
    expect(remat.bwdDots).toBe(3); // the forward matmul recomputed, then ∂h and ∂W
    expect(remat.saved).toBeLessThan(plain.saved);
  });

  it('refuses bad loops with one line', () => {
    const specs = [spec('f64', { layers: L, n: N, m: N }), spec('f64', { n: N })];
    // @ts-expect-error the carry must come back with its type: tsc sees it, and so does the trace
    expect(() => traceFunc((w: W, h: H) => scan((c: H, wl: Wl) => [c.sum(), wl] as const, h, w)[0], specs)).toThrow(/carry leaf '<root>' comes back as f64\[\], but it went in as f64\[n=3\]/);
    expect(() => traceFunc((w: W, h: H) => scan((c: H) => [c, c] as const, h, w, { length: 5 })[0], specs)).toThrow(FlipError);
    expect(() => traceFunc((h: H) => scan((c: H) => [c, c] as const, h, [])[0], [spec('f64', { n: N })])).toThrow(/no xs to scan over; give opts.length/);
  });
});
