// A readable IR printer: one op per line with its result types and source location.
import type { Func, Module, Op, Value } from './func.ts';
import { showLoc, showType } from './types.ts';

function showAttrValue(v: unknown): string {
  if (v !== null && typeof v === 'object' && 'ops' in v && 'params' in v) return `@${(v as Func).name}`;
  if (Array.isArray(v)) return v.length > 8 ? `[${v.slice(0, 8).join(', ')}, … ${v.length} values]` : `[${v.join(', ')}]`;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

export function showAttrs(op: Op): string {
  const entries = Object.entries(op.attrs as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return entries.length ? ` {${entries.map(([k, v]) => `${k}=${showAttrValue(v)}`).join(', ')}}` : '';
}

const name = (v: Value) => `%${v.id}`;

export function printFunc(f: Func): string {
  const lines: string[] = [];
  const params = f.params.map((p, i) => `${name(p)}: ${showType(p.type)}${f.paramInfo[i]?.name ? ` "${f.paramInfo[i]!.name}"` : ''}`);
  lines.push(`func @${f.name}(${params.join(', ')}) -> (${f.results.map((r) => showType(r.type)).join(', ')}) {`);
  for (const op of f.ops) {
    const lhs = op.results.map(name).join(', ');
    const types = op.results.map((r) => showType(r.type)).join(', ');
    const loc = op.loc || op.remat ? `  #${op.loc ? ` ${showLoc(op.loc)}` : ''}${op.remat ? ` remat(${op.remat.region}, ${op.remat.policy})` : ''}` : '';
    lines.push(`  ${lhs} = ${op.prim}(${op.operands.map(name).join(', ')})${showAttrs(op)} : ${types}${loc}`);
    // A scan's body prints under it, indented.
    if (op.prim === 'scan') lines.push(...printFunc((op.attrs as { body: Func }).body).split('\n').map((l) => `    ${l}`));
  }
  lines.push(`  return ${f.results.map(name).join(', ')}`, '}');
  return lines.join('\n');
}

export function printModule(m: Module): string {
  const attrs = Object.entries(m.attrs);
  const head = attrs.length ? `module {${attrs.map(([k, v]) => `${k}=${v}`).join(', ')}}\n` : '';
  return head + m.funcs.map(printFunc).join('\n\n');
}
