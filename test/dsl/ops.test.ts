// Every DSL op traces to the expected primitives with the expected result types and axis names.
import { describe, expect, it } from 'vitest';
import type { PrimAttrs } from '../../compiler/ir/index.ts';
import {
  grad,
  Tensor, abs, add, argsort, astype, broadcastTo, concat, constant, dot, dynamicSlice, dynamicUpdateSlice, einsum, eq, erf, exp, full,
  gelu, iota, layerNorm, logSoftmax, logsumexp, maximum, mean, mergeAxes, ones, oneHot, pad, reshape, scalar, sigmoid, slice, softmax,
  spec, splitAxis, square, sum, take, takeAlongAxis, transpose, where, zeros, zerosLike,
} from '../../dsl/index.ts';
import { opsOf, prims, resultType, trace } from './helpers.ts';

const be = spec('f32', { batch: 2, embed: 4 });
const ble = spec('f32', { batch: 2, length: 3, embed: 4 });
type BE = Tensor<'f32', ['batch', 'embed']>;
type BLE = Tensor<'f32', ['batch', 'length', 'embed']>;

describe('elementwise', () => {
  it('maps unary math to one primitive each, same type', () => {
    const f = trace((x: BE) => [x.neg(), x.exp(), x.log(), x.sqrt(), x.rsqrt(), x.tanh(), abs(x), sigmoid(x), x.expm1(), x.log1p(), x.floor(), x.sign()], [be]);
    expect(prims(f)).toEqual(['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'abs', 'logistic', 'expm1', 'log1p', 'floor', 'sign']);
    for (let i = 0; i < f.results.length; i++) expect(resultType(f, i)).toBe('f32[batch=2, embed=4]');
  });

  it('maps binary arithmetic to one primitive when the operands already agree', () => {
    const f = trace((x: BE, y: BE) => [x.add(y), x.sub(y), x.mul(y), x.div(y), x.pow(y), maximum(x, y), x.minimum(y)], [be, be]);
    expect(prims(f)).toEqual(['add', 'subtract', 'multiply', 'divide', 'power', 'maximum', 'minimum']);
  });

  it('broadcasts a bias by name onto the larger operand (either side), keeping its axis order', () => {
    const f = trace((x: BLE, b: Tensor<'f32', ['embed']>) => [x.add(b), add(b, x)], [ble, spec('f32', { embed: 4 })]);
    expect(prims(f)).toEqual(['broadcast_in_dim', 'add', 'broadcast_in_dim', 'add']);
    const bc = f.ops[0]!.attrs as PrimAttrs['broadcast_in_dim'];
    expect(bc).toEqual({ shape: [2, 3, 4], axes: ['batch', 'length', 'embed'], dims: [2] });
    expect(resultType(f, 0)).toBe('f32[batch=2, length=3, embed=4]');
    expect(resultType(f, 1)).toBe('f32[batch=2, length=3, embed=4]');
    expect(f.ops[3]!.operands[1]).toBe(f.params[0]); // add(b, x): x is the rhs as written
  });

  it('transposes an operand whose axes come in another order, and broadcasts with out-of-order axes', () => {
    const f = trace((x: BLE, y: Tensor<'f32', ['embed', 'batch']>) => x.mul(y), [ble, spec('f32', { embed: 4, batch: 2 })]);
    expect(prims(f)).toEqual(['transpose', 'broadcast_in_dim', 'multiply']);
    expect(f.ops[0]!.attrs).toEqual({ permutation: [1, 0] });
    expect(f.ops[1]!.attrs).toMatchObject({ dims: [0, 2] });
    expect(resultType(f)).toBe('f32[batch=2, length=3, embed=4]');
  });

  it('takes JS numbers as splat constants of the tensor dtype', () => {
    const f = trace((x: BE, i: Tensor<'i32', ['batch']>) => [x.mul(0.5), i.add(3)], [be, spec('i32', { batch: 2 })]);
    expect(prims(f)).toEqual(['constant', 'multiply', 'constant', 'add']);
    expect(f.ops[0]!.attrs).toEqual({ dtype: 'f32', shape: [2, 4], axes: ['batch', 'embed'], value: 0.5 });
    expect(f.ops[2]!.attrs).toMatchObject({ dtype: 'i32', value: 3 });
    expect(resultType(f, 1)).toBe('i32[batch=2]');
  });

  it('compares into i1 and selects with where, aligning all three operands', () => {
    const f = trace((x: BE, m: Tensor<'i1', ['batch']>) => [x.gt(0), eq(x, x), where(m, x, 0)], [be, spec('i1', { batch: 2 })]);
    expect(prims(f)).toEqual(['constant', 'compare', 'compare', 'broadcast_in_dim', 'constant', 'select']);
    expect(f.ops[1]!.attrs).toEqual({ direction: 'GT' });
    expect(resultType(f, 0)).toBe('i1[batch=2, embed=4]');
    expect(resultType(f, 2)).toBe('f32[batch=2, embed=4]');
  });

  it('square, astype, erf', () => {
    const f = trace((x: BE, i: Tensor<'i32', ['batch']>) => [square(x), astype(i, 'f32'), i.astype('i32'), x.astype('bf16')], [be, spec('i32', { batch: 2 })]);
    expect(prims(f)).toEqual(['multiply', 'convert', 'convert']); // astype to its own dtype emits nothing
    expect(resultType(f, 1)).toBe('f32[batch=2]');
    expect(resultType(f, 3)).toBe('bf16[batch=2, embed=4]');
    const e = trace((x: BE) => erf(x), [be]);
    expect(prims(e).filter((p) => p !== 'constant')).toEqual([
      'maximum', 'minimum', 'multiply', ...Array(6).fill(['multiply', 'add']).flat(), 'multiply', ...Array(4).fill(['multiply', 'add']).flat(), 'divide',
    ]);
    const eb = trace((x: Tensor<'bf16', ['a']>) => x.erf(), [spec('bf16', { a: 3 })]);
    expect(prims(eb)[0]).toBe('convert');
    expect(resultType(eb)).toBe('bf16[a=3]');
  });
});

describe('reductions', () => {
  it('reduce by axis name, one or several, or all', () => {
    const f = trace((x: BLE) => [x.sum('embed'), x.max(['batch', 'embed']), sum(x), x.min('length')], [ble]);
    expect(prims(f)).toEqual(['reduce', 'reduce', 'reduce', 'reduce']);
    expect(f.ops.map((o) => o.attrs)).toEqual([
      { dims: [2], kind: 'sum' }, { dims: [0, 2], kind: 'max' }, { dims: [0, 1, 2], kind: 'sum' }, { dims: [1], kind: 'min' },
    ]);
    expect([0, 1, 2, 3].map((i) => resultType(f, i))).toEqual(['f32[batch=2, length=3]', 'f32[length=3]', 'f32[]', 'f32[batch=2, embed=4]']);
  });

  it('mean divides the sum by the count', () => {
    const f = trace((x: BLE) => mean(x, ['length', 'embed']), [ble]);
    expect(prims(f)).toEqual(['reduce', 'constant', 'divide']);
    expect(f.ops[1]!.attrs).toMatchObject({ value: 12 });
    expect(resultType(f)).toBe('f32[batch=2]');
  });

  it('logsumexp subtracts a finite max; argmax takes the first index attaining the max', () => {
    const l = trace((x: BE) => logsumexp(x, 'embed'), [be]);
    expect(prims(l)).toEqual(['reduce', 'abs', 'constant', 'compare', 'constant', 'select', 'broadcast_in_dim', 'subtract', 'exp', 'reduce', 'log', 'add']);
    expect(resultType(l)).toBe('f32[batch=2]');
    const a = trace((x: BE) => x.argmax('embed'), [be]);
    expect(prims(a)).toEqual(['reduce', 'broadcast_in_dim', 'compare', 'iota', 'constant', 'select', 'reduce']);
    expect(opsOf(a, 'iota')[0]!.attrs).toMatchObject({ dtype: 'i32', dimension: 1 });
    expect(resultType(a)).toBe('i32[batch=2]');
  });
});

describe('shape ops', () => {
  it('reshape, splitAxis and mergeAxes emit a reshape with the new names', () => {
    const f = trace((x: BLE) => [reshape(x, { batch: 2, tokens: 12 }), splitAxis(x, 'embed', ['heads', 'kv'], [2, -1]), x.splitAxis('length', ['a', 'b'], [3, 1])], [ble]);
    expect(prims(f)).toEqual(['reshape', 'reshape', 'reshape']);
    expect([0, 1, 2].map((i) => resultType(f, i))).toEqual([
      'f32[batch=2, tokens=12]', 'f32[batch=2, length=3, heads=2, kv=2]', 'f32[batch=2, a=3, b=1, embed=4]',
    ]);
    const m = trace((x: Tensor<'f32', ['batch', 'heads', 'length', 'kv']>) => [mergeAxes(x, ['heads', 'kv'], 'embed'), x.mergeAxes(['batch', 'heads'], 'bh')],
      [spec('f32', { batch: 2, heads: 3, length: 5, kv: 4 })]);
    expect(prims(m)).toEqual(['transpose', 'reshape', 'reshape']);
    expect(m.ops[0]!.attrs).toEqual({ permutation: [0, 1, 3, 2] });
    expect(resultType(m, 0)).toBe('f32[batch=2, embed=12, length=5]');
    expect(resultType(m, 1)).toBe('f32[bh=6, length=5, kv=4]');
  });

  it('rename is a no-op reshape; transpose permutes by names; broadcastTo adds named axes', () => {
    const f = trace((x: BE, b: Tensor<'f32', ['embed']>) => [x.rename('embed', 'mlp'), transpose(x, ['embed', 'batch']), x.transpose(['batch', 'embed']),
      broadcastTo(b, { embed: 4, batch: 2 }), b.broadcastTo({ batch: 2, embed: 4 }), broadcastTo(b, x)], [be, spec('f32', { embed: 4 })]);
    expect(prims(f)).toEqual(['reshape', 'transpose', 'broadcast_in_dim', 'broadcast_in_dim', 'broadcast_in_dim']);
    expect(f.ops[1]!.attrs).toEqual({ permutation: [1, 0] });
    expect(f.ops[2]!.attrs).toMatchObject({ dims: [0] });
    expect(f.ops[3]!.attrs).toMatchObject({ dims: [1] });
    expect([0, 1, 2, 3, 4, 5].map((i) => resultType(f, i))).toEqual([
      'f32[batch=2, mlp=4]', 'f32[embed=4, batch=2]', 'f32[batch=2, embed=4]', 'f32[embed=4, batch=2]', 'f32[batch=2, embed=4]', 'f32[batch=2, embed=4]',
    ]);
  });

  it('concat, slice, pad', () => {
    const cls = spec('f32', { batch: 2, length: 1, embed: 4 });
    const f = trace((c: BLE, x: BLE) => [concat([c, x], 'length'), slice(x, 'length', 0, 1), x.slice('embed', -2), x.slice('length', 0, 3, 2), pad(x, { length: [1, 2] }, -1)], [cls, ble]);
    expect(prims(f)).toEqual(['concatenate', 'slice', 'slice', 'slice', 'constant', 'pad']);
    expect(f.ops[0]!.attrs).toEqual({ dimension: 1 });
    expect(f.ops[2]!.attrs).toEqual({ start: [0, 0, 2], limit: [2, 3, 4], strides: [1, 1, 1] });
    expect(f.ops[5]!.attrs).toEqual({ low: [0, 1, 0], high: [0, 2, 0], interior: [0, 0, 0] });
    expect([0, 1, 2, 3, 4].map((i) => resultType(f, i))).toEqual([
      'f32[batch=2, length=4, embed=4]', 'f32[batch=2, length=1, embed=4]', 'f32[batch=2, length=3, embed=2]', 'f32[batch=2, length=2, embed=4]', 'f32[batch=2, length=6, embed=4]',
    ]);
    const t = trace((a: BE, b: Tensor<'f32', ['embed', 'batch']>) => concat([a, b], 'embed'), [be, spec('f32', { embed: 3, batch: 2 })]);
    expect(prims(t)).toEqual(['transpose', 'concatenate']);
    expect(resultType(t)).toBe('f32[batch=2, embed=7]');
  });

  it('dynamicSlice and dynamicUpdateSlice take a run-time start and zeros elsewhere', () => {
    const f = trace((x: BLE, i: Tensor<'i32', []>, u: Tensor<'f32', ['batch', 'length', 'embed']>) => [dynamicSlice(x, 'length', i, 2), x.dynamicSlice('embed', 1, 3), dynamicUpdateSlice(x, 'length', u, i)],
      [ble, spec('i32', {}), spec('f32', { batch: 2, length: 1, embed: 4 })]);
    expect(prims(f)).toEqual(['constant', 'dynamic_slice', 'constant', 'constant', 'dynamic_slice', 'constant', 'dynamic_update_slice']);
    expect(f.ops[1]!.operands.map((v) => v.type.shape.length)).toEqual([3, 0, 0, 0]);
    expect(f.ops[1]!.operands[2]).toBe(f.params[1]);
    expect(resultType(f, 0)).toBe('f32[batch=2, length=2, embed=4]');
    expect(resultType(f, 1)).toBe('f32[batch=2, length=3, embed=3]');
    expect(resultType(f, 2)).toBe('f32[batch=2, length=3, embed=4]');
  });
});

describe('contractions', () => {
  const w = spec('f32', { embed: 4, mlp: 5 });
  type W = Tensor<'f32', ['embed', 'mlp']>;

  it('einsum over named axes is one dot_general when the output is in natural order', () => {
    const f = trace((x: BLE, k: W) => einsum('batch length embed, embed mlp -> batch length mlp', x, k), [ble, w]);
    expect(prims(f)).toEqual(['dot_general']);
    expect(f.ops[0]!.attrs).toEqual({ lhsBatch: [], rhsBatch: [], lhsContract: [2], rhsContract: [0] });
    expect(resultType(f)).toBe('f32[batch=2, length=3, mlp=5]');
  });

  it('einsum with batch axes, transposed output, lone summed axes, one operand, and three operands', () => {
    const q = spec('f32', { batch: 2, length: 3, heads: 2, kv: 4 });
    const k = spec('f32', { batch: 2, keys: 5, heads: 2, kv: 4 });
    const f = trace((a: Tensor<'f32', ['batch', 'length', 'heads', 'kv']>, b: Tensor<'f32', ['batch', 'keys', 'heads', 'kv']>) =>
      einsum('batch length heads kv, batch keys heads kv -> batch heads length keys', a, b), [q, k]);
    expect(prims(f)).toEqual(['dot_general']); // dot_general puts batch axes first: already the asked order
    expect(f.ops[0]!.attrs).toEqual({ lhsBatch: [0, 2], rhsBatch: [0, 2], lhsContract: [3], rhsContract: [3] });
    expect(resultType(f)).toBe('f32[batch=2, heads=2, length=3, keys=5]');
    const g = trace((a: Tensor<'f32', ['batch', 'length', 'heads', 'kv']>, b: Tensor<'f32', ['batch', 'keys', 'heads', 'kv']>) =>
      einsum('batch length heads kv, batch keys heads kv -> batch length heads keys', a, b), [q, k]);
    expect(prims(g)).toEqual(['dot_general', 'transpose']);
    expect(g.ops[1]!.attrs).toEqual({ permutation: [0, 2, 1, 3] });
    expect(resultType(g)).toBe('f32[batch=2, length=3, heads=2, keys=5]');
    const one = trace((x: BLE) => einsum('embed length batch -> embed batch', x), [ble]);
    expect(prims(one)).toEqual(['reduce', 'transpose']);
    expect(resultType(one)).toBe('f32[embed=4, batch=2]');
    const lone = trace((x: BLE, k: W) => einsum('batch length embed, embed mlp -> batch embed', x, k), [ble, w]);
    expect(prims(lone)).toEqual(['reduce', 'reduce', 'dot_general', 'transpose']); // embed is a batch axis: dot_general puts it first
    expect(resultType(lone)).toBe('f32[batch=2, embed=4]');
    const three = trace((x: BLE, k: W, v: Tensor<'f32', ['mlp', 'out']>) => einsum('batch length embed, embed mlp, mlp out -> batch out', x, k, v),
      [ble, w, spec('f32', { mlp: 5, out: 6 })]);
    expect(prims(three)).toEqual(['reduce', 'dot_general', 'dot_general']);
    expect(resultType(three)).toBe('f32[batch=2, out=6]');
  });

  it('dot contracts named axes; shared axes are batch axes; the result keeps x order then y new axes', () => {
    const f = trace((x: BLE, k: W) => dot(x, k, { contract: ['embed'] }), [ble, w]);
    expect(prims(f)).toEqual(['dot_general']);
    expect(resultType(f)).toBe('f32[batch=2, length=3, mlp=5]');
    const b = trace((x: BLE, y: Tensor<'f32', ['batch', 'keys', 'embed']>) => x.dot(y, { contract: ['embed'] }), [ble, spec('f32', { batch: 2, keys: 6, embed: 4 })]);
    expect(prims(b)).toEqual(['dot_general']);
    expect(resultType(b)).toBe('f32[batch=2, length=3, keys=6]');
    const t = trace((x: Tensor<'f32', ['length', 'batch', 'embed']>, y: Tensor<'f32', ['batch', 'embed']>) => dot(x, y, { contract: ['embed'] }),
      [spec('f32', { length: 3, batch: 2, embed: 4 }), be]);
    expect(prims(t)).toEqual(['dot_general', 'transpose']);
    expect(resultType(t)).toBe('f32[length=3, batch=2]');
    const bf = trace((x: Tensor<'bf16', ['a', 'b']>, y: Tensor<'bf16', ['b', 'c']>) => dot(x, y, { contract: ['b'], resultDtype: 'f32' }),
      [spec('bf16', { a: 2, b: 3 }), spec('bf16', { b: 3, c: 4 })]);
    expect(resultType(bf)).toBe('f32[a=2, c=4]');
  });
});

describe('indexing', () => {
  it('take is an embedding gather: the indexed axis is replaced by the ids axes', () => {
    const f = trace((table: Tensor<'f32', ['vocab', 'embed']>, ids: Tensor<'i32', ['batch', 'length']>) => take(table, ids, 'vocab'),
      [spec('f32', { vocab: 10, embed: 4 }), spec('i32', { batch: 2, length: 3 })]);
    expect(prims(f)).toEqual(['reshape', 'gather']);
    expect(f.ops[1]!.attrs).toEqual({
      offsetDims: [2], collapsedSliceDims: [0], startIndexMap: [0], indexVectorDim: 2, sliceSizes: [1, 4], axes: ['batch', 'length', 'embed'],
    });
    expect(resultType(f)).toBe('f32[batch=2, length=3, embed=4]');
    const mid = trace((x: Tensor<'f32', ['a', 'vocab', 'c']>, ids: Tensor<'i32', ['k']>) => x.take(ids, 'vocab'),
      [spec('f32', { a: 2, vocab: 5, c: 3 }), spec('i32', { k: 4 })]);
    expect(mid.ops[1]!.attrs).toMatchObject({ offsetDims: [0, 2], collapsedSliceDims: [1], sliceSizes: [2, 1, 3] });
    expect(resultType(mid)).toBe('f32[a=2, k=4, c=3]');
  });

  it('takeAlongAxis gathers per batch row (FLIP masking), with the new axis in place of the old', () => {
    const f = trace((x: BLE, ids: Tensor<'i32', ['batch', 'keep']>) => takeAlongAxis(x, ids, 'length'), [ble, spec('i32', { batch: 2, keep: 2 })]);
    expect(prims(f)).toEqual(['iota', 'reshape', 'reshape', 'concatenate', 'gather']);
    expect(f.ops[4]!.attrs).toEqual({
      offsetDims: [2], collapsedSliceDims: [0, 1], startIndexMap: [0, 1], indexVectorDim: 2, sliceSizes: [1, 1, 4], axes: ['batch', 'keep', 'embed'],
    });
    expect(resultType(f)).toBe('f32[batch=2, keep=2, embed=4]');
    // ids that keep the axis name, listed in another order than x
    const g = trace((x: BLE, ids: Tensor<'i32', ['length', 'batch']>) => x.takeAlongAxis(ids, 'length'), [ble, spec('i32', { length: 2, batch: 2 })]);
    expect(prims(g)).toEqual(['transpose', 'iota', 'reshape', 'reshape', 'concatenate', 'gather']);
    expect(resultType(g)).toBe('f32[batch=2, length=2, embed=4]');
    // no batch axis: plain take along the axis
    const h = trace((x: BLE, ids: Tensor<'i32', ['keep']>) => x.takeAlongAxis(ids, 'length'), [ble, spec('i32', { keep: 2 })]);
    expect(prims(h)).toEqual(['reshape', 'gather']);
    expect(resultType(h)).toBe('f32[batch=2, keep=2, embed=4]');
  });

  it('oneHot compares an iota with the ids; argsort sorts with an iota operand', () => {
    const f = trace((ids: Tensor<'i32', ['batch']>) => [oneHot(ids, 'vocab', 5), ids.oneHot('classes', 3, 'bf16')], [spec('i32', { batch: 2 })]);
    expect(prims(f)).toEqual(['iota', 'broadcast_in_dim', 'compare', 'convert', 'iota', 'broadcast_in_dim', 'compare', 'convert']);
    expect(resultType(f, 0)).toBe('f32[batch=2, vocab=5]');
    expect(resultType(f, 1)).toBe('bf16[batch=2, classes=3]');
    const s = trace((x: BLE) => [argsort(x, 'length'), x.argsort('embed', { descending: true }), x.sort('batch')], [ble]);
    expect(prims(s)).toEqual(['iota', 'sort', 'iota', 'sort', 'iota', 'sort']);
    expect(s.ops[1]!.attrs).toEqual({ dimension: 1, descending: false });
    expect(s.ops[3]!.attrs).toEqual({ dimension: 2, descending: true });
    expect(resultType(s, 0)).toBe('i32[batch=2, length=3, embed=4]');
    expect(s.results[0]).toBe(s.ops[1]!.results[1]);
    expect(s.results[2]).toBe(s.ops[5]!.results[0]);
  });
});

describe('creation', () => {
  it('constants from numbers, nested arrays and typed arrays; scalar, zeros, ones, full, iota', () => {
    const f = trace(() => [
      constant([[1, 2, 3], [4, 5, 6]], 'f32', { batch: 2, embed: 3 }), constant(new Int32Array([7, 8]), 'i32', { k: 2 }), constant(2, 'f32', { a: 3 }),
      scalar(0.5), scalar(3, 'i32'), zeros('f32', { a: 2 }), ones('bf16', { a: 2, b: 1 }), full('f32', { a: 1 }, -Infinity), iota('i32', { a: 2, b: 3 }, 'b'),
      constant([true, false], 'i1', { m: 2 }), constant(new BigInt64Array([5n]), 'i64', { n: 1 }),
    ], []);
    expect(prims(f)).toEqual(['constant', 'constant', 'constant', 'constant', 'constant', 'constant', 'constant', 'constant', 'iota', 'constant', 'constant']);
    expect(f.ops[0]!.attrs).toEqual({ dtype: 'f32', shape: [2, 3], axes: ['batch', 'embed'], value: [1, 2, 3, 4, 5, 6] });
    expect(f.ops[1]!.attrs).toMatchObject({ value: [7, 8] });
    expect(f.ops[2]!.attrs).toMatchObject({ value: 2, shape: [3] });
    expect(f.ops[8]!.attrs).toEqual({ dtype: 'i32', shape: [2, 3], axes: ['a', 'b'], dimension: 1 });
    expect(f.ops[9]!.attrs).toMatchObject({ value: [1, 0] });
    expect(f.ops[10]!.attrs).toMatchObject({ value: [5n] });
    expect([3, 4, 6, 7].map((i) => resultType(f, i))).toEqual(['f32[]', 'i32[]', 'bf16[a=2, b=1]', 'f32[a=1]']);
    const z = trace((x: BE) => zerosLike(x), [be]);
    expect(z.ops[0]!.attrs).toEqual({ dtype: 'f32', shape: [2, 4], axes: ['batch', 'embed'], value: 0 });
  });
});

describe('nn', () => {
  it('softmax and logSoftmax subtract the max along the axis', () => {
    const f = trace((x: BE) => [softmax(x, 'embed'), x.logSoftmax('batch')], [be]);
    expect(prims(f)).toEqual([
      'reduce', 'optimization_barrier', 'broadcast_in_dim', 'subtract', 'exp', 'reduce', 'broadcast_in_dim', 'divide',
      'reduce', 'optimization_barrier', 'broadcast_in_dim', 'subtract', 'exp', 'reduce', 'log', 'broadcast_in_dim', 'subtract',
    ]);
    expect(f.ops[0]!.attrs).toEqual({ dims: [1], kind: 'max' });
    expect(f.ops[1]!.attrs).toEqual({ stopGradient: true });
    expect(resultType(f, 1)).toBe('f32[batch=2, embed=4]');
  });

  it('no gradient flows through the max that softmax and logSoftmax subtract (jax.nn.softmax stops it too)', () => {
    // Differentiating the max would add a compare, a convert and a select over the input per softmax.
    const f = trace((x: BE) => grad((y: BE) => softmax(y, 'embed').mul(y).sum().add(y.logSoftmax('batch').sum()))(x), [be]);
    expect(prims(f)).not.toContain('compare');
    expect(prims(f)).not.toContain('select');
  });

  it('layerNorm normalises over one axis and applies scale and bias by name', () => {
    const f = trace((x: BLE, s: Tensor<'f32', ['embed']>, b: Tensor<'f32', ['embed']>) => layerNorm(x, 'embed', { scale: s, bias: b, eps: 1e-5 }),
      [ble, spec('f32', { embed: 4 }), spec('f32', { embed: 4 })]);
    expect(prims(f)).toEqual([
      'reduce', 'constant', 'divide', 'broadcast_in_dim', 'subtract', 'multiply', 'reduce', 'constant', 'divide', 'broadcast_in_dim',
      'constant', 'add', 'rsqrt', 'multiply', 'broadcast_in_dim', 'multiply', 'broadcast_in_dim', 'add',
    ]);
    expect(opsOf(f, 'constant')[2]!.attrs).toMatchObject({ value: 1e-5 });
    expect(resultType(f)).toBe('f32[batch=2, length=3, embed=4]');
  });

  it('gelu: tanh form by default (no erf), exact form through erf', () => {
    const t = trace((x: BE) => gelu(x), [be]);
    expect(prims(t)).toContain('tanh');
    expect(opsOf(t, 'constant').map((o) => (o.attrs as { value: number }).value)).toEqual([Math.sqrt(2 / Math.PI), 0.044715, 0.5, 1]);
    const e = trace((x: BE) => x.gelu({ approximate: false }), [be]);
    expect(prims(e)).not.toContain('tanh');
    expect(opsOf(e, 'divide')).toHaveLength(1);
    expect(resultType(e)).toBe('f32[batch=2, embed=4]');
  });

  it('relu and exp chain on methods keep the type', () => {
    const f = trace((x: BE) => exp(x.relu()), [be]);
    expect(prims(f)).toEqual(['constant', 'maximum', 'exp']);
  });
});

describe('the Tensor face', () => {
  it('exposes dtype, axes, shape, sizes', () => {
    trace((x: BLE) => {
      expect(x).toBeInstanceOf(Tensor);
      expect([x.dtype, x.axes, x.shape, x.rank, x.size('length'), x.sizes]).toEqual(['f32', ['batch', 'length', 'embed'], [2, 3, 4], 3, 3, { batch: 2, length: 3, embed: 4 }]);
      expect(String(x)).toBe('Tensor(f32[batch=2, length=3, embed=4])');
      return x;
    }, [ble]);
  });
});
