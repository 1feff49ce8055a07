// Prints a module AST back to MLIR text: ops in the syntax they were read in, two-space indents.
// print(parse(print(m))) === print(m) holds for any module that parses.
import type { AliasDef, BlockAst, FuncAst, ModuleAst, ModuleItem, OpAst, RegionAst } from './ast.ts';
import { printPrettyBody } from './formats.ts';
import { printAttr as printAttrText, printAttrDict, printFunctionType, printLoc, printSymbol, printType, printValue } from './syntax.ts';

const IND = '  ';

function locText(l: OpAst['loc']): string {
  return l ? ` loc(${printLoc(l)})` : '';
}

function printAlias(a: AliasDef): string {
  switch (a.kind) {
    case 'loc':
      return `${a.name} = loc(${printLoc(a.loc)})`;
    case 'attr':
      return `${a.name} = ${printAttrText(a.value)}`;
    case 'type':
      return `${a.name} = ${printType(a.type)}`;
  }
}


function printRegion(r: RegionAst, indent: string, implicitArgs: boolean): string {
  const lines: string[] = ['{'];
  r.blocks.forEach((b, i) => {
    const header = blockHeader(b, i === 0 && implicitArgs);
    if (header) lines.push(indent + header);
    for (const op of b.ops) lines.push(indent + IND + printOp(op, indent + IND));
  });
  lines.push(indent + '}');
  return lines.join('\n');
}

function blockHeader(b: BlockAst, implicit: boolean): string | null {
  if (implicit && b.label === null) return null;
  if (b.label === null && b.args.length === 0) return null;
  const args = b.args.map((a) => `${a.name}: ${printType(a.type)}${locText(a.loc)}`).join(', ');
  return `${b.label ?? '^bb0'}${b.args.length ? `(${args})` : ''}:`;
}

export function printOp(op: OpAst, indent: string): string {
  const results = op.results.map((r) => (r.count > 1 ? `${r.name}:${r.count}` : r.name)).join(', ');
  const lhs = results ? `${results} = ` : '';
  if (op.syntax === 'pretty') {
    const body = printPrettyBody(op, { region: (r, implicit) => printRegion(r, indent, implicit), indent });
    return `${lhs}${op.name}${body}${locText(op.loc)}`;
  }
  let s = `${lhs}"${op.name}"(${op.operands.map(printValue).join(', ')})`;
  if (op.successors.length) s += ` [${op.successors.join(', ')}]`;
  if (op.properties.length) s += ` <${printAttrDict(op.properties)}>`;
  if (op.regions.length) s += ` (${op.regions.map((r) => printRegion(r, indent, false)).join(', ')})`;
  if (op.attributes.length) s += ` ${printAttrDict(op.attributes)}`;
  s += ` : ${printFunctionType(op.operandTypes ?? [], op.resultTypes ?? [])}`;
  return s + locText(op.loc);
}

function printFunc(f: FuncAst, indent: string): string {
  const args = f.args
    .map((a) => `${a.name ? `${a.name}: ` : ''}${printType(a.type)}${a.attrs.length ? ' ' + printAttrDict(a.attrs) : ''}${locText(a.loc)}`)
    .join(', ');
  let s = `func.func${f.visibility ? ' ' + f.visibility : ''} ${printSymbol(f.name)}(${args})`;
  if (f.results.length || f.parenResults) {
    const rs = f.results.map((r) => `${printType(r.type)}${r.attrs.length ? ' ' + printAttrDict(r.attrs) : ''}${locText(r.loc)}`);
    const paren = f.parenResults || f.results.length !== 1 || f.results[0]!.attrs.length > 0 || f.results[0]!.loc !== null || f.results[0]!.type.kind === 'function';
    s += ` -> ${paren ? `(${rs.join(', ')})` : rs[0]}`;
  }
  if (f.attributes.length) s += ` attributes ${printAttrDict(f.attributes)}`;
  if (f.body) s += ' ' + printRegion(f.body, indent, true);
  return s + locText(f.loc);
}

function printItem(item: ModuleItem, indent: string): string {
  if (item.kind === 'func') return printFunc(item, indent);
  if (item.kind === 'module') return printModuleOp(item, indent);
  return printOp(item, indent);
}

function printModuleOp(m: ModuleAst, indent: string): string {
  let s = 'module';
  if (m.name !== null) s += ' ' + printSymbol(m.name);
  if (m.attributes.length) s += ` attributes ${printAttrDict(m.attributes)}`;
  const lines = [s + ' {'];
  for (const item of m.body) lines.push(indent + IND + printItem(item, indent + IND));
  lines.push(indent + '}' + locText(m.loc));
  return lines.join('\n');
}

/** The module as MLIR text, ending in a newline. */
export function printModule(m: ModuleAst): string {
  const lines: string[] = m.aliasesBefore.map(printAlias);
  if (m.implicit) for (const item of m.body) lines.push(printItem(item, ''));
  else lines.push(printModuleOp(m, ''));
  lines.push(...m.aliasesAfter.map(printAlias));
  return lines.join('\n') + '\n';
}
