// Remat on IR built with FuncBuilder: what the backward keeps alive with and without checkpoint regions, per policy.
import { describe, expect, it } from 'vitest';
import { FuncBuilder, tensorType, verifyFunc, type RematPolicy, type Value } from '../../compiler/ir/index.ts';
import { residuals, vjpFunc } from '../../compiler/passes/index.ts';

const B = 8, D = 16, M = 32, LAYERS = 4;

/** A residual MLP stack, each layer optionally its own checkpoint region: h += W2·gelu-ish(W1·h). */
function stack(policy: RematPolicy | undefined) {
  const b = new FuncBuilder('stack');
  const x = b.param(tensorType('f32', [B, D], ['batch', 'embed']), { name: 'x' });
  const ws = Array.from({ length: LAYERS }, (_, l) => [
    b.param(tensorType('f32', [D, M], ['embed', 'mlp']), { name: `w1.${l}` }),
    b.param(tensorType('f32', [M, D], ['mlp', 'embed']), { name: `w2.${l}` }),
  ] as const);
  const dot = (a: Value, w: Value) => b.emit1('dot_general', [a, w], { lhsBatch: [], rhsBatch: [], lhsContract: [1], rhsContract: [0] });
  let h = x;
  ws.forEach(([w1, w2], l) => {
    const layer = () => {
      const u = dot(h, w1);
      const act = b.emit1('multiply', [u, b.emit1('logistic', [u], {})], {});
      return b.emit1('add', [h, dot(b.emit1('tanh', [act], {}), w2)], {});
    };
    h = policy ? b.withRemat({ region: 100 + l, policy }, layer) : layer();
  });
  const loss = b.emit1('reduce', [b.emit1('multiply', [h, h], {})], { dims: [0, 1], kind: 'sum' });
  return b.finish([loss]);
}

const wrt = Array.from({ length: 2 * LAYERS }, (_, i) => i + 1);

describe('remat in the VJP pass', () => {
  it('keeps fewer activations alive from forward to backward with checkpointed layers', () => {
    const plain = vjpFunc(stack(undefined), { wrt });
    const remat = vjpFunc(stack('nothing_saveable'), { wrt });
    const dots = vjpFunc(stack('dots_with_no_batch_dims_saveable'), { wrt });
    for (const g of [plain, remat, dots]) expect(verifyFunc(g)).toEqual([]);
    const [rp, rr, rd] = [plain, remat, dots].map((g) => residuals(g, 1));
    // Without remat every layer keeps u, logistic(u), act, tanh(act) alive ([B, M] each); with it only the layer
    // inputs h ([B, D]) and the weights. Saving dots keeps u too.
    const activations = (r: typeof rp) => r.values.filter((v) => v.def).length; // params excluded
    expect(rr.bytes).toBeLessThan(rp.bytes);
    expect(rd.bytes).toBeLessThan(rp.bytes);
    expect(rr.bytes).toBeLessThan(rd.bytes);
    expect(activations(rr)).toBeLessThan(activations(rp));
    const weightsAndInput = 4 * (B * D + LAYERS * 2 * D * M);
    expect(rr.bytes).toBe(weightsAndInput + 4 * (LAYERS - 1) * B * D + 4 * B * D); // + h entering layers 1..3, + final h
  });

  it('recomputes behind optimization barriers anchored on a cotangent, so XLA cannot CSE or hoist it', () => {
    const g = vjpFunc(stack('nothing_saveable'), { wrt });
    const barriers = g.ops.filter((o) => o.prim === 'optimization_barrier');
    expect(barriers.length).toBeGreaterThan(0);
    const ct = g.params[g.params.length - 1]!;
    // Every barrier's second operand depends on the cotangent parameter.
    const dependsOnCt = new Set([ct.id]);
    for (const op of g.ops) if (op.operands.some((v) => dependsOnCt.has(v.id))) for (const r of op.results) dependsOnCt.add(r.id);
    for (const bar of barriers) expect(dependsOnCt.has(bar.operands[1]!.id)).toBe(true);
    // The forward logistic is computed once per layer in the forward and once more per layer in the backward.
    expect(g.ops.filter((o) => o.prim === 'logistic')).toHaveLength(2 * LAYERS);
    expect(vjpFunc(stack(undefined), { wrt }).ops.filter((o) => o.prim === 'logistic')).toHaveLength(LAYERS);
  });
});
