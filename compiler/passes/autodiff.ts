// Reverse-mode autodiff as an IR pass: a Func in, its VJP Func out (forward copy, then the backward sweep).
import { FlipError, FuncBuilder, isFloat, sameType, showType, type Func, type Op, type Value } from '../ir/index.ts';
import { OpEmitter } from './emit.ts';
import { Recompute } from './remat.ts';
import { scanBackward, scanForward, type ScanPlan } from './scan.ts';
import { simplify } from './simplify.ts';
import { VJP_RULES, isStopGradient, type VjpArgs, type VjpRule } from './vjp_rules.ts';

export interface VjpOptions {
  /** Indices of the parameters to differentiate with respect to (each a float tensor). */
  readonly wrt: readonly number[];
  /** Indices of the results that receive a cotangent parameter; default: every float result. The others get none (zero). */
  readonly seeds?: readonly number[];
  /** Name of the new function; default `<f>_vjp`. */
  readonly name?: string;
}

/**
 * The vector-Jacobian product of `f`, as a new Func:
 *
 *   params:  f's params, then one cotangent per seed result (typed as that result), in `seeds` order
 *   results: f's results, then ∂⟨cotangents, results⟩/∂param for each `wrt` param (typed as that param), in `wrt` order
 *
 * A parameter that does not reach any seeded result gets zeros. Integer and bool values carry no cotangent; ops whose
 * rule is 'nondiff' and stop-gradient barriers pass none back. Values used more than once sum their cotangents.
 * Ops tagged by `checkpoint` are recomputed for the backward (see Recompute). The result is simplified (DCE, CSE,
 * folding), so it carries no forward code the results do not need.
 */
export function vjpFunc(f: Func, opts: VjpOptions): Func {
  checkWrt(f, opts.wrt);
  const seeds = opts.seeds ?? f.results.map((_, i) => i).filter((i) => isFloat(f.results[i]!.type.dtype));
  for (const i of seeds) {
    const r = f.results[i];
    if (!r) throw new FlipError(`vjp of @${f.name}: result ${i} does not exist (it has ${f.results.length})`);
    if (!isFloat(r.type.dtype)) throw new FlipError(`vjp of @${f.name}: result ${i} is ${showType(r.type)}; only float results take a cotangent`);
  }

  // Active values: float values that depend on a wrt param through differentiable ops.
  const active = new Set(opts.wrt.map((i) => f.params[i]!.id));
  for (const op of f.ops) {
    if (VJP_RULES[op.prim] === 'nondiff' || isStopGradient(op.prim, op.attrs)) continue;
    if (op.operands.some((v) => active.has(v.id))) for (const r of op.results) if (isFloat(r.type.dtype)) active.add(r.id);
  }

  const b = new FuncBuilder(opts.name ?? `${f.name}_vjp`);
  const fwd = new Map<number, Value>();
  const forward = (v: Value) => fwd.get(v.id)!;
  f.params.forEach((p, i) => fwd.set(p.id, b.param(p.type, f.paramInfo[i])));
  const seedParams = seeds.map((i) => b.param(f.results[i]!.type, { name: `ct.${f.resultInfo[i]?.name ?? i}` }));
  // A scan with an active operand runs forward with its body's residuals as extra results (see scan.ts).
  const scans = new Map<Op, ScanPlan>();
  for (const op of f.ops) {
    const act = op.prim === 'scan' ? op.operands.map((v) => active.has(v.id)) : [];
    if (act.some(Boolean)) {
      const { outs, plan } = b.withRemat(op.remat, () => scanForward(b, op, op.operands.map(forward), act));
      scans.set(op, plan);
      op.results.forEach((r, k) => fwd.set(r.id, outs[k]!));
      continue;
    }
    const outs = b.withRemat(op.remat, () => b.emit(op.prim, op.operands.map(forward), op.attrs, op.loc));
    op.results.forEach((r, k) => fwd.set(r.id, outs[k]!));
  }

  const cts = new Map<number, Value>();
  const accumulate = (e: OpEmitter, v: Value, ct: Value) => {
    const prev = cts.get(v.id);
    cts.set(v.id, prev ? e.add(prev, ct) : ct);
  };
  const seedEmitter = new OpEmitter(b, f.loc);
  seeds.forEach((i, k) => {
    if (active.has(f.results[i]!.id)) accumulate(seedEmitter, f.results[i]!, seedParams[k]!);
  });

  const remat = new Recompute(b, forward);
  for (let i = f.ops.length - 1; i >= 0; i--) {
    const op = f.ops[i]!;
    const rule = VJP_RULES[op.prim];
    if (rule === 'nondiff') continue;
    const outCts = op.results.map((r) => cts.get(r.id));
    const anchor = outCts.find((c) => c !== undefined);
    if (!anchor) continue;
    const act = op.operands.map((v) => active.has(v.id));
    if (!act.some(Boolean)) continue;
    const tag = op.remat;
    const primal = tag ? (v: Value) => remat.primal(tag, v, anchor) : forward;
    const e = new OpEmitter(b, op.loc);
    const args: VjpArgs<typeof op.prim> = { attrs: op.attrs, ins: op.operands.map(primal), outs: op.results.map(primal), cts: outCts, active: act };
    // A scan's backward reads the residuals its forward saved (never a recomputation: they are the forward's).
    const plan = scans.get(op);
    const inCts = plan ? scanBackward(e, plan, outCts, op.results.map(forward)) : (rule as VjpRule<typeof op.prim>)(e, args);
    op.operands.forEach((v, k) => {
      const ct = inCts[k];
      if (!ct || !act[k]) return;
      if (!sameType(ct.type, v.type))
        throw new FlipError(`vjp of @${f.name}: the ${op.prim} rule gave a ${showType(ct.type)} cotangent for operand ${k} of type ${showType(v.type)}`);
      accumulate(e, v, ct);
    });
  }

  const grads = opts.wrt.map((i) => {
    const p = f.params[i]!;
    return cts.get(p.id) ?? seedEmitter.zeros(p.type);
  });
  const gradInfo = opts.wrt.map((i) => ({ name: `grad.${f.paramInfo[i]?.name ?? i}` }));
  return simplify(b.finish([...f.results.map(forward), ...grads], [...f.resultInfo, ...gradInfo], f.loc));
}

function checkWrt(f: Func, wrt: readonly number[]): void {
  if (new Set(wrt).size !== wrt.length) throw new FlipError(`vjp of @${f.name}: wrt [${wrt.join(', ')}] repeats a parameter`);
  for (const i of wrt) {
    const p = f.params[i];
    if (!Number.isInteger(i) || !p) throw new FlipError(`vjp of @${f.name}: parameter ${i} does not exist (it has ${f.params.length})`);
    if (!isFloat(p.type.dtype)) {
      const name = f.paramInfo[i]?.name;
      throw new FlipError(
        `vjp of @${f.name}: cannot differentiate with respect to parameter ${i}${name ? ` "${name}"` : ''} of type ${showType(p.type)}: ` +
          'gradients exist only for float inputs (pass integer inputs as non-differentiated arguments)',
      );
    }
  }
}
