// The VJP pass on IR built with FuncBuilder: its contract, rule coverage, activity, errors, and well-formed output.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlipError, FuncBuilder, PRIMS, printFunc, tensorType, verifyFunc, type Func } from '../../compiler/ir/index.ts';
import { VJP_RULES, vjpFunc } from '../../compiler/passes/index.ts';
import { PRIM_CASES } from './prim_cases.ts';

const f32 = (shape: number[], axes: string[]) => tensorType('f32', shape, axes);

function mlp(): Func {
  const b = new FuncBuilder('mlp');
  const x = b.param(f32([8, 4], ['batch', 'embed']), { name: 'x' });
  const w = b.param(f32([4, 16], ['embed', 'mlp']), { name: 'params.w' });
  const h = b.emit1('tanh', [b.emit1('dot_general', [x, w], { lhsBatch: [], rhsBatch: [], lhsContract: [1], rhsContract: [0] })], {});
  const loss = b.emit1('reduce', [h], { dims: [0, 1], kind: 'sum' });
  return b.finish([loss], [{ name: 'loss' }]);
}

describe('vjpFunc', () => {
  it('has a rule or a nondiff mark for every primitive, and the test cases cover exactly the differentiable ones', () => {
    for (const p of PRIMS) {
      expect(VJP_RULES[p], p).toBeDefined();
      expect(PRIM_CASES[p] === 'nondiff', p).toBe(VJP_RULES[p] === 'nondiff');
    }
    const nondiff = PRIMS.filter((p) => VJP_RULES[p] === 'nondiff').sort();
    expect(nondiff).toEqual(['and', 'bitcast_convert', 'ceil', 'compare', 'constant', 'floor', 'iota', 'not', 'or', 'round_nearest_even',
      'shift_left', 'shift_right_logical', 'sign', 'xor']);
  });

  it('returns (primals, cotangents) → (results, grads) as documented', () => {
    const g = vjpFunc(mlp(), { wrt: [1] });
    expect(verifyFunc(g)).toEqual([]);
    expect(g.name).toBe('mlp_vjp');
    expect(g.params.map((p) => p.type.shape)).toEqual([[8, 4], [4, 16], []]);
    expect(g.paramInfo.map((i) => i.name)).toEqual(['x', 'params.w', 'ct.loss']);
    expect(g.results.map((r) => r.type.shape)).toEqual([[], [4, 16]]);
    expect(g.resultInfo.map((i) => i.name)).toEqual(['loss', 'grad.params.w']);
    // The weight gradient is xᵀ·(ct·(1 - h²)): one dot_general in the backward, contracting the batch.
    const dots = g.ops.filter((o) => o.prim === 'dot_general');
    expect(dots).toHaveLength(2);
  });

  it('gives zeros for a parameter that does not reach the result, and no cotangent work for non-wrt ones', () => {
    const b = new FuncBuilder('f');
    const x = b.param(f32([3], ['a']));
    const unused = b.param(f32([2, 2], ['a', 'b']));
    const y = b.emit1('reduce', [b.emit1('exp', [x], {})], { dims: [0], kind: 'sum' });
    const g = vjpFunc(b.finish([y]), { wrt: [0, 1] });
    expect(verifyFunc(g)).toEqual([]);
    const zero = g.results[2]!.def!;
    expect(zero.prim).toBe('constant');
    expect(zero.attrs).toMatchObject({ value: 0, shape: [2, 2] });
    // wrt x only: the backward has no op that reads `unused`.
    const g0 = vjpFunc(b.finish([y]), { wrt: [0] });
    expect(g0.ops.some((o) => o.operands.includes(g0.params[1]!))).toBe(false);
  });

  it('sums the cotangents of a value used more than once (fan-out)', () => {
    const b = new FuncBuilder('fanout');
    const x = b.param(f32([3], ['a']));
    const y = b.emit1('add', [b.emit1('multiply', [x, x], {}), b.emit1('sine', [x], {})], {});
    const g = vjpFunc(b.finish([y]), { wrt: [0] });
    expect(verifyFunc(g)).toEqual([]);
    // x·x gives two contributions, sine one: two adds accumulate them (the forward has one more).
    expect(g.ops.filter((o) => o.prim === 'add').length).toBe(3);
  });

  it('passes no cotangent through integer values, compare, or a stop-gradient barrier', () => {
    const b = new FuncBuilder('nodiff');
    const x = b.param(f32([3], ['a']));
    const asInt = b.emit1('convert', [b.emit1('floor', [x], {})], { dtype: 'i32' });
    const back = b.emit1('convert', [asInt], { dtype: 'f32' });
    const [stopped] = b.emit('optimization_barrier', [x], { stopGradient: true });
    const y = b.emit1('add', [back, b.emit1('multiply', [stopped!, x], {})], {});
    const g = vjpFunc(b.finish([y]), { wrt: [0] });
    expect(verifyFunc(g)).toEqual([]);
    // d/dx [floor(x) + stop(x)·x] = stop(x): the grad is the barrier's value times the cotangent, nothing through floor.
    const grad = g.results[1]!.def!;
    expect(grad.prim).toBe('multiply');
    expect(grad.operands.map((v) => v.def?.prim ?? 'param').sort()).toEqual(['optimization_barrier', 'param']);
  });

  it('refuses an integer wrt parameter, naming the function, the parameter and its type', () => {
    const b = new FuncBuilder('lookup');
    const ids = b.param(tensorType('i32', [4], ['batch']), { name: 'batch.ids' });
    const t = b.param(f32([4], ['batch']));
    const y = b.emit1('reduce', [b.emit1('add', [b.emit1('convert', [ids], { dtype: 'f32' }), t], {})], { dims: [0], kind: 'sum' });
    const f = b.finish([y]);
    expect(() => vjpFunc(f, { wrt: [0] })).toThrow(FlipError);
    expect(() => vjpFunc(f, { wrt: [0] })).toThrow(/@lookup.*parameter 0 "batch.ids" of type i32\[batch=4\]/);
    expect(() => vjpFunc(f, { wrt: [5] })).toThrow(/parameter 5 does not exist/);
    expect(() => vjpFunc(f, { wrt: [1], seeds: [3] })).toThrow(/result 3 does not exist/);
  });

  it('differentiates a bf16 × bf16 → f32 dot: cotangents convert back to bf16', () => {
    const b = new FuncBuilder('mixed');
    const x = b.param(tensorType('bf16', [4, 8], ['batch', 'embed']));
    const w = b.param(tensorType('bf16', [8, 2], ['embed', 'mlp']));
    const y = b.emit1('dot_general', [x, w], { lhsBatch: [], rhsBatch: [], lhsContract: [1], rhsContract: [0], resultDtype: 'f32' });
    const g = vjpFunc(b.finish([b.emit1('reduce', [y], { dims: [0, 1], kind: 'sum' })]), { wrt: [0, 1] });
    expect(verifyFunc(g)).toEqual([]);
    expect(g.results.slice(1).map((r) => r.type.dtype)).toEqual(['bf16', 'bf16']);
    expect(g.ops.filter((o) => o.prim === 'convert').map((o) => (o.attrs as { dtype: string }).dtype)).toEqual(['bf16']);
  });

  it('produces well-formed IR with grads typed as the params for every primitive case', () => {
    for (const [prim, arb] of Object.entries(PRIM_CASES)) {
      if (arb === 'nondiff') continue;
      fc.assert(
        fc.property(arb, (c) => {
          const g = vjpFunc(c.func, { wrt: c.wrt });
          const problems = verifyFunc(g);
          if (problems.length) throw new Error(`${prim}: ${problems.join('\n')}\n${printFunc(g)}`);
          const grads = g.results.slice(c.func.results.length);
          expect(grads.map((r) => r.type.shape)).toEqual(c.wrt.map((i) => c.params[i]!.type.shape));
          expect(grads.map((r) => r.type.dtype)).toEqual(c.wrt.map((i) => c.params[i]!.type.dtype));
        }),
        { numRuns: 25, seed: 42 },
      );
    }
  });
});
