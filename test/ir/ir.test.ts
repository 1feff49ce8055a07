import { describe, expect, it } from 'vitest';
import { FuncBuilder, PRIMS, SHAPE_RULES, ShapeError, printFunc, tensorType, verifyFunc } from '../../compiler/ir/index.ts';

describe('compiler/ir', () => {
  it('has a shape rule for every primitive', () => {
    for (const p of PRIMS) expect(typeof SHAPE_RULES[p]).toBe('function');
  });

  it('builds, verifies and prints a small function', () => {
    const b = new FuncBuilder('main');
    const x = b.param(tensorType('f32', [8, 4], ['batch', 'embed']));
    const w = b.param(tensorType('f32', [4, 16], ['embed', 'mlp']));
    const y = b.emit1('dot_general', [x, w], { lhsBatch: [], rhsBatch: [], lhsContract: [1], rhsContract: [0] }, { file: 'm.ts', line: 3, col: 5 });
    const z = b.emit1('tanh', [y], {});
    const f = b.finish([z]);
    expect(y.type.shape).toEqual([8, 16]);
    expect(y.type.axes).toEqual(['batch', 'mlp']);
    expect(verifyFunc(f)).toEqual([]);
    const text = printFunc(f);
    expect(text).toContain('dot_general');
    expect(text).toContain('f32[batch=8, mlp=16]');
    expect(text).toContain('m.ts:3:5');
  });

  it('names both shapes and the source line in a shape error', () => {
    const b = new FuncBuilder('main');
    const x = b.param(tensorType('f32', [8, 4], ['batch', 'embed']));
    const y = b.param(tensorType('f32', [8, 16], ['batch', 'mlp']));
    expect(() => b.emit1('add', [x, y], {}, { file: 'models/flip.ts', line: 12, col: 3 })).toThrow(ShapeError);
    expect(() => b.emit1('add', [x, y], {}, { file: 'models/flip.ts', line: 12, col: 3 })).toThrow(
      /models\/flip\.ts:12:3: add: operand shapes differ: f32\[batch=8, embed=4\] vs f32\[batch=8, mlp=16\]/,
    );
  });

  it('computes gather result shapes as StableHLO does (embedding lookup)', () => {
    const b = new FuncBuilder('main');
    const table = b.param(tensorType('f32', [100, 32], ['vocab', 'embed']));
    const ids = b.param(tensorType('i32', [4, 7, 1], ['batch', 'length', 'idx']));
    const g = b.emit1('gather', [table, ids], {
      offsetDims: [2], collapsedSliceDims: [0], startIndexMap: [0], indexVectorDim: 2, sliceSizes: [1, 32], axes: ['batch', 'length', 'embed'],
    });
    expect(g.type.shape).toEqual([4, 7, 32]);
  });

  it('flags a use before definition', () => {
    const b1 = new FuncBuilder('other');
    const stray = b1.param(tensorType('f32', [2], ['a']));
    const b = new FuncBuilder('main');
    const x = b.param(tensorType('f32', [2], ['a']));
    const y = b.emit1('add', [x, stray], {});
    expect(verifyFunc(b.finish([y])).join('\n')).toMatch(/used before it is defined/);
  });

  it('tags ops emitted inside withRemat with the checkpoint region, and only those', () => {
    const b = new FuncBuilder('main');
    const x = b.param(tensorType('f32', [3], ['a']));
    const y = b.withRemat({ region: 7, policy: 'nothing_saveable' }, () => b.emit1('exp', [x], {}));
    const z = b.emit1('neg', [y], {});
    expect(y.def?.remat).toEqual({ region: 7, policy: 'nothing_saveable' });
    expect(z.def?.remat).toBeUndefined();
    const f = b.finish([z]);
    expect(verifyFunc(f)).toEqual([]);
    expect(printFunc(f)).toContain('remat(7, nothing_saveable)');
  });

  it('marks a stop-gradient barrier by an attribute on optimization_barrier', () => {
    const b = new FuncBuilder('main');
    const x = b.param(tensorType('f32', [3], ['a']));
    const [y] = b.emit('optimization_barrier', [x], { stopGradient: true });
    expect(y!.type).toEqual(x.type);
    expect(printFunc(b.finish([y!]))).toContain('stopGradient=true');
  });
});
