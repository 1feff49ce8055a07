// simplify: constant folding and identities, CSE, DCE; params/results stay, remat regions are not merged across.
import { describe, expect, it } from 'vitest';
import { FuncBuilder, tensorType, verifyFunc, type Value } from '../../compiler/ir/index.ts';
import { dce, simplify, splatValue } from '../../compiler/passes/index.ts';

const t = (dtype: 'f32' | 'f64' | 'i32', shape: number[]) => tensorType(dtype, shape, shape.map((_, i) => `d${i}`));
const splat = (b: FuncBuilder, dtype: 'f32' | 'f64' | 'i32', shape: number[], value: number) =>
  b.emit1('constant', [], { dtype, shape, axes: shape.map((_, i) => `d${i}`), value });

describe('simplify', () => {
  it('folds splat constants through elementwise ops, broadcasts and reductions, rounding to f32', () => {
    const b = new FuncBuilder('fold');
    const two = splat(b, 'f32', [], 2);
    const big = b.emit1('broadcast_in_dim', [two], { shape: [3, 4], axes: ['a', 'b'], dims: [] });
    const e = b.emit1('exp', [big], {});
    const third = b.emit1('divide', [e, b.emit1('broadcast_in_dim', [splat(b, 'f32', [], 3)], { shape: [3, 4], axes: ['a', 'b'], dims: [] })], {});
    const total = b.emit1('reduce', [third], { dims: [0, 1], kind: 'sum' });
    const f = simplify(b.finish([third, total]));
    expect(verifyFunc(f)).toEqual([]);
    expect(f.ops.every((o) => o.prim === 'constant')).toBe(true);
    expect(splatValue(f.results[0]!)).toBe(Math.fround(Math.fround(Math.exp(2)) / 3));
    expect(splatValue(f.results[1]!)).toBe(Math.fround(12 * Math.fround(Math.fround(Math.exp(2)) / 3)));
    expect(f.results[0]!.type.shape).toEqual([3, 4]);
  });

  it('removes x*1, 1*x, x+0, 0+x, x-0, x/1, double negation and identity reshapes/transposes/converts', () => {
    const b = new FuncBuilder('ident');
    const x = b.param(t('f64', [2, 3]));
    const one = splat(b, 'f64', [2, 3], 1);
    const zero = splat(b, 'f64', [2, 3], 0);
    let y: Value = b.emit1('multiply', [x, one], {});
    y = b.emit1('multiply', [one, y], {});
    y = b.emit1('add', [y, zero], {});
    y = b.emit1('add', [zero, y], {});
    y = b.emit1('subtract', [y, zero], {});
    y = b.emit1('divide', [y, one], {});
    y = b.emit1('neg', [b.emit1('neg', [y], {})], {});
    y = b.emit1('reshape', [y], { shape: [2, 3], axes: ['d0', 'd1'] });
    y = b.emit1('transpose', [y], { permutation: [0, 1] });
    y = b.emit1('convert', [y], { dtype: 'f64' });
    const f = simplify(b.finish([y]));
    expect(f.ops).toHaveLength(0);
    expect(f.results[0]).toBe(f.params[0]);
  });

  it('keeps a same-shape reshape that renames axes (a rename is not an identity)', () => {
    const b = new FuncBuilder('rename');
    const x = b.param(tensorType('f32', [2, 3], ['embed', 'proj']));
    const y = b.emit1('reshape', [x], { shape: [2, 3], axes: ['_null0', '_null1'] });
    const f = simplify(b.finish([y]));
    expect(f.ops.map((o) => o.prim)).toEqual(['reshape']);
    expect(f.results[0]!.type.axes).toEqual(['_null0', '_null1']);
  });

  it('does not fold what it cannot reproduce exactly (x*0, bf16 arithmetic)', () => {
    const b = new FuncBuilder('keep');
    const x = b.param(t('f32', [2]));
    const y = b.emit1('multiply', [x, splat(b, 'f32', [2], 0)], {});
    const h = b.emit1('exp', [b.emit1('constant', [], { dtype: 'bf16', shape: [2], axes: ['d0'], value: 0.3 })], {});
    const f = simplify(b.finish([y, h]));
    expect(f.ops.map((o) => o.prim)).toEqual(['constant', 'multiply', 'constant', 'exp']);
  });

  it('merges common subexpressions (same prim, attrs, operands) and keeps distinct ones', () => {
    const b = new FuncBuilder('cse');
    const x = b.param(t('f32', [4]));
    const a1 = b.emit1('tanh', [x], {});
    const a2 = b.emit1('tanh', [x], {});
    const s1 = b.emit1('reduce', [a1], { dims: [0], kind: 'sum' });
    const s2 = b.emit1('reduce', [a2], { dims: [0], kind: 'max' });
    const f = simplify(b.finish([b.emit1('add', [a1, a2], {}), s1, s2]));
    expect(verifyFunc(f)).toEqual([]);
    expect(f.ops.map((o) => o.prim)).toEqual(['tanh', 'reduce', 'reduce', 'add']);
    expect(f.ops[3]!.operands[0]).toBe(f.ops[3]!.operands[1]);
    expect(f.ops[1]!.operands[0]).toBe(f.ops[2]!.operands[0]);
  });

  it('does not merge an op inside a checkpoint region with its twin outside', () => {
    const b = new FuncBuilder('regions');
    const x = b.param(t('f32', [4]));
    const outside = b.emit1('exp', [x], {});
    const inside = b.withRemat({ region: 1, policy: 'nothing_saveable' }, () => b.emit1('exp', [x], {}));
    const f = simplify(b.finish([b.emit1('add', [outside, inside], {})]));
    expect(f.ops.filter((o) => o.prim === 'exp').map((o) => o.remat?.region)).toEqual([undefined, 1]);
  });

  it('removes dead ops but keeps every param and result in order', () => {
    const b = new FuncBuilder('dead');
    const x = b.param(t('f32', [4]));
    const unusedParam = b.param(t('i32', [2]));
    b.emit1('sine', [x], {});
    const y = b.emit1('cosine', [x], {});
    const f = dce(b.finish([y, x]));
    expect(f.ops.map((o) => o.prim)).toEqual(['cosine']);
    expect(f.params).toHaveLength(2);
    expect(f.params[1]).toBe(unusedParam);
    expect(f.results[1]).toBe(x);
  });

  it('drops stop-gradient barriers only when asked (after autodiff)', () => {
    const b = new FuncBuilder('stop');
    const x = b.param(t('f32', [4]));
    const [s] = b.emit('optimization_barrier', [x], { stopGradient: true });
    const f = b.finish([b.emit1('exp', [s!], {})]);
    expect(simplify(f).ops.map((o) => o.prim)).toEqual(['optimization_barrier', 'exp']);
    const lowered = simplify(f, { dropStopGradient: true });
    expect(lowered.ops.map((o) => o.prim)).toEqual(['exp']);
    expect(lowered.ops[0]!.operands[0]).toBe(lowered.params[0]);
  });
});
