// Trace-time errors name the op the user called, the shapes involved, and the user's file:line:col.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../compiler/ir/index.ts';
import {
  Tensor, add, concat, constant, einsum, exp, layerNorm, reshape, spec, splitAxis, sum, take, takeAlongAxis, traceFunc, transpose, where,
} from '../../dsl/index.ts';

const FILE = 'test/dsl/errors.test.ts';
const SOURCE = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
/** `file:line:col` of `code` on the line tagged `// <tag>`. */
function at(tag: string, code: string): string {
  const i = SOURCE.findIndex((l) => l.trimEnd().endsWith(`// ${tag}`));
  if (i < 0) throw new Error(`no line tagged ${tag}`);
  return `${FILE}:${i + 1}:${SOURCE[i]!.indexOf(code) + 1}`;
}

/** Trace `fn` on specs (typed loosely, as tsc would refuse these mistakes) and return the error it raises. */
function traceError(fn: (...xs: Tensor[]) => unknown, specs: unknown[]): ShapeError {
  try {
    traceFunc(fn as (...args: never[]) => unknown, specs);
  } catch (e) {
    expect(e).toBeInstanceOf(ShapeError);
    return e as ShapeError;
  }
  throw new Error('expected a ShapeError');
}

const be = spec('f32', { batch: 8, embed: 4 });
const bm = spec('f32', { batch: 8, mlp: 16 });

describe('alignment errors', () => {
  it('names both shapes and the line when neither axis set contains the other', () => {
    const e = traceError((x, y) => x.add(y), [be, bm]); // ALIGN
    expect(e.message).toBe(`${at('ALIGN', 'add(')}: add: cannot align f32[batch=8, embed=4] with f32[batch=8, mlp=16]: neither axis set contains the other`);
    const f = traceError((x, y) => add(x, y), [be, bm]); // ALIGN-FREE
    expect(f.message).toBe(`${at('ALIGN-FREE', 'add(x')}: add: cannot align f32[batch=8, embed=4] with f32[batch=8, mlp=16]: neither axis set contains the other`);
  });

  it('refuses same-named axes of different sizes', () => {
    const e = traceError((x, b) => x.mul(b), [be, spec('f32', { embed: 5 })]); // SIZES
    expect(e.message).toBe(`${at('SIZES', 'mul(')}: mul: cannot align f32[batch=8, embed=4] with f32[embed=5]: axis 'embed' is 4 vs 5`);
  });

  it('refuses mixed dtypes and non-integer numbers for integer tensors (no implicit promotion)', () => {
    const e = traceError((x, i) => x.sub(i), [be, spec('i32', { batch: 8, embed: 4 })]); // DTYPE
    expect(e.message).toBe(`${at('DTYPE', 'sub(')}: sub: dtypes differ: f32[batch=8, embed=4] vs i32[batch=8, embed=4] (no implicit promotion; use astype)`);
    const n = traceError((i) => i.mul(0.5), [spec('i32', { batch: 8 })]); // INT-NUMBER
    expect(n.message).toBe(`${at('INT-NUMBER', 'mul(')}: mul: 0.5 is not an integer; i32 holds integers only (no implicit conversion)`);
    const w = traceError((m, x, y) => where(m as Tensor<'i1'>, x, y), [spec('i1', { batch: 8 }), be, spec('f16', { batch: 8, embed: 4 })]);
    expect(w.message).toMatch(/where: dtypes differ: f32\[batch=8, embed=4\] vs f16\[batch=8, embed=4\]/);
    const c = traceError((x, m) => where(x as Tensor<'i1'>, m, m), [be, be]);
    expect(c.message).toMatch(/where: condition must be i1, got f32\[batch=8, embed=4\]/);
  });

  it('passes the IR shape rules’ errors through with the user line', () => {
    const e = traceError((i) => exp(i), [spec('i32', { batch: 8 })]); // IR-RULE
    expect(e.message).toBe(`${at('IR-RULE', 'exp(')}: exp: needs a float operand, got i32[batch=8]`);
  });
});

describe('axis-name errors', () => {
  it('reductions, transposes and renames over a missing axis', () => {
    expect(traceError((x) => x.sum('length'), [be]).message).toBe(`${at('RED', 'sum(')}: sum: f32[batch=8, embed=4] has no axis 'length'`); // RED
    expect(traceError((x) => sum(x, ['batch', 'batch']), [be]).message).toMatch(/sum: axes \[batch, batch\] repeat an axis/);
    expect(traceError((x) => transpose(x, ['embed']), [be]).message).toMatch(/transpose: \[embed\] is not an order of all axes of f32\[batch=8, embed=4\]/);
    expect(traceError((x) => x.rename('mlp', 'kv'), [be]).message).toMatch(/rename: f32\[batch=8, embed=4\] has no axis 'mlp'/);
    expect(traceError((x) => x.size('mlp'), [be]).message).toBe(`${at('SIZE', 'size(')}: size: f32[batch=8, embed=4] has no axis 'mlp'`); // SIZE
    expect(traceError((x) => x.rename('embed', 'batch'), [be]).message).toMatch(/rename: cannot rename 'embed' to 'batch': f32\[batch=8, embed=4\] already has 'batch'/);
  });

  it('reshape, split and concat check sizes', () => {
    expect(traceError((x) => reshape(x, { a: 3, b: 5 }), [be]).message).toMatch(/reshape: cannot reshape f32\[batch=8, embed=4\] to f32\[a=3, b=5\]: element counts differ/);
    expect(traceError((x) => splitAxis(x, 'embed', ['heads', 'kv'], [3, -1]), [be]).message).toMatch(/splitAxis: cannot split axis 'embed' \(4\) of f32\[batch=8, embed=4\] into \[heads=3, kv=-1\]/);
    expect(traceError((x, y) => concat([x, y], 'embed'), [be, bm]).message).toMatch(/concat: axis sets differ: f32\[batch=8, embed=4\] vs f32\[batch=8, mlp=16\]/);
    expect(traceError((x) => x.slice('embed', 2, 9), [be]).message).toMatch(/slice: bad range 2:9:1 on axis 'embed' of f32\[batch=8, embed=4\]/);
  });

  it('einsum checks each operand against its term', () => {
    const e = traceError((x, w) => einsum('batch length, embed mlp -> batch mlp', x, w), [be, spec('f32', { embed: 4, mlp: 16 })]); // EINSUM
    expect(e.message).toBe(`${at('EINSUM', 'einsum(')}: einsum: operand 0 is f32[batch=8, embed=4] but 'batch length, embed mlp -> batch mlp' calls it [batch length]`);
    expect(traceError((x) => einsum('batch embed -> batch mlp', x), [be]).message).toMatch(/output axis 'mlp' is in no input/);
    expect(traceError((x) => einsum('batch embed, embed -> batch', x), [be]).message).toMatch(/names 2 operand\(s\) but 1 were given/);
  });

  it('take and takeAlongAxis check ids', () => {
    const table = spec('f32', { vocab: 10, embed: 4 });
    expect(traceError((t, ids) => take(t, ids, 'vocab'), [table, spec('f32', { batch: 8 })]).message).toMatch(/take: ids must be integers, got f32\[batch=8\]/);
    expect(traceError((t, ids) => take(t, ids, 'vocab'), [table, spec('i32', { embed: 8 })]).message).toMatch(/take: ids i32\[embed=8\] share axes \[embed\]/);
    expect(traceError((x, ids) => takeAlongAxis(x, ids, 'embed'), [be, spec('i32', { a: 2, b: 3 })]).message)
      .toMatch(/takeAlongAxis: ids i32\[a=2, b=3\] must have axis 'embed' or exactly one axis that f32\[batch=8, embed=4\] lacks/);
  });
});

describe('errors inside composite ops', () => {
  it('name the op the user called and the user line, not the primitive inside', () => {
    const e = traceError((x, s) => layerNorm(x, 'embed', { scale: s }), [be, spec('f32', { mlp: 4 })]); // COMPOSITE
    expect(e.message).toBe(`${at('COMPOSITE', 'layerNorm(')}: layerNorm: scale f32[mlp=4] has axes that f32[batch=8, embed=4] lacks`);
    const d = traceError((x) => x.softmax('vocab'), [be]);
    expect(d.message).toMatch(/softmax: f32\[batch=8, embed=4\] has no axis 'vocab'/);
  });

  it('repeated axis names in a result are refused', () => {
    const e = traceError((x) => x.splitAxis('embed', ['batch', 'kv'], [2, 2]), [be]);
    expect(e.message).toMatch(/splitAxis: result f32\[batch=8, batch=2, kv=2\] would repeat an axis name/);
  });

  it('constants check their data', () => {
    const f = () => traceFunc(() => constant([1, 2, 3], 'f32', { a: 2 }), []);
    expect(f).toThrow(/constant: 3 values for f32\[a=2\] \(2 elements\)/);
  });

  it('ops outside a trace say so, with the line', () => {
    expect(() => constant(1, 'f32', {})).toThrow(/errors\.test\.ts:\d+:\d+: tensor ops run only while tracing/);
  });
});
