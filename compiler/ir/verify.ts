// The IR verifier: SSA order, operand/result types re-derived from the shape rules, and function signatures.
import { FlipError } from './errors.ts';
import type { Func, Module, Value } from './func.ts';
import { inferTypes } from './shape.ts';
import { sameShape, showLoc, showType } from './types.ts';

export class VerifyError extends FlipError {
  override name = 'VerifyError';
}

/** Returns the problems found (empty when the function is well formed). */
export function verifyFunc(f: Func): string[] {
  const problems: string[] = [];
  const defined = new Set<number>();
  const where = (i: number) => `${f.name}: op #${i} (${f.ops[i]!.prim}) at ${showLoc(f.ops[i]!.loc)}`;
  for (const p of f.params) {
    if (defined.has(p.id)) problems.push(`${f.name}: parameter %${p.id} declared twice`);
    defined.add(p.id);
  }
  if (f.paramInfo.length !== f.params.length) problems.push(`${f.name}: ${f.paramInfo.length} param infos for ${f.params.length} params`);
  f.ops.forEach((op, i) => {
    for (const v of op.operands) if (!defined.has(v.id)) problems.push(`${where(i)}: operand %${v.id} is used before it is defined`);
    if (op.prim === 'scan') for (const q of verifyFunc((op.attrs as { body: Func }).body)) problems.push(`${where(i)}: body: ${q}`);
    let types;
    try {
      types = inferTypes(op.prim, op.operands.map((v) => v.type), op.attrs as never);
    } catch (e) {
      problems.push(`${where(i)}: ${(e as Error).message}`);
      return;
    }
    if (types.length !== op.results.length) problems.push(`${where(i)}: ${op.results.length} results, shape rule gives ${types.length}`);
    op.results.forEach((r: Value, k) => {
      const t = types[k];
      if (t && (t.dtype !== r.type.dtype || !sameShape(t.shape, r.type.shape)))
        problems.push(`${where(i)}: result ${k} is ${showType(r.type)} but the shape rule gives ${showType(t)}`);
      if (r.type.axes.length !== r.type.shape.length) problems.push(`${where(i)}: result ${k} has ${r.type.axes.length} axis names for rank ${r.type.shape.length}`);
      if (defined.has(r.id)) problems.push(`${where(i)}: result %${r.id} defined twice`);
      defined.add(r.id);
    });
  });
  for (const r of f.results) if (!defined.has(r.id)) problems.push(`${f.name}: returned value %${r.id} is not defined`);
  if (f.resultInfo.length !== f.results.length) problems.push(`${f.name}: ${f.resultInfo.length} result infos for ${f.results.length} results`);
  return problems;
}

export function verifyModule(m: Module): string[] {
  const names = new Set<string>();
  const problems: string[] = [];
  for (const f of m.funcs) {
    if (names.has(f.name)) problems.push(`function @${f.name} defined twice`);
    names.add(f.name);
    problems.push(...verifyFunc(f));
  }
  return problems;
}

/** Throw if the function is malformed: passes call this after they rewrite. */
export function assertValid(f: Func): void {
  const p = verifyFunc(f);
  if (p.length) throw new VerifyError(`invalid IR:\n  ${p.join('\n  ')}`);
}
