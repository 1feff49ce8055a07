import { describe, expect, it } from 'vitest';
import { flatten, numLeaves, sameTreeDef, showTreeDef, spec, treeMap, unflatten } from '../../compiler/trace/index.ts';

class Leaf {
  constructor(readonly n: number) {}
}

describe('pytrees', () => {
  const tree = {
    params: { encoder: { block0: { mlp: { kernel: new Leaf(1), bias: new Leaf(2) } } }, layers: [new Leaf(3), new Leaf(4)] },
    lr: 0.1,
    name: 'x',
  };

  it('flattens depth first in key order with dotted leaf paths; JS scalars stay in the structure', () => {
    const f = flatten<Leaf>(tree);
    expect(f.leaves.map((l) => l.n)).toEqual([1, 2, 3, 4]);
    expect(f.paths).toEqual(['params.encoder.block0.mlp.kernel', 'params.encoder.block0.mlp.bias', 'params.layers.0', 'params.layers.1']);
    expect(numLeaves(f.treedef)).toBe(4);
    expect(showTreeDef(f.treedef)).toBe('{params: {encoder: {block0: {mlp: {kernel: *, bias: *}}}, layers: [*, *]}, lr: 0.1, name: "x"}');
  });

  it('unflattens to an equal tree, with new leaves in place', () => {
    const f = flatten<Leaf>(tree);
    expect(unflatten(f.treedef, f.leaves)).toEqual(tree);
    const doubled = unflatten<typeof tree>(f.treedef, f.leaves.map((l) => new Leaf(l.n * 2)));
    expect(doubled.params.layers[1]!.n).toBe(8);
    expect(doubled.lr).toBe(0.1);
    expect(() => unflatten(f.treedef, [1, 2, 3])).toThrow(/has 4 leaves, got 3/);
  });

  it('treats tensor specs as leaves (they are plain objects), and a bare leaf as a one-leaf tree', () => {
    const s = spec('f32', { batch: 8, embed: 64 });
    expect(s).toEqual({ dtype: 'f32', shape: [8, 64], axes: ['batch', 'embed'] });
    const f = flatten({ x: s, ys: [s, s] });
    expect(f.leaves).toEqual([s, s, s]);
    expect(f.paths).toEqual(['x', 'ys.0', 'ys.1']);
    const one = flatten(new Leaf(5));
    expect(one.paths).toEqual(['']);
    expect(unflatten(one.treedef, [new Leaf(6)])).toEqual(new Leaf(6));
  });

  it('maps over matching trees and refuses different structures', () => {
    const a = { w: new Leaf(1), b: [new Leaf(2)], step: 3 };
    const g = { w: new Leaf(10), b: [new Leaf(20)], step: 3 };
    const out = treeMap((p: Leaf, q: Leaf) => p.n + q.n, a, g);
    expect(out).toEqual({ w: 11, b: [22], step: 3 });
    expect(() => treeMap((p: Leaf) => p, a, { w: new Leaf(1), b: [] , step: 3 })).toThrow(/structure \{w: \*, b: \[\], step: 3\}/);
    expect(sameTreeDef(flatten(a).treedef, flatten(g).treedef)).toBe(true);
    expect(sameTreeDef(flatten(a).treedef, flatten({ ...a, step: 4 }).treedef)).toBe(false);
  });

  it('rejects cycles and numeric axis names in specs', () => {
    const c: { self?: unknown } = {};
    c.self = c;
    expect(() => flatten(c)).toThrow(/inside itself at 'self'/);
    expect(() => spec('f32', { 0: 3 })).toThrow(/is a number/);
    expect(() => spec('f32', { a: 2.5 })).toThrow(/size 2.5/);
  });
});
