// DSL ops computed by XLA on the real CPU plugin agree with plain-TS computations of the same math.
import { describe, expect, it } from 'vitest';
import {
  Tensor, argsort, concat, dot, dynamicSlice, einsum, erf, gelu, layerNorm, logSoftmax, logsumexp, mean, oneHot, pad, softmax, spec, take,
  takeAlongAxis, where,
} from '../../dsl/index.ts';
import { runTraced, uniform } from './device.ts';

/** Max |a − b| / (1 + |b|) over all elements. */
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0, at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!, a = actual[i]!;
    const err = e === a ? 0 : Math.abs(a - e) / (1 + Math.abs(e));
    if (!(err <= worst)) [worst, at] = [err, i];
  }
  expect(worst, `element ${at}: ${actual[at]} vs ${expected[at]}`).toBeLessThanOrEqual(tol);
}

/** erf in f64: its Taylor series for |x| ≤ 2, else 1 − erfc(|x|) by erfc's continued fraction (no cancellation either way). */
function erfRef(x: number): number {
  const a = Math.abs(x);
  if (a > 2) {
    let t = a;
    for (let k = 80; k >= 1; k--) t = a + k / 2 / t;
    return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / t);
  }
  let sum = 0, term = x;
  for (let n = 0; n < 100; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const rows = (a: ArrayLike<number>, n: number) => Array.from({ length: a.length / n }, (_, r) => Array.from(a).slice(r * n, (r + 1) * n));

describe('numerics on the CPU plugin', () => {
  const B = 3, E = 5;
  const x = uniform(B * E, 1, -3, 3);
  type BE = Tensor<'f32', ['batch', 'embed']>;
  const be = spec('f32', { batch: B, embed: E });

  it('softmax, logSoftmax, logsumexp (and −inf rows)', async () => {
    const withInf = Float32Array.from(x);
    withInf.fill(-Infinity, E, 2 * E); // row 1 all −inf
    const [sm, lsm, lse] = await runTraced((t: BE) => [softmax(t, 'embed'), logSoftmax(t, 'embed'), logsumexp(t, 'embed')], [be], [withInf]);
    const exp = rows(x, E).map((r) => {
      const m = Math.max(...r);
      const s = r.reduce((acc, v) => acc + Math.exp(v - m), 0);
      return { p: r.map((v) => Math.exp(v - m) / s), lp: r.map((v) => v - m - Math.log(s)), lse: m + Math.log(s) };
    });
    close(sm!.filter((_, i) => i < E || i >= 2 * E), exp.flatMap((e, r) => (r === 1 ? [] : e.p)), 1e-6);
    close(lsm!.slice(0, E), exp[0]!.lp, 1e-6);
    expect(lse![1]).toBe(-Infinity);
    close([lse![0]!, lse![2]!], [exp[0]!.lse, exp[2]!.lse], 1e-6);
  });

  it('layerNorm with scale and bias', async () => {
    const s = uniform(E, 2), b = uniform(E, 3);
    const [y] = await runTraced((t: BE, sc: Tensor<'f32', ['embed']>, bi: Tensor<'f32', ['embed']>) => layerNorm(t, 'embed', { scale: sc, bias: bi }),
      [be, spec('f32', { embed: E }), spec('f32', { embed: E })], [x, s, b]);
    const expected = rows(x, E).flatMap((r) => {
      const m = r.reduce((a, v) => a + v, 0) / E;
      const v = r.reduce((a, u) => a + (u - m) ** 2, 0) / E;
      return r.map((u, i) => ((u - m) / Math.sqrt(v + 1e-6)) * s[i]! + b[i]!);
    });
    close(y!, expected, 1e-5);
  });

  it('erf matches the true erf to f32 precision; gelu in both forms', async () => {
    const n = 401;
    const xs = Float32Array.from({ length: n }, (_, i) => -6 + (12 * i) / (n - 1));
    const sp = spec('f32', { i: n });
    const [e, gt, ge] = await runTraced((t: Tensor<'f32', ['i']>) => [erf(t), gelu(t), gelu(t, { approximate: false })], [sp], [xs]);
    const ref = Array.from(xs, erfRef);
    close(e!, ref, 2e-7);
    close(gt!, Array.from(xs, (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))), 2e-6);
    close(ge!, Array.from(xs, (v) => 0.5 * v * (1 + erfRef(v / Math.SQRT2))), 2e-6);
  });

  it('argsort is stable, ascending and descending; argmax takes the first maximum', async () => {
    const v = Float32Array.from([3, 1, 2, 1, 3, 0, 5, 5, 4, 5]);
    const sp = spec('f32', { batch: 2, length: 5 });
    const [up, down, am] = await runTraced((t: Tensor<'f32', ['batch', 'length']>) => [argsort(t, 'length'), argsort(t, 'length', { descending: true }), t.argmax('length')],
      [sp], [v]);
    const order = (r: number[], desc: boolean) => r.map((val, i) => [val, i] as const).sort((a, b) => (desc ? b[0] - a[0] : a[0] - b[0]) || a[1] - b[1]).map((p) => p[1]);
    expect(Array.from(up!)).toEqual(rows(v, 5).flatMap((r) => order(r, false)));
    expect(Array.from(down!)).toEqual(rows(v, 5).flatMap((r) => order(r, true)));
    expect(Array.from(am!)).toEqual([0, 1]);
  });

  it('takeAlongAxis keeps the named patches per batch row (FLIP masking); take looks up embeddings', async () => {
    const L = 6, D = 2, K = 3;
    const patches = uniform(2 * L * D, 4);
    const keep = Int32Array.from([5, 0, 3, 1, 1, 4]);
    const [kept] = await runTraced((p: Tensor<'f32', ['batch', 'length', 'embed']>, k: Tensor<'i32', ['batch', 'keep']>) => takeAlongAxis(p, k, 'length'),
      [spec('f32', { batch: 2, length: L, embed: D }), spec('i32', { batch: 2, keep: K })], [patches, keep]);
    const expected: number[] = [];
    for (let b = 0; b < 2; b++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) expected.push(patches[(b * L + keep[b * K + k]!) * D + d]!);
    close(kept!, expected, 0);
    const table = uniform(7 * D, 5);
    const ids = Int32Array.from([6, 0, 2, 2]);
    const [emb] = await runTraced((t: Tensor<'f32', ['vocab', 'embed']>, i: Tensor<'i32', ['batch', 'length']>) => take(t, i, 'vocab'),
      [spec('f32', { vocab: 7, embed: D }), spec('i32', { batch: 2, length: 2 })], [table, ids]);
    close(emb!, Array.from(ids).flatMap((i) => [table[i * D]!, table[i * D + 1]!]), 0);
  });

  it('einsum (attention logits with a transposed output) and dot agree with loops', async () => {
    const Bn = 2, Q = 3, H = 2, K = 4, Kv = 3;
    const q = uniform(Bn * Q * H * Kv, 6), k = uniform(Bn * K * H * Kv, 7);
    const [logits] = await runTraced(
      (a: Tensor<'f32', ['batch', 'q', 'heads', 'kv']>, b: Tensor<'f32', ['batch', 'k', 'heads', 'kv']>) => einsum('batch q heads kv, batch k heads kv -> batch q heads k', a, b),
      [spec('f32', { batch: Bn, q: Q, heads: H, kv: Kv }), spec('f32', { batch: Bn, k: K, heads: H, kv: Kv })], [q, k]);
    const expected: number[] = [];
    for (let b = 0; b < Bn; b++) for (let i = 0; i < Q; i++) for (let h = 0; h < H; h++) for (let j = 0; j < K; j++) {
      let s = 0;
      for (let d = 0; d < Kv; d++) s += q[((b * Q + i) * H + h) * Kv + d]! * k[((b * K + j) * H + h) * Kv + d]!;
      expected.push(s);
    }
    close(logits!, expected, 1e-6);
    const w = uniform(E * 4, 8);
    const [y] = await runTraced((t: BE, m: Tensor<'f32', ['mlp', 'embed']>) => dot(t, m, { contract: ['embed'] }), [be, spec('f32', { mlp: 4, embed: E })], [x, w]);
    const ey: number[] = [];
    for (let b = 0; b < B; b++) for (let m = 0; m < 4; m++) ey.push(Array.from({ length: E }, (_, e) => x[b * E + e]! * w[m * E + e]!).reduce((s, v) => s + v, 0));
    close(y!, ey, 1e-6);
  });

  it('named broadcasting, where, oneHot, mean, concat, pad, dynamicSlice', async () => {
    const yT = uniform(E * B, 9); // [embed, batch]
    const ids = Int32Array.from([2, 0, 7]);
    const [sum, masked, hot, avg, cat, padded, win] = await runTraced(
      (t: BE, u: Tensor<'f32', ['embed', 'batch']>, i: Tensor<'i32', ['batch']>) => [
        t.add(u), where(i.gt(0), t, -1), oneHot(i, 'vocab', 4), mean(t, 'batch'), concat([t, u], 'embed'), pad(t, { embed: [1, 2] }, 9),
        dynamicSlice(t, 'embed', i.slice('batch', 0, 1).reshape({}), 2),
      ],
      [be, spec('f32', { embed: E, batch: B }), spec('i32', { batch: B })], [x, yT, ids]);
    const X = (b: number, e: number) => x[b * E + e]!;
    const Y = (b: number, e: number) => yT[e * B + b]!;
    const grid = (f: (b: number, e: number) => number, w = E) => Array.from({ length: B * w }, (_, n) => f(Math.floor(n / w), n % w));
    close(sum!, grid((b, e) => X(b, e) + Y(b, e)), 1e-6);
    close(masked!, grid((b, e) => (ids[b]! > 0 ? X(b, e) : -1)), 0);
    close(hot!, grid((b, v) => (ids[b] === v ? 1 : 0), 4), 0);
    close(avg!, Array.from({ length: E }, (_, e) => (X(0, e) + X(1, e) + X(2, e)) / 3), 1e-6);
    close(cat!, grid((b, e) => (e < E ? X(b, e) : Y(b, e - E)), 2 * E), 0);
    close(padded!, grid((b, e) => (e >= 1 && e <= E ? X(b, e - 1) : 9), E + 3), 0);
    close(win!, grid((b, e) => X(b, e + 2), 2), 0); // start = ids[0] = 2
  });
});
