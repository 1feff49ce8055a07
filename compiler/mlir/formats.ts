// The pretty syntax of each StableHLO / func op: one table row per op, reading the parsed
// pieces into operands, properties, regions and types, and printing them back the same way.
// Ops without a row keep their text (`custom`) and are printed back verbatim.
import type { AttrAst, BlockArg, NamedAttr, OpAst, Pos, RegionAst, SignatureAst, TypeAst, ValueUse } from './ast.ts';
import { convDimsFromLayouts } from './dialect_attrs.ts';
import type { ParenItem, Piece, Trailer } from './pieces.ts';
import { printAttr, printAttrDict, printConvDims, printFunctionType, printSymbol, printType, printValue, typesEqual } from './syntax.ts';

export type Fail = (msg: string, p: Pos) => never;

export interface RawPrettyIn {
  pieces: Piece[];
  signature: SignatureAst | null;
  trailers: Trailer[];
  namePos: Pos;
  tight: boolean;
  header: string;
  trailer: string;
}

/** What a format's printer may call back for: regions, indented as the op is. */
export interface RegionPrinter {
  /** `implicitArgs`: the entry block's arguments are spelled by the op's own syntax. */
  region(r: RegionAst, implicitArgs: boolean): string;
  /** The indentation of the op's own line. */
  indent: string;
}

interface Format {
  parse(c: Cursor, op: OpAst): void;
  /** The text after the op name. */
  print(op: OpAst, p: RegionPrinter): string;
}

const I64: TypeAst = { kind: 'scalar', name: 'i64' };

class Cursor {
  i = 0;
  constructor(readonly raw: RawPrettyIn, readonly op: OpAst, readonly fail: Fail) {}
  peek(k = 0): Piece | undefined {
    return this.raw.pieces[this.i + k];
  }
  at(): Pos {
    return this.peek()?.pos ?? this.raw.namePos;
  }
  err(what: string): never {
    const p = this.peek();
    const found = p ? describePiece(p) : this.raw.signature ? `':'` : 'the end of the op';
    return this.fail(`${this.op.name}: expected ${what} but found ${found}`, this.at());
  }
  isValue(k = 0): boolean {
    return this.peek(k)?.k === 'value';
  }
  value(): ValueUse {
    const p = this.peek();
    if (p?.k !== 'value') this.err('an SSA value');
    this.i++;
    return p.use;
  }
  /** `%a, %b, %c`; stops before `, name = ...`. */
  values(): ValueUse[] {
    const out: ValueUse[] = [];
    if (!this.isValue()) return out;
    out.push(this.value());
    while (this.peek()?.k === 'comma' && this.isValue(1)) {
      this.i++;
      out.push(this.value());
    }
    return out;
  }
  comma(): void {
    if (this.peek()?.k !== 'comma') this.err(`','`);
    this.i++;
  }
  optComma(): boolean {
    if (this.peek()?.k !== 'comma') return false;
    this.i++;
    return true;
  }
  isKw(name: string, k = 0): boolean {
    const p = this.peek(k);
    return p?.k === 'kw' && p.name === name;
  }
  kw(name: string): Extract<Piece, { k: 'kw' }> {
    const p = this.peek();
    if (p?.k !== 'kw' || p.name !== name) this.err(`'${name} = ...'`);
    this.i++;
    return p;
  }
  /** `, name = ...` if present. */
  optKw(name: string): Extract<Piece, { k: 'kw' }> | null {
    if (this.peek()?.k === 'comma' && this.isKw(name, 1)) {
      this.i++;
      return this.kw(name);
    }
    if (this.isKw(name)) return this.kw(name);
    return null;
  }
  ident(): string {
    const p = this.peek();
    if (p?.k !== 'ident') this.err('a keyword');
    this.i++;
    return p.name;
  }
  expectIdent(word: string): void {
    const p = this.peek();
    if (p?.k !== 'ident' || p.name !== word) this.err(`'${word}'`);
    this.i++;
  }
  take<K extends Piece['k']>(k: K, what: string): Extract<Piece, { k: K }> {
    const p = this.peek();
    if (p?.k !== k) this.err(what);
    this.i++;
    return p as Extract<Piece, { k: K }>;
  }
  attrDict(): NamedAttr[] {
    if (this.peek()?.k !== 'attrdict') return [];
    return this.take('attrdict', 'an attribute dictionary').entries;
  }
  end(): void {
    if (this.peek()) this.err(this.raw.signature ? `':'` : `':' and a type signature`);
  }
  sig(): SignatureAst {
    if (!this.raw.signature) this.fail(`${this.op.name}: expected ':' and a type signature`, this.at());
    return this.raw.signature;
  }
  noTrailers(): void {
    const t = this.raw.trailers[0];
    if (t) this.fail(`${this.op.name}: unexpected '${t.k === 'reducer' ? 'reducer' : 'cond'}' after the type signature`, t.pos);
  }
}

function describePiece(p: Piece): string {
  switch (p.k) {
    case 'value': return `'${printValue(p.use)}'`;
    case 'comma': return `','`;
    case 'equals': return `'='`;
    case 'kw': return `'${p.name} = ...'`;
    case 'ident': return `'${p.name}'`;
    case 'applies': return `'applies'`;
    case 'symbol': return `'@${p.path.join('::@')}'`;
    case 'paren': return `'('`;
    case 'bracket': return `'['`;
    case 'attrdict': return 'an attribute dictionary';
    case 'region': return 'a region';
    case 'attr': return `'${printAttr(p.value)}'`;
  }
}

// ------------------------------------------------------------------- attribute conversions

function intsOf(c: Cursor, a: AttrAst, what: string): number[] {
  if (a.kind !== 'array') c.fail(`${c.op.name}: ${what} must be a list of integers like [0, 1]`, c.at());
  return a.elements.map((e) => {
    if (e.kind !== 'int') c.fail(`${c.op.name}: ${what} must be a list of integers, found ${printAttr(e)}`, c.at());
    return Number(e.value);
  });
}

function intOf(c: Cursor, a: AttrAst, what: string): number {
  if (a.kind !== 'int') c.fail(`${c.op.name}: ${what} must be an integer, found ${printAttr(a)}`, c.at());
  return Number(a.value);
}

const i64Array = (xs: number[]): AttrAst => ({ kind: 'dense_array', elementType: I64, values: xs.map(String) });
const i64 = (n: number): AttrAst => ({ kind: 'int', value: BigInt(n), type: I64 });
const prop = (name: string, value: AttrAst, pos: Pos): NamedAttr => ({ name, quoted: false, value, pos });

/** The integers of an i64 dense array, an array of ints, or an integer dense tensor. */
export function intList(a: AttrAst | undefined): number[] | null {
  if (!a) return null;
  if (a.kind === 'dense_array') return a.values.map((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v)));
  if (a.kind === 'array' && a.elements.every((e) => e.kind === 'int' || e.kind === 'bool')) {
    return a.elements.map((e) => (e.kind === 'int' ? Number(e.value) : e.kind === 'bool' ? Number(e.value) : 0));
  }
  if (a.kind === 'dense') {
    const out: number[] = [];
    const walk = (d: import('./ast.ts').DenseLiteral): void => {
      if (d.kind === 'list') d.items.forEach(walk);
      else if (d.kind === 'scalar') out.push(d.text === 'true' ? 1 : d.text === 'false' ? 0 : Number(d.text));
    };
    walk(a.value);
    return out;
  }
  return null;
}

function getProp(op: OpAst, name: string): AttrAst | undefined {
  return op.properties.find((p) => p.name === name)?.value;
}

const listText = (xs: number[] | null): string => `[${(xs ?? []).join(', ')}]`;

// ------------------------------------------------------------------------ signatures

/** SameOperandsAndResultType ops: one type stands for all, or a full function type. */
function sameTypes(c: Cursor, op: OpAst, nOperands: number): void {
  const s = c.sig();
  if (s.kind === 'list') {
    if (s.types.length !== 1) c.fail(`${op.name}: expected one type or a function type, found ${s.types.length} types`, c.raw.namePos);
    op.operandTypes = new Array<TypeAst>(nOperands).fill(s.types[0]!);
    op.resultTypes = [s.types[0]!];
  } else {
    op.operandTypes = s.inputs;
    op.resultTypes = s.results;
  }
}

function functionTypes(c: Cursor, op: OpAst): void {
  const s = c.sig();
  if (s.kind === 'list') {
    // A single type where a function type is usual: MLIR's printers accept it when all types agree.
    if (s.types.length !== 1) c.fail(`${op.name}: expected a function type '(operands) -> results'`, c.raw.namePos);
    op.operandTypes = new Array<TypeAst>(op.operands.length).fill(s.types[0]!);
    op.resultTypes = [s.types[0]!];
  } else {
    op.operandTypes = s.inputs;
    op.resultTypes = s.results;
  }
}

/** Types of a one-result op written `: result-type`. */
function resultTypeOnly(c: Cursor, op: OpAst, operandTypes: TypeAst[] | null): void {
  const s = c.sig();
  if (s.kind === 'function') {
    op.operandTypes = s.inputs;
    op.resultTypes = s.results;
    return;
  }
  if (s.types.length !== 1) c.fail(`${op.name}: expected one result type, found ${s.types.length}`, c.raw.namePos);
  op.operandTypes = operandTypes;
  op.resultTypes = [s.types[0]!];
}

function printSame(op: OpAst): string {
  const ts = [...(op.operandTypes ?? []), ...(op.resultTypes ?? [])];
  const all = ts.length > 0 && (op.resultTypes?.length ?? 0) === 1 && ts.every((t) => typesEqual(t, ts[0]!));
  return all ? printType(ts[0]!) : printFunctionType(op.operandTypes ?? [], op.resultTypes ?? []);
}

const printFn = (op: OpAst): string => printFunctionType(op.operandTypes ?? [], op.resultTypes ?? []);
const operandsText = (op: OpAst): string => op.operands.map(printValue).join(', ');
const dictText = (attrs: NamedAttr[]): string => (attrs.length ? ' ' + printAttrDict(attrs) : '');

// --------------------------------------------------------------------------- formats

/** `op %a, %b {attrs} : T` or `: (A, B) -> R`. */
function simple(style: 'same' | 'function'): Format {
  return {
    parse(c: Cursor, op: OpAst) {
      op.operands = c.values();
      op.attributes = c.attrDict();
      c.end();
      c.noTrailers();
      if (style === 'same') sameTypes(c, op, op.operands.length);
      else functionTypes(c, op);
    },
    print(op) {
      const ops = operandsText(op);
      return `${ops ? ' ' + ops : ''}${dictText(op.attributes)} : ${style === 'same' ? printSame(op) : printFn(op)}`;
    },
  };
}

/** `stablehlo.complex %re, %im : tensor<2xcomplex<f32>>`: one type is the result's; the operands are its real parts. */
const complexOp: Format = {
  parse(c: Cursor, op: OpAst) {
    simple('same').parse(c, op);
    const t = op.resultTypes?.[0];
    if (op.operandTypes && t?.kind === 'tensor' && t.element.kind === 'complex' && op.operandTypes.every((o) => o === t)) {
      const part: TypeAst = { ...t, element: t.element.element };
      op.operandTypes = op.operandTypes.map(() => part);
    }
  },
  print: simple('same').print,
};

type KwKind = 'ints' | 'int' | 'ident' | 'bool';
interface KwSpec {
  kw: string;
  prop: string;
  kind: KwKind;
  optional?: boolean;
}

/** `op %a, kw = [..], kw2 = N {attrs} : sig` with properties named by the specs. */
function withKws(kws: KwSpec[], style: 'same' | 'function' | 'result'): Format {
  return {
    parse(c: Cursor, op: OpAst) {
      op.operands = c.values();
      for (const [idx, s] of kws.entries()) {
        let p: Extract<Piece, { k: 'kw' }> | null;
        if (s.optional) p = c.optKw(s.kw);
        else {
          if (op.operands.length > 0 || idx > 0) c.comma();
          p = c.kw(s.kw);
        }
        if (!p) continue;
        const v = p.values[0]!;
        if (p.values.length !== 1 || p.arrow) c.fail(`${op.name}: unexpected syntax in '${s.kw} = ...'`, p.pos);
        let value: AttrAst;
        if (s.kind === 'ints') value = i64Array(intsOf(c, v, `'${s.kw}'`));
        else if (s.kind === 'int') value = i64(intOf(c, v, `'${s.kw}'`));
        else if (s.kind === 'bool') {
          if (v.kind !== 'bool') c.fail(`${op.name}: '${s.kw}' must be true or false`, p.pos);
          value = v;
        } else {
          if (v.kind !== 'ident' && v.kind !== 'type') c.fail(`${op.name}: '${s.kw}' must be a keyword`, p.pos);
          value = { kind: 'ident', name: v.kind === 'ident' ? v.name : printType(v.type) };
        }
        op.properties.push(prop(s.prop, value, p.pos));
      }
      op.attributes = c.attrDict();
      c.end();
      c.noTrailers();
      if (style === 'same') sameTypes(c, op, op.operands.length);
      else if (style === 'function') functionTypes(c, op);
      else resultTypeOnly(c, op, []);
    },
    print(op) {
      const parts: string[] = [];
      const ops = operandsText(op);
      if (ops) parts.push(ops);
      for (const s of kws) {
        const v = getProp(op, s.prop);
        if (!v) continue;
        const text = s.kind === 'ints' ? listText(intList(v)) : v.kind === 'int' ? v.value.toString() : printAttr(v);
        parts.push(`${s.kw} = ${text}`);
      }
      const sig = style === 'same' ? printSame(op) : style === 'function' ? printFn(op) : printType(op.resultTypes?.[0] ?? { kind: 'scalar', name: 'none' });
      return `${parts.length ? ' ' + parts.join(', ') : ''}${dictText(op.attributes)} : ${sig}`;
    },
  };
}

const enumAttr = (enumName: string, value: string): AttrAst => ({ kind: 'enum', dialect: 'stablehlo', enumName, value });
const enumValue = (a: AttrAst | undefined): string | null => (a?.kind === 'enum' ? a.value : a?.kind === 'ident' ? a.name : null);

const compare: Format = {
  parse(c: Cursor, op: OpAst) {
    const p = c.at();
    const dir = c.ident();
    op.properties.push(prop('comparison_direction', enumAttr('comparison_direction', dir), p));
    c.comma();
    op.operands = c.values();
    if (c.optComma()) {
      const q = c.at();
      op.properties.push(prop('compare_type', enumAttr('comparison_type', c.ident()), q));
    }
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    functionTypes(c, op);
  },
  print(op) {
    const type = enumValue(getProp(op, 'compare_type'));
    return ` ${enumValue(getProp(op, 'comparison_direction')) ?? '?'}, ${operandsText(op)}${type ? `, ${type}` : ''}${dictText(op.attributes)} : ${printFn(op)}`;
  },
};

const select: Format = {
  parse(c: Cursor, op: OpAst) {
    op.operands = c.values();
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    const s = c.sig();
    if (s.kind === 'list') {
      if (s.types.length !== 2) c.fail(`${op.name}: expected 'predicate-type, result-type' or a function type`, c.raw.namePos);
      op.operandTypes = [s.types[0]!, s.types[1]!, s.types[1]!];
      op.resultTypes = [s.types[1]!];
    } else {
      op.operandTypes = s.inputs;
      op.resultTypes = s.results;
    }
  },
  print(op) {
    const [p, t, f] = op.operandTypes ?? [];
    const r = op.resultTypes?.[0];
    const short = p && t && f && r && op.resultTypes!.length === 1 && typesEqual(t, f) && typesEqual(t, r);
    return ` ${operandsText(op)}${dictText(op.attributes)} : ${short ? `${printType(p)}, ${printType(r)}` : printFn(op)}`;
  },
};

const constant: Format = {
  parse(c: Cursor, op: OpAst) {
    op.attributes = c.attrDict();
    const p = c.take('attr', 'a constant value like dense<...>');
    c.end();
    c.noTrailers();
    const s = c.sig();
    if (s.kind !== 'list' || s.types.length !== 1) c.fail(`${op.name}: expected the constant's type after ':'`, c.raw.namePos);
    const t = s.types[0]!;
    const value: AttrAst = p.value.kind === 'dense' ? { ...p.value, type: t } : p.value;
    op.properties.push(prop('value', value, p.pos));
    op.operandTypes = [];
    op.resultTypes = [t];
  },
  print(op) {
    const v = getProp(op, 'value');
    const text = v?.kind === 'dense' ? printAttr({ ...v, type: null }) : v ? printAttr(v) : 'dense<>';
    return `${dictText(op.attributes)} ${text} : ${printType(op.resultTypes?.[0] ?? { kind: 'scalar', name: 'none' })}`;
  },
};

/** `return %a, %b : A, B` and `stablehlo.return`: the types listed are the operands'. */
const returnLike: Format = {
  parse(c: Cursor, op: OpAst) {
    op.operands = c.values();
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    const s = c.raw.signature;
    if (!s) {
      if (op.operands.length) c.fail(`${op.name}: expected ':' and the types of the returned values`, c.raw.namePos);
      op.operandTypes = [];
    } else {
      if (s.kind !== 'list') c.fail(`${op.name}: expected the types of the returned values, not a function type`, c.raw.namePos);
      op.operandTypes = s.types;
    }
    op.resultTypes = [];
  },
  print(op) {
    if (!op.operands.length) return dictText(op.attributes);
    return ` ${operandsText(op)}${dictText(op.attributes)} : ${(op.operandTypes ?? []).map(printType).join(', ')}`;
  },
};

/** `call @f(%a) : (A) -> R` and `custom_call @target(%a) {...} : (A) -> R`. */
function callLike(symbolProp: 'callee' | 'call_target_name'): Format {
  return {
    parse(c: Cursor, op: OpAst) {
      const s = c.take('symbol', 'a symbol like @f');
      const args = c.take('paren', `'(' and the arguments`);
      op.operands = args.items.map((it) => {
        const v = itemValue(c, it, args.pos);
        if (it.bound || it.type) c.fail(`${op.name}: unexpected syntax in the argument list`, v.pos);
        return v;
      });
      const value: AttrAst = symbolProp === 'callee' ? { kind: 'symbol', path: s.path } : { kind: 'string', value: s.path.join('::'), type: null };
      op.properties.push(prop(symbolProp, value, s.pos));
      op.attributes = c.attrDict();
      c.end();
      c.noTrailers();
      functionTypes(c, op);
    },
    print(op) {
      const v = getProp(op, symbolProp);
      const name = v?.kind === 'symbol' ? v.path.map(printSymbol).join('::') : v?.kind === 'string' ? printSymbol(v.value) : '@?';
      return ` ${name}(${operandsText(op)})${dictText(op.attributes)} : ${printFn(op)}`;
    },
  };
}

const slice: Format = {
  parse(c: Cursor, op: OpAst) {
    op.operands = [c.value()];
    const b = c.take('bracket', `'[' and the slice ranges`);
    const start: number[] = [];
    const limit: number[] = [];
    const strides: number[] = [];
    for (const item of b.items) {
      if (item.length < 2 || item.length > 3) c.fail(`${op.name}: each range is start:limit or start:limit:stride`, b.pos);
      start.push(item[0]!);
      limit.push(item[1]!);
      strides.push(item[2] ?? 1);
    }
    op.properties.push(prop('start_indices', i64Array(start), b.pos), prop('limit_indices', i64Array(limit), b.pos), prop('strides', i64Array(strides), b.pos));
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    functionTypes(c, op);
  },
  print(op) {
    const s = intList(getProp(op, 'start_indices')) ?? [];
    const l = intList(getProp(op, 'limit_indices')) ?? [];
    const st = intList(getProp(op, 'strides')) ?? [];
    const ranges = s.map((x, i) => `${x}:${l[i]}${st[i] !== undefined && st[i] !== 1 ? `:${st[i]}` : ''}`);
    return ` ${operandsText(op)} [${ranges.join(', ')}]${dictText(op.attributes)} : ${printFn(op)}`;
  },
};

const getTupleElement: Format = {
  parse(c: Cursor, op: OpAst) {
    op.operands = [c.value()];
    const b = c.take('bracket', `'[' and the element index`);
    if (b.items.length !== 1 || b.items[0]!.length !== 1) c.fail(`${op.name}: expected one index like [0]`, b.pos);
    op.properties.push(prop('index', { kind: 'int', value: BigInt(b.items[0]![0]!), type: { kind: 'scalar', name: 'i32' } }, b.pos));
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    functionTypes(c, op);
  },
  print(op) {
    const v = getProp(op, 'index');
    return ` ${operandsText(op)}[${v?.kind === 'int' ? v.value : 0}]${dictText(op.attributes)} : ${printFn(op)}`;
  },
};

/** `%a, %b : A, B`: operand types and result types are the same list. */
const pairwise: Format = {
  parse(c: Cursor, op: OpAst) {
    op.operands = c.values();
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    const s = c.sig();
    if (s.kind === 'list') {
      op.operandTypes = s.types;
      op.resultTypes = s.types;
    } else {
      op.operandTypes = s.inputs;
      op.resultTypes = s.results;
    }
  },
  print(op) {
    return ` ${operandsText(op)}${dictText(op.attributes)} : ${(op.operandTypes ?? []).map(printType).join(', ')}`;
  },
};

const resultOnly: Format = {
  parse(c: Cursor, op: OpAst) {
    op.operands = c.values();
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    resultTypeOnly(c, op, null);
  },
  print(op) {
    const ops = operandsText(op);
    return `${ops ? ' ' + ops : ''}${dictText(op.attributes)} : ${printType(op.resultTypes?.[0] ?? { kind: 'scalar', name: 'none' })}`;
  },
};

const dotPrecision = (c: Cursor, a: AttrAst, pos: Pos): AttrAst => {
  if (a.kind !== 'array') c.fail(`${c.op.name}: precision must be a list like [DEFAULT, DEFAULT]`, pos);
  return {
    kind: 'array',
    elements: a.elements.map((e) => {
      if (e.kind === 'enum') return e;
      if (e.kind !== 'ident') c.fail(`${c.op.name}: precision must be DEFAULT, HIGH or HIGHEST, found ${printAttr(e)}`, pos);
      return enumAttr('precision', e.name);
    }),
  };
};
const precisionText = (a: AttrAst | undefined): string | null =>
  a?.kind === 'array' ? `[${a.elements.map((e) => (e.kind === 'enum' ? e.value : printAttr(e))).join(', ')}]` : null;

const dotGeneral: Format = {
  parse(c: Cursor, op: OpAst) {
    op.operands = c.values();
    const pair = (p: Extract<Piece, { k: 'kw' }>): [number[], number[]] => {
      if (p.values.length !== 2 || p.arrow) c.fail(`${op.name}: '${p.name}' is written [lhs dims] x [rhs dims]`, p.pos);
      return [intsOf(c, p.values[0]!, `'${p.name}'`), intsOf(c, p.values[1]!, `'${p.name}'`)];
    };
    const b = c.optKw('batching_dims');
    const k = c.optKw('contracting_dims');
    const [lb, rb] = b ? pair(b) : [[], []];
    const [lc, rc] = k ? pair(k) : [[], []];
    op.properties.push(prop('dot_dimension_numbers', {
      kind: 'dot', dims: { lhsBatchingDims: lb, rhsBatchingDims: rb, lhsContractingDims: lc, rhsContractingDims: rc },
    }, (b ?? k)?.pos ?? c.at()));
    const pr = c.optKw('precision');
    if (pr) op.properties.push(prop('precision_config', dotPrecision(c, pr.values[0]!, pr.pos), pr.pos));
    const al = c.optKw('algorithm');
    if (al) {
      const v = al.values[0]!;
      op.properties.push(prop('algorithm', v.kind === 'angle' ? { kind: 'opaque', dialect: 'stablehlo', name: 'dot_algorithm', body: v.body } : v, al.pos));
    }
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    functionTypes(c, op);
  },
  print(op) {
    const d = getProp(op, 'dot_dimension_numbers');
    const parts = [operandsText(op)];
    if (d?.kind === 'dot') {
      if (d.dims.lhsBatchingDims.length || d.dims.rhsBatchingDims.length) parts.push(`batching_dims = ${listText(d.dims.lhsBatchingDims)} x ${listText(d.dims.rhsBatchingDims)}`);
      parts.push(`contracting_dims = ${listText(d.dims.lhsContractingDims)} x ${listText(d.dims.rhsContractingDims)}`);
    }
    const pr = precisionText(getProp(op, 'precision_config'));
    if (pr) parts.push(`precision = ${pr}`);
    const al = getProp(op, 'algorithm');
    if (al) parts.push(`algorithm = ${al.kind === 'opaque' ? `<${al.body}>` : printAttr(al)}`);
    return ` ${parts.join(', ')}${dictText(op.attributes)} : ${printFn(op)}`;
  },
};

const dot: Format = {
  parse(c: Cursor, op: OpAst) {
    op.operands = c.values();
    const pr = c.optKw('precision');
    if (pr) op.properties.push(prop('precision_config', dotPrecision(c, pr.values[0]!, pr.pos), pr.pos));
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    functionTypes(c, op);
  },
  print(op) {
    const pr = precisionText(getProp(op, 'precision_config'));
    return ` ${operandsText(op)}${pr ? `, precision = ${pr}` : ''}${dictText(op.attributes)} : ${printFn(op)}`;
  },
};

const convolution: Format = {
  parse(c: Cursor, op: OpAst) {
    const args = c.take('paren', `'(' and the input and kernel`);
    op.operands = args.items.map((it) => itemValue(c, it, args.pos));
    if (op.operands.length !== 2 || args.items.some((it) => it.bound || it.type)) c.fail(`${op.name}: expected (%input, %kernel)`, args.pos);
    const dn = c.kw('dim_numbers');
    if (dn.values.length !== 2 || !dn.arrow) c.fail(`${op.name}: dim_numbers is written [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]`, dn.pos);
    const layout = (a: AttrAst): (number | string)[] => {
      if (a.kind !== 'array') c.fail(`${op.name}: a layout is a list like [b, 0, 1, f]`, dn.pos);
      return a.elements.map((e) => (e.kind === 'int' ? Number(e.value) : e.kind === 'ident' ? e.name : c.fail(`${op.name}: unexpected ${printAttr(e)} in a layout`, dn.pos)));
    };
    const dims = convDimsFromLayouts(layout(dn.values[0]!), layout(dn.values[1]!), layout(dn.arrow), (m) => c.fail(`${op.name}: ${m}`, dn.pos));
    op.properties.push(prop('dimension_numbers', { kind: 'conv', dims, raw: false }, dn.pos));
    const w = c.optKw('window');
    if (w) {
      const v = w.values[0]!;
      if (v.kind !== 'dict') c.fail(`${op.name}: window is written {stride = [...], pad = [[...]], ...}`, w.pos);
      for (const e of v.entries) {
        if (e.name === 'stride') op.properties.push(prop('window_strides', i64Array(intsOf(c, e.value, 'stride')), e.pos));
        else if (e.name === 'lhs_dilate') op.properties.push(prop('lhs_dilation', i64Array(intsOf(c, e.value, 'lhs_dilate')), e.pos));
        else if (e.name === 'rhs_dilate') op.properties.push(prop('rhs_dilation', i64Array(intsOf(c, e.value, 'rhs_dilate')), e.pos));
        else if (e.name === 'pad') {
          if (e.value.kind !== 'array') c.fail(`${op.name}: pad is written [[lo, hi], ...]`, e.pos);
          const rows = e.value.elements.map((r) => intsOf(c, r, 'pad'));
          if (rows.some((r) => r.length !== 2)) c.fail(`${op.name}: pad is written [[lo, hi], ...]`, e.pos);
          op.properties.push(prop('padding', {
            kind: 'dense', value: { kind: 'list', items: rows.map((r) => ({ kind: 'list', items: r.map((x) => ({ kind: 'scalar', text: String(x) })) })) },
            type: { kind: 'tensor', shape: [rows.length, 2], element: I64, encoding: null },
          }, e.pos));
        } else if (e.name === 'reverse') {
          if (e.value.kind !== 'array') c.fail(`${op.name}: reverse is a list of booleans`, e.pos);
          op.properties.push(prop('window_reversal', {
            kind: 'dense_array', elementType: { kind: 'scalar', name: 'i1' },
            values: e.value.elements.map((x) => (x.kind === 'bool' ? String(x.value) : x.kind === 'int' ? String(x.value !== 0n) : c.fail(`${op.name}: reverse is a list of booleans`, e.pos))),
          }, e.pos));
        } else c.fail(`${op.name}: unknown window field '${e.name}' (stride, pad, lhs_dilate, rhs_dilate, reverse)`, e.pos);
      }
    }
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    functionTypes(c, op);
  },
  print(op) {
    const d = getProp(op, 'dimension_numbers');
    const w: string[] = [];
    const add = (key: string, name: string): void => {
      const v = getProp(op, name);
      if (v) w.push(`${key} = ${listText(intList(v))}`);
    };
    add('stride', 'window_strides');
    const pad = intList(getProp(op, 'padding'));
    if (pad) w.push(`pad = [${Array.from({ length: pad.length / 2 }, (_, i) => `[${pad[2 * i]}, ${pad[2 * i + 1]}]`).join(', ')}]`);
    add('lhs_dilate', 'lhs_dilation');
    add('rhs_dilate', 'rhs_dilation');
    const rev = getProp(op, 'window_reversal');
    if (rev?.kind === 'dense_array') w.push(`reverse = [${rev.values.join(', ')}]`);
    const dn = d?.kind === 'conv' ? printConvDims(d.dims) : '?';
    // `window = {}` too: MLIR's parser of the pretty form wants the keyword even with nothing in it.
    return `(${operandsText(op)}) dim_numbers = ${dn}, window = {${w.join(', ')}}${dictText(op.attributes)} : ${printFn(op)}`;
  },
};

/** The SSA value of a parenthesized item; `name = attr` items belong to other dialects' syntax. */
function itemValue(c: Cursor, it: ParenItem, pos: Pos): ValueUse {
  if (!it.value) c.fail(`${c.op.name}: unexpected '${it.kw!.name} = ...' in parentheses`, pos);
  return it.value;
}

function blockArgs(items: ParenItem[], c: Cursor, pos: Pos): BlockArg[] {
  return items.map((it) => {
    const v = itemValue(c, it, pos);
    if (!it.type || it.bound) c.fail(`${c.op.name}: expected '%name: type'`, v.pos);
    if (v.index !== null) c.fail(`${c.op.name}: a block argument cannot have a result number`, v.pos);
    return { name: v.name, type: it.type, attrs: [], loc: it.loc, pos: v.pos };
  });
}

const reduce: Format = {
  parse(c: Cursor, op: OpAst) {
    const inputs: ValueUse[] = [];
    const inits: ValueUse[] = [];
    do {
      const g = c.take('paren', `'(%input init: %init)'`);
      for (const it of g.items) {
        const v = itemValue(c, it, g.pos);
        if (it.boundKind !== 'init' || !it.bound) c.fail(`${op.name}: expected '%input init: %init'`, v.pos);
        inputs.push(v);
        inits.push(it.bound);
      }
    } while (c.optComma());
    op.operands = [...inputs, ...inits];
    const p = c.peek();
    if (p?.k === 'applies') {
      c.i++;
      op.applies = p.op;
    }
    c.expectIdent('across');
    const d = c.kw('dimensions');
    op.properties.push(prop('dimensions', i64Array(intsOf(c, d.values[0]!, 'dimensions')), d.pos));
    op.attributes = c.attrDict();
    c.end();
    functionTypes(c, op);
    const t = c.raw.trailers;
    if (op.applies) {
      if (t.length) c.fail(`${op.name}: a reduce with 'applies' has no reducer region`, t[0]!.pos);
    } else {
      const r = t[0];
      if (!r || r.k !== 'reducer' || t.length > 1) c.fail(`${op.name}: expected 'applies <op>' or 'reducer(...) {...}'`, r?.pos ?? c.raw.namePos);
      const lhs: BlockArg[] = [];
      const rhs: BlockArg[] = [];
      for (const g of r.groups) {
        const args = blockArgs(g, c, r.pos);
        if (args.length !== 2) c.fail(`${op.name}: each reducer group is (%lhs: T, %rhs: T)`, r.pos);
        lhs.push(args[0]!);
        rhs.push(args[1]!);
      }
      const entry = r.region.blocks[0]!;
      if (entry.label !== null) c.fail(`${op.name}: the reducer region's block arguments are given by 'reducer(...)'`, entry.pos);
      entry.args = [...lhs, ...rhs];
      op.regions = [r.region];
    }
  },
  print(op, p) {
    const n = op.operands.length / 2;
    const groups = op.operands.slice(0, n).map((v, i) => `(${printValue(v)} init: ${printValue(op.operands[n + i]!)})`).join(', ');
    const dims = listText(intList(getProp(op, 'dimensions')));
    const head = `${groups}${op.applies ? ` applies ${op.applies}` : ''} across dimensions = ${dims}${dictText(op.attributes)} : ${printFn(op)}`;
    if (op.applies || !op.regions[0]) return head;
    const args = op.regions[0].blocks[0]!.args;
    const k = args.length / 2;
    const argText = (a: BlockArg): string => `${a.name}: ${printType(a.type)}`;
    const pairs = Array.from({ length: k }, (_, i) => `(${argText(args[i]!)}, ${argText(args[k + i]!)})`).join(' ');
    return `${head}\n${p.indent} reducer${pairs}  ${p.region(op.regions[0], true)}`;
  },
};

const whileFormat: Format = {
  parse(c: Cursor, op: OpAst) {
    const g = c.take('paren', `'(%iterArg = %init, ...)'`);
    for (const it of g.items) if (it.boundKind !== '=' || !it.bound) c.fail(`${op.name}: expected '%iterArg = %init'`, itemValue(c, it, g.pos).pos);
    op.operands = g.items.map((it) => it.bound!);
    op.attributes = c.attrDict();
    c.end();
    const s = c.sig();
    if (s.kind !== 'list') c.fail(`${op.name}: expected the loop-carried types`, c.raw.namePos);
    if (s.types.length !== g.items.length) c.fail(`${op.name}: ${g.items.length} loop-carried values but ${s.types.length} types`, c.raw.namePos);
    op.operandTypes = s.types;
    op.resultTypes = s.types;
    const t = c.raw.trailers[0];
    if (!t || t.k !== 'while' || c.raw.trailers.length > 1) c.fail(`${op.name}: expected 'cond { ... } do { ... }'`, t?.pos ?? c.raw.namePos);
    for (const r of [t.cond, t.body]) {
      const entry = r.blocks[0]!;
      if (entry.label !== null) c.fail(`${op.name}: the cond and do regions take the iteration arguments`, entry.pos);
      entry.args = g.items.map((it, i) => ({ name: it.value!.name, type: s.types[i]!, attrs: [], loc: null, pos: it.value!.pos }));
    }
    op.regions = [t.cond, t.body];
  },
  print(op, p) {
    const args = op.regions[0]?.blocks[0]?.args ?? [];
    const bind = op.operands.map((v, i) => `${args[i]?.name ?? '%iterArg'} = ${printValue(v)}`).join(', ');
    const cond = op.regions[0] ? p.region(op.regions[0], true) : '{\n}';
    const body = op.regions[1] ? p.region(op.regions[1], true) : '{\n}';
    return `(${bind})${dictText(op.attributes)} : ${(op.operandTypes ?? []).map(printType).join(', ')}\n${p.indent}cond ${cond} do ${body}`;
  },
};

const composite: Format = {
  parse(c: Cursor, op: OpAst) {
    const n = c.take('attr', 'the composite name');
    if (n.value.kind !== 'string') c.fail(`${op.name}: expected the composite's name as a string`, n.pos);
    op.properties.push(prop('name', n.value, n.pos));
    op.operands = c.values();
    op.attributes = c.attrDict();
    c.end();
    c.noTrailers();
    functionTypes(c, op);
  },
  print(op) {
    const n = getProp(op, 'name');
    return ` ${n ? printAttr(n) : '""'}${op.operands.length ? ' ' + operandsText(op) : ''}${dictText(op.attributes)} : ${printFn(op)}`;
  },
};

const SAME = [
  'abs', 'add', 'and', 'atan2', 'cbrt', 'ceil', 'clamp', 'convert', 'cosine', 'count_leading_zeros', 'divide', 'exponential',
  'exponential_minus_one', 'floor', 'imag', 'is_finite', 'log', 'log_plus_one', 'logistic', 'maximum', 'minimum', 'multiply',
  'negate', 'not', 'or', 'popcnt', 'power', 'real', 'remainder', 'round_nearest_afz', 'round_nearest_even', 'rsqrt',
  'shift_left', 'shift_right_arithmetic', 'shift_right_logical', 'sign', 'sine', 'sqrt', 'subtract', 'tan', 'tanh', 'xor',
  'uniform_quantize', 'uniform_dequantize',
];
// Printed `(T) -> R` even when T = R: MLIR's parser of bitcast_convert wants the function type.
const FUNCTION = ['bitcast_convert', 'reshape', 'dynamic_update_slice', 'dynamic_reshape', 'dynamic_broadcast_in_dim', 'dynamic_iota', 'dynamic_pad', 'dynamic_gather', 'dynamic_conv'];

const FORMATS: Record<string, Format> = {
  ...Object.fromEntries(SAME.map((n) => [`stablehlo.${n}`, simple('same')])),
  ...Object.fromEntries(FUNCTION.map((n) => [`stablehlo.${n}`, simple('function')])),
  'stablehlo.complex': complexOp,
  'stablehlo.compare': compare,
  'stablehlo.select': select,
  'stablehlo.constant': constant,
  'stablehlo.iota': withKws([{ kw: 'dim', prop: 'iota_dimension', kind: 'int' }], 'result'),
  'stablehlo.broadcast_in_dim': withKws([{ kw: 'dims', prop: 'broadcast_dimensions', kind: 'ints' }], 'function'),
  'stablehlo.broadcast': withKws([{ kw: 'sizes', prop: 'broadcast_sizes', kind: 'ints' }], 'function'),
  'stablehlo.transpose': withKws([{ kw: 'dims', prop: 'permutation', kind: 'ints' }], 'function'),
  'stablehlo.reverse': withKws([{ kw: 'dims', prop: 'dimensions', kind: 'ints' }], 'same'),
  'stablehlo.concatenate': withKws([{ kw: 'dim', prop: 'dimension', kind: 'int' }], 'function'),
  'stablehlo.dynamic_slice': withKws([{ kw: 'sizes', prop: 'slice_sizes', kind: 'ints' }], 'function'),
  'stablehlo.pad': withKws([
    { kw: 'low', prop: 'edge_padding_low', kind: 'ints' }, { kw: 'high', prop: 'edge_padding_high', kind: 'ints' },
    { kw: 'interior', prop: 'interior_padding', kind: 'ints' },
  ], 'function'),
  'stablehlo.get_dimension_size': withKws([{ kw: 'dim', prop: 'dimension', kind: 'int' }], 'function'),
  'stablehlo.reduce_precision': withKws([{ kw: 'format', prop: 'format', kind: 'ident' }], 'same'),
  'stablehlo.rng_bit_generator': withKws([{ kw: 'algorithm', prop: 'rng_algorithm', kind: 'ident' }], 'function'),
  'stablehlo.rng': withKws([{ kw: 'distribution', prop: 'rng_distribution', kind: 'ident' }], 'function'),
  'stablehlo.fft': withKws([{ kw: 'type', prop: 'fft_type', kind: 'ident' }, { kw: 'length', prop: 'fft_length', kind: 'ints' }], 'function'),
  'stablehlo.cholesky': withKws([{ kw: 'lower', prop: 'lower', kind: 'bool', optional: true }], 'same'),
  'stablehlo.slice': slice,
  'stablehlo.get_tuple_element': getTupleElement,
  'stablehlo.tuple': resultOnly,
  'stablehlo.after_all': resultOnly,
  'stablehlo.create_token': resultOnly,
  'stablehlo.partition_id': resultOnly,
  'stablehlo.replica_id': resultOnly,
  'stablehlo.optimization_barrier': pairwise,
  'stablehlo.dot_general': dotGeneral,
  'stablehlo.dot': dot,
  'stablehlo.convolution': convolution,
  'stablehlo.reduce': reduce,
  'stablehlo.while': whileFormat,
  'stablehlo.custom_call': callLike('call_target_name'),
  'stablehlo.composite': composite,
  'stablehlo.return': returnLike,
  'func.return': returnLike,
  return: returnLike,
  'func.call': callLike('callee'),
  call: callLike('callee'),
};

export function hasPrettyFormat(name: string): boolean {
  return Object.hasOwn(FORMATS, name);
}

/** Fills `op` from the pieces of its pretty syntax (or keeps it as custom text for ops we do not know). */
export function interpretPretty(op: OpAst, raw: RawPrettyIn, fail: Fail): void {
  const f = Object.hasOwn(FORMATS, op.name) ? FORMATS[op.name] : undefined;
  if (f) {
    f.parse(new Cursor(raw, op, fail), op);
    return;
  }
  interpretCustom(op, raw, fail);
}

/** Prints the part of a pretty op after its name. */
export function printPrettyBody(op: OpAst, p: RegionPrinter): string {
  if (op.custom) {
    const c = op.custom;
    return `${c.header ? (c.tight ? '' : ' ') + c.header : ''}${c.signature ? ' : ' + printSig(c.signature) : ''}${c.trailer ? ' ' + c.trailer : ''}`;
  }
  const f = FORMATS[op.name];
  if (!f) throw new Error(`internal: no pretty format for ${op.name}`);
  return f.print(op, p);
}

function printSig(s: SignatureAst): string {
  if (s.kind === 'list') return s.types.map(printType).join(', ');
  const ins = s.bare && s.inputs.length >= 1 ? s.inputs.map(printType).join(', ') : `(${s.inputs.map(printType).join(', ')})`;
  const outs = s.parenResults || s.results.length !== 1 ? `(${s.results.map(printType).join(', ')})` : printType(s.results[0]!);
  return `${ins} -> ${outs}`;
}

/** An op of a dialect we do not know: its SSA uses, regions and whatever types its signature tells. */
function interpretCustom(op: OpAst, raw: RawPrettyIn, fail: Fail): void {
  const operands: ValueUse[] = [];
  const regions: RegionAst[] = [];
  raw.pieces.forEach((p, i) => {
    if (p.k === 'value') operands.push(p.use);
    else if (p.k === 'paren') {
      const next = raw.pieces[i + 1];
      const defines = next?.k === 'region' && p.items.length > 0 && p.items.every((it) => it.value !== null && it.type !== null);
      for (const it of p.items) {
        if (!defines && it.value) operands.push(it.value);
        if (it.bound) operands.push(it.bound);
      }
      if (defines && next.k === 'region') {
        const entry = next.region.blocks[0]!;
        if (entry.label === null) entry.args = p.items.map((it) => ({ name: it.value!.name, type: it.type!, attrs: [], loc: it.loc, pos: it.value!.pos }));
      }
    } else if (p.k === 'region') regions.push(p.region);
  });
  for (const t of raw.trailers) {
    if (t.k === 'reducer') regions.push(t.region);
    else regions.push(t.cond, t.body);
  }
  op.operands = operands;
  op.regions = regions;
  const s = raw.signature;
  const nResults = op.results.reduce((n, r) => n + r.count, 0);
  if (s?.kind === 'function') {
    op.operandTypes = s.inputs;
    op.resultTypes = s.results;
  } else if (s?.kind === 'list') {
    if (nResults === 0) op.operandTypes = s.types.length === operands.length ? s.types : null;
    op.resultTypes = nResults === 0 ? [] : s.types.length === nResults ? s.types : null;
  } else {
    op.resultTypes = nResults === 0 ? [] : null;
  }
  op.custom = { header: raw.header, tight: raw.tight, signature: s, trailer: raw.trailer };
  void fail;
}
