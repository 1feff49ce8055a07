// Autodiff of `scan` (a loop over a leading axis): the forward scan also returns the body's residuals, stacked per
// iteration, and the backward is a reverse scan over the body's VJP. This is JAX's `scan` partial-evaluation in IR
// form: the body's VJP Func (from vjpFunc) is split into the ops that do not depend on its cotangent parameters (the
// forward part, which goes into the forward scan's body) and those that do (the backward part, the reverse scan's
// body). The values that cross from the first to the second are the residuals; a checkpoint (remat) region inside
// the body makes its recomputation part of the backward, so what crosses is what the policy saves.
import { FlipError, FuncBuilder, isFloat, type Func, type Op, type PrimAttrs, type Value } from '../ir/index.ts';
// autodiff.ts imports this file too: the cycle is only between functions called at run time.
import { vjpFunc } from './autodiff.ts';
import type { OpEmitter } from './emit.ts';
import { simplify } from './simplify.ts';
import { VJP_RULES, isStopGradient } from './vjp_rules.ts';

type ScanAttrs = PrimAttrs['scan'];

/** What the backward of one scan needs from its forward. */
export interface ScanPlan {
  readonly attrs: ScanAttrs;
  /** The reverse scan's body. */
  readonly bwdBody: Func;
  /** Carries that carry a cotangent through the loop (indices into the carries). */
  readonly carries: readonly number[];
  /** Consts whose gradients are accumulated (indices into the consts). */
  readonly consts: readonly number[];
  /** xs whose cotangents are returned (indices into the xs). */
  readonly xsOut: readonly number[];
  /** Original xs and consts the backward body reads (indices into the xs / consts). */
  readonly xsIn: readonly number[];
  readonly constsIn: readonly number[];
  /** Results of the op (index into its results) whose cotangents seed the body's VJP: carries first, then ys. */
  readonly ySeeds: readonly number[];
  /** The forward scan's operands (forward copies) and its residual results, stacked. */
  readonly operands: readonly Value[];
  readonly residuals: readonly Value[];
}

/** Body parameters (by index) active for the VJP, given which operands are: a carry is active if it flows from one. */
function bodyActivity(a: ScanAttrs, act: readonly boolean[]): { wrt: number[]; seeds: number[] } {
  const { body, numCarry } = a;
  const A = new Set<number>();
  act.forEach((on, k) => { if (on && isFloat(body.params[k + 1]!.type.dtype)) A.add(k + 1); });
  for (;;) {
    const live = new Set([...A].map((i) => body.params[i]!.id));
    for (const op of body.ops) {
      if (VJP_RULES[op.prim] === 'nondiff' || isStopGradient(op.prim, op.attrs)) continue;
      if (op.operands.some((v) => live.has(v.id))) for (const r of op.results) if (isFloat(r.type.dtype)) live.add(r.id);
    }
    const seeds = body.results.flatMap((r, i) => (live.has(r.id) && isFloat(r.type.dtype) ? [i] : []));
    const grown = seeds.filter((i) => i < numCarry && !A.has(i + 1));
    if (!grown.length) return { wrt: [...A].sort((x, y) => x - y), seeds };
    for (const i of grown) A.add(i + 1);
  }
}

/**
 * Emit the forward of scan `op` into `b` (operands `ins`, the forward copies; `act`: which need a cotangent): the scan
 * with its body's residuals as extra stacked ys. Returns the values of `op`'s own results and the plan for its backward.
 */
export function scanForward(b: FuncBuilder, op: Op, ins: readonly Value[], act: readonly boolean[]): { outs: Value[]; plan: ScanPlan } {
  const a = op.attrs as ScanAttrs;
  const { body, numCarry: C, numXs: X } = a;
  const { wrt, seeds } = bodyActivity(a, act);
  const nB = body.params.length, nR = body.results.length;
  const V = vjpFunc(body, { wrt, seeds, name: `${body.name}_vjp` });

  // The backward part: V's ops that depend on its cotangent parameters.
  const dep = new Set(V.params.slice(nB).map((p) => p.id));
  const bwdOps = V.ops.filter((o) => {
    if (!o.operands.some((v) => dep.has(v.id))) return false;
    for (const r of o.results) dep.add(r.id);
    return true;
  });
  const grads = V.results.slice(nR);
  // Forward values the backward reads. Constants and iotas are re-emitted there; parameters of the body (other than
  // carries) come in again as the reverse scan's own xs and consts; the rest is saved.
  const needed = new Map<number, Value>();
  for (const v of [...bwdOps.flatMap((o) => o.operands), ...grads]) if (!dep.has(v.id)) needed.set(v.id, v);
  const paramIndex = new Map(V.params.map((p, i) => [p.id, i]));
  const saved: Value[] = [];
  const xsIn = new Set<number>(), constsIn = new Set<number>();
  for (const v of needed.values()) {
    const pi = paramIndex.get(v.id);
    if (pi === undefined) {
      if (v.def && v.def.operands.length > 0) saved.push(v);
    } else if (pi === 0) {
      // the index: the reverse scan has its own
    } else if (pi <= C) saved.push(v);
    else if (pi <= C + X) xsIn.add(pi - 1 - C);
    else if (pi < nB) constsIn.add(pi - 1 - C - X);
    else throw new FlipError(`scan VJP: cotangent parameter %${v.id} classed as a forward value`);
  }

  // The forward body: B's results, then the residuals.
  const fb = new FuncBuilder(`${body.name}_fwd`);
  const fmap = new Map<number, Value>();
  V.params.slice(0, nB).forEach((p, i) => fmap.set(p.id, fb.param(p.type, body.paramInfo[i])));
  for (const o of V.ops) {
    if (dep.has(o.results[0]?.id ?? -1)) continue;
    const outs = fb.withRemat(o.remat, () => fb.emit(o.prim, o.operands.map((v) => fmap.get(v.id)!), o.attrs, o.loc));
    o.results.forEach((r, k) => fmap.set(r.id, outs[k]!));
  }
  const fwdBody = simplify(fb.finish([...V.results.slice(0, nR), ...saved].map((v) => fmap.get(v.id)!), [...body.resultInfo, ...saved.map((_, i) => ({ name: `residual.${i}` }))], body.loc));
  const fwdOuts = b.emit('scan', ins, { ...a, body: fwdBody }, op.loc);
  const outs = fwdOuts.slice(0, op.results.length);
  const residuals = fwdOuts.slice(op.results.length);

  // The backward body: params (index, ct of active carries, const-grad accumulators, needed xs, residuals, ct of ys,
  // needed consts); results (ct of the carries, accumulators + this iteration's const grads, ct of active xs).
  const carries = wrt.filter((i) => i >= 1 && i <= C).map((i) => i - 1);
  const consts = wrt.filter((i) => i > C + X).map((i) => i - 1 - C - X);
  const xsOut = wrt.filter((i) => i > C && i <= C + X).map((i) => i - 1 - C);
  const ySeeds = seeds.filter((s) => s >= C);
  const xsInList = [...xsIn].sort((x, y) => x - y), constsInList = [...constsIn].sort((x, y) => x - y);
  const bb = new FuncBuilder(`${body.name}_bwd`);
  const bmap = new Map<number, Value>();
  bmap.set(V.params[0]!.id, bb.param(V.params[0]!.type, { name: 'index' }));
  const ctCarry = carries.map((j) => bb.param(body.params[1 + j]!.type, { name: `ct.carry.${j}` }));
  const acc = consts.map((k) => bb.param(body.params[1 + C + X + k]!.type, { name: `grad.const.${k}` }));
  for (const k of xsInList) bmap.set(V.params[1 + C + k]!.id, bb.param(V.params[1 + C + k]!.type, body.paramInfo[1 + C + k]));
  saved.forEach((v, i) => bmap.set(v.id, bb.param(v.type, { name: `residual.${i}` })));
  const ctY = ySeeds.map((s) => bb.param(body.results[s]!.type, { name: `ct.y.${s - C}` }));
  for (const k of constsInList) bmap.set(V.params[1 + C + X + k]!.id, bb.param(V.params[1 + C + X + k]!.type, body.paramInfo[1 + C + X + k]));
  seeds.forEach((s, n) => {
    const p = V.params[nB + n]!;
    bmap.set(p.id, s < C ? ctCarry[carries.indexOf(s)]! : ctY[ySeeds.indexOf(s)]!);
  });
  const get = (v: Value): Value => {
    const hit = bmap.get(v.id);
    if (hit) return hit;
    const d = v.def;
    if (!d || d.operands.length > 0) throw new FlipError(`scan VJP: the backward reads %${v.id} (${d?.prim ?? 'parameter'}) that it was not given`);
    const outs = bb.emit(d.prim, [], d.attrs, d.loc);
    d.results.forEach((r, k) => bmap.set(r.id, outs[k]!));
    return bmap.get(v.id)!;
  };
  for (const o of bwdOps) {
    const outs = bb.withRemat(o.remat, () => bb.emit(o.prim, o.operands.map(get), o.attrs, o.loc));
    o.results.forEach((r, k) => bmap.set(r.id, outs[k]!));
  }
  const gradOf = (i: number) => get(grads[wrt.indexOf(i)]!);
  const bwdResults = [
    ...carries.map((j) => gradOf(1 + j)),
    ...consts.map((k, n) => bb.emit1('add', [acc[n]!, gradOf(1 + C + X + k)], {}, op.loc)),
    ...xsOut.map((k) => gradOf(1 + C + k)),
  ];
  const bwdBody = simplify(bb.finish(bwdResults, bwdResults.map(() => ({})), body.loc));
  return {
    outs,
    plan: { attrs: a, bwdBody, carries, consts, xsOut, xsIn: xsInList, constsIn: constsInList, ySeeds, operands: ins, residuals },
  };
}

/** The cotangents of a scan's operands: the reverse scan over the body's backward. `cts`: one per result of the op. */
export function scanBackward(e: OpEmitter, plan: ScanPlan, cts: readonly (Value | undefined)[], results: readonly Value[]): (Value | undefined)[] {
  const { attrs: a, carries, consts, xsOut, xsIn, constsIn, ySeeds, operands, residuals } = plan;
  const C = a.numCarry, X = a.numXs;
  const ct = (i: number) => cts[i] ?? e.zeros(results[i]!.type);
  const carryInit = [...carries.map((j) => ct(j)), ...consts.map((k) => e.zeros(operands[C + X + k]!.type))];
  const xs = [...xsIn.map((k) => operands[C + k]!), ...residuals, ...ySeeds.map((s) => ct(s))];
  const ks = constsIn.map((k) => operands[C + X + k]!);
  const outs = e.ops('scan', [...carryInit, ...xs, ...ks], {
    body: plan.bwdBody, length: a.length, numCarry: carryInit.length, numXs: xs.length, axis: a.axis, ...(a.reverse ? {} : { reverse: true }),
  });
  const inCts: (Value | undefined)[] = operands.map(() => undefined);
  carries.forEach((j, n) => { inCts[j] = outs[n]; });
  consts.forEach((k, n) => { inCts[C + X + k] = outs[carries.length + n]; });
  xsOut.forEach((k, n) => { inCts[C + k] = outs[carryInit.length + n]; });
  return inCts;
}
