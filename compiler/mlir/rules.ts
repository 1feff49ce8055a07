// Type rules of StableHLO ops: one row per op, checking operand and result types against the
// op's attributes as the StableHLO spec states them. Messages name the expected and found types.
import type { AttrAst, BlockAst, FuncAst, OpAst, Pos, TypeAst } from './ast.ts';
import { getAttr } from './ast.ts';
import { intList } from './formats.ts';
import { elementName, isFloatElement, isIntElement, bitWidth, printType, typesEqual } from './syntax.ts';

export interface RuleContext {
  op: OpAst;
  /** Resolved operand/result types; null where unknown (then the checks that need them are skipped). */
  operandTypes: (TypeAst | null)[];
  resultTypes: (TypeAst | null)[];
  error(message: string, p?: Pos): void;
  func(name: string): FuncAst | undefined;
}

export type Rule = (c: RuleContext) => void;

type Shape = number[];

/** The static shape of a type, or null (not a ranked static tensor). */
function shape(t: TypeAst | null): Shape | null {
  if (!t || t.kind !== 'tensor' || t.shape === null || t.shape.some((d) => d === null)) return null;
  return t.shape as number[];
}

const el = (t: TypeAst | null): string | null => (t && t.kind === 'tensor' ? elementName(t) : null);
const fmtShape = (s: Shape): string => `[${s.join(', ')}]`;
const tensorOf = (s: Shape, element: string): string => `tensor<${s.map((d) => `${d}x`).join('')}${element}>`;
const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);
const P = (t: TypeAst | null): string => (t ? printType(t) : '?');

function arity(c: RuleContext, operands: number | [number, number], results: number | null): boolean {
  const [lo, hi] = typeof operands === 'number' ? [operands, operands] : operands;
  const n = c.operandTypes.length;
  if (n < lo || n > hi) {
    c.error(`expected ${lo === hi ? lo : hi === Infinity ? `at least ${lo}` : `${lo} to ${hi}`} operand${hi === 1 ? '' : 's'}, found ${n}`);
    return false;
  }
  if (results !== null && c.resultTypes.length !== results) {
    c.error(`expected ${results} result${results === 1 ? '' : 's'}, found ${c.resultTypes.length}`);
    return false;
  }
  return true;
}

/** Reports a result type that differs from the one the rule computes. */
function expectResult(c: RuleContext, i: number, expected: string, why = ''): void {
  const found = c.resultTypes[i];
  if (found && printType(found) !== expected) c.error(`result type expected ${expected}${why}, found ${printType(found)}`);
}

function expectSameShape(c: RuleContext, i: number, s: Shape, element: string, why = ''): void {
  expectResult(c, i, tensorOf(s, element), why);
}

function attrInts(c: RuleContext, name: string): number[] | null {
  const v = getAttr(c.op, name);
  const xs = intList(v);
  if (v && !xs) c.error(`attribute '${name}' must be a list of integers`);
  return xs;
}

function attrInt(c: RuleContext, name: string): number | null {
  const v = getAttr(c.op, name);
  if (!v) return null;
  if (v.kind === 'int') return Number(v.value);
  c.error(`attribute '${name}' must be an integer`);
  return null;
}

function inRange(c: RuleContext, dims: number[], rank: number, what: string): boolean {
  for (const d of dims) {
    if (d < 0 || d >= rank) {
      c.error(`${what} ${d} is out of range for rank ${rank}`);
      return false;
    }
  }
  if (new Set(dims).size !== dims.length) {
    c.error(`${what} list ${fmtShape(dims)} repeats a dimension`);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------- elementwise

function elementwise(n: number, kind: 'any' | 'float' | 'intOrBool' | 'int' = 'any'): Rule {
  return (c) => {
    if (!arity(c, n, 1)) return;
    const t0 = c.operandTypes[0] ?? null;
    c.operandTypes.forEach((t, i) => {
      if (i > 0 && t && t0 && !typesEqual(t, t0)) c.error(`operand #${i} expected ${printType(t0)} (the type of operand #0), found ${printType(t)}`);
    });
    if (t0) {
      expectResult(c, 0, printType(t0), ' (the operands\' type)');
      const e = el(t0);
      if (e && kind === 'float' && !isFloatElement(e) && !e.startsWith('complex')) c.error(`expected floating-point operands, found ${printType(t0)}`);
      if (e && kind === 'intOrBool' && !isIntElement(e)) c.error(`expected integer or i1 operands, found ${printType(t0)}`);
      if (e && kind === 'int' && (!isIntElement(e) || e === 'i1')) c.error(`expected integer operands, found ${printType(t0)}`);
    }
  };
}

/** Same shape, element type may differ (convert, is_finite, abs of complex, ...). */
function sameShape(resultElement: ((operandElement: string) => string | null) | null): Rule {
  return (c) => {
    if (!arity(c, 1, 1)) return;
    const s = shape(c.operandTypes[0] ?? null);
    const e = el(c.operandTypes[0] ?? null);
    const r = c.resultTypes[0] ?? null;
    if (!s || !e || !r) return;
    const want = resultElement ? resultElement(e) : el(r);
    if (want) expectSameShape(c, 0, s, want);
  };
}

const compare: Rule = (c) => {
  if (!arity(c, 2, 1)) return;
  const [a, b] = c.operandTypes;
  if (a && b && !typesEqual(a, b)) c.error(`operand #1 expected ${printType(a)} (the type of operand #0), found ${printType(b)}`);
  const dir = getAttr(c.op, 'comparison_direction');
  const d = dir?.kind === 'enum' ? dir.value : dir?.kind === 'ident' ? dir.name : null;
  if (!d || !['EQ', 'NE', 'GE', 'GT', 'LE', 'LT'].includes(d)) c.error(`comparison direction must be EQ, NE, GE, GT, LE or LT, found ${d ?? 'none'}`);
  const ct = getAttr(c.op, 'compare_type');
  const t = ct?.kind === 'enum' ? ct.value : null;
  if (t && !['FLOAT', 'TOTALORDER', 'SIGNED', 'UNSIGNED', 'NOTYPE'].includes(t)) c.error(`comparison type must be FLOAT, TOTALORDER, SIGNED, UNSIGNED or NOTYPE, found ${t}`);
  const s = shape(a ?? null);
  if (s) expectSameShape(c, 0, s, 'i1');
};

const select: Rule = (c) => {
  if (!arity(c, 3, 1)) return;
  const [p, t, f] = c.operandTypes;
  if (p && el(p) !== 'i1') c.error(`predicate expected i1 elements, found ${printType(p)}`);
  if (t && f && !typesEqual(t, f)) c.error(`on_false expected ${printType(t)} (the type of on_true), found ${printType(f)}`);
  const ps = shape(p ?? null);
  const ts = shape(t ?? null);
  if (ps && ts && ps.length !== 0 && fmtShape(ps) !== fmtShape(ts)) c.error(`predicate shape expected [] or ${fmtShape(ts)}, found ${fmtShape(ps)}`);
  if (t) expectResult(c, 0, printType(t), ' (the type of on_true)');
};

const clamp: Rule = (c) => {
  if (!arity(c, 3, 1)) return;
  const [lo, x, hi] = c.operandTypes;
  const xs = shape(x ?? null);
  for (const [name, t] of [['min', lo], ['max', hi]] as const) {
    const s = shape(t ?? null);
    if (t && x && el(t) !== el(x)) c.error(`${name} expected ${el(x)} elements, found ${printType(t)}`);
    if (s && xs && s.length !== 0 && fmtShape(s) !== fmtShape(xs)) c.error(`${name} shape expected [] or ${fmtShape(xs)}, found ${fmtShape(s)}`);
  }
  if (x) expectResult(c, 0, printType(x), ' (the operand\'s type)');
};

// --------------------------------------------------------------------------- constants

function denseShape(d: import('./ast.ts').DenseLiteral): Shape | 'splat' | null {
  if (d.kind === 'scalar' || d.kind === 'complex') return 'splat';
  if (d.kind === 'hex') return null;
  if (d.items.length === 0) return [0];
  const inner = d.items.map(denseShape);
  const first = inner[0]!;
  if (inner.some((s) => JSON.stringify(s) !== JSON.stringify(first))) return null;
  return first === 'splat' ? [d.items.length] : first === null ? null : [d.items.length, ...first];
}

const constant: Rule = (c) => {
  if (!arity(c, 0, 1)) return;
  const v = getAttr(c.op, 'value');
  const r = c.resultTypes[0] ?? null;
  if (!v) {
    c.error('missing its value attribute');
    return;
  }
  if (v.kind === 'dense' && v.type && r && !typesEqual(v.type, r)) c.error(`result type expected ${printType(v.type)} (the value's type), found ${printType(r)}`);
  const s = shape(r);
  if (v.kind === 'dense' && s) {
    const ds = denseShape(v.value);
    if (ds === null && v.value.kind === 'list') c.error('dense literal has ragged nesting');
    else if (ds !== null && ds !== 'splat' && fmtShape(ds) !== fmtShape(s) && !(numel(s) === 0 && numel(ds) === 0)) {
      c.error(`dense literal of shape ${fmtShape(ds)} does not fit ${P(r)}`);
    }
    if (v.value.kind === 'hex') {
      const bits = bitWidth(el(r) ?? '');
      const bytes = (v.value.text.length - 2) / 2;
      const full = bits === null ? null : (numel(s) * (bits === 1 ? 8 : bits)) / 8;
      const one = bits === null ? null : (bits === 1 ? 8 : bits) / 8;
      if (full !== null && bytes !== full && bytes !== one) c.error(`hex literal of ${bytes} bytes does not fit ${P(r)} (${full} bytes)`);
    }
  }
};

const iota: Rule = (c) => {
  if (!arity(c, 0, 1)) return;
  const s = shape(c.resultTypes[0] ?? null);
  const d = attrInt(c, 'iota_dimension');
  if (s && d !== null && (d < 0 || d >= s.length)) c.error(`iota dimension ${d} is out of range for ${P(c.resultTypes[0]!)}`);
};

// ------------------------------------------------------------------------- shape ops

const broadcastInDim: Rule = (c) => {
  if (!arity(c, 1, 1)) return;
  const os = shape(c.operandTypes[0] ?? null);
  const rs = shape(c.resultTypes[0] ?? null);
  const dims = attrInts(c, 'broadcast_dimensions');
  if (!os || !rs || !dims) return;
  if (dims.length !== os.length) {
    c.error(`dims ${fmtShape(dims)} must have one entry per operand dimension (rank ${os.length})`);
    return;
  }
  if (!inRange(c, dims, rs.length, 'broadcast dimension')) return;
  dims.forEach((d, i) => {
    if (os[i] !== 1 && os[i] !== rs[d]) c.error(`operand dimension ${i} (size ${os[i]}) cannot broadcast to result dimension ${d} (size ${rs[d]})`);
  });
  const e = el(c.operandTypes[0]!);
  if (e && el(c.resultTypes[0]!) !== e) c.error(`result element type expected ${e}, found ${el(c.resultTypes[0]!)}`);
};

const reshape: Rule = (c) => {
  if (!arity(c, 1, 1)) return;
  const os = shape(c.operandTypes[0] ?? null);
  const rs = shape(c.resultTypes[0] ?? null);
  const e = el(c.operandTypes[0] ?? null);
  if (os && rs && numel(os) !== numel(rs)) c.error(`result ${P(c.resultTypes[0]!)} has ${numel(rs)} elements, the operand ${P(c.operandTypes[0]!)} has ${numel(os)}`);
  if (e && c.resultTypes[0] && el(c.resultTypes[0]) !== e) c.error(`result element type expected ${e}, found ${el(c.resultTypes[0])}`);
};

const transpose: Rule = (c) => {
  if (!arity(c, 1, 1)) return;
  const os = shape(c.operandTypes[0] ?? null);
  const perm = attrInts(c, 'permutation');
  if (!os || !perm) return;
  if (perm.length !== os.length || !inRange(c, perm, os.length, 'permutation entry')) {
    if (perm.length !== os.length) c.error(`permutation ${fmtShape(perm)} must have ${os.length} entries`);
    return;
  }
  expectSameShape(c, 0, perm.map((p) => os[p]!), el(c.operandTypes[0]!)!, ` (the operand permuted by ${fmtShape(perm)})`);
};

const reverse: Rule = (c) => {
  if (!arity(c, 1, 1)) return;
  const os = shape(c.operandTypes[0] ?? null);
  const dims = attrInts(c, 'dimensions');
  if (os && dims) inRange(c, dims, os.length, 'reverse dimension');
  if (c.operandTypes[0]) expectResult(c, 0, printType(c.operandTypes[0]), ' (the operand\'s type)');
};

const concatenate: Rule = (c) => {
  if (!arity(c, [1, Infinity], 1)) return;
  const shapes = c.operandTypes.map(shape);
  const dim = attrInt(c, 'dimension');
  if (shapes.some((s) => !s) || dim === null) return;
  const s0 = shapes[0]!;
  if (dim < 0 || dim >= s0.length) {
    c.error(`dimension ${dim} is out of range for rank ${s0.length}`);
    return;
  }
  const e0 = el(c.operandTypes[0]!)!;
  let total = 0;
  for (const [i, s] of shapes.entries()) {
    if (s!.length !== s0.length || s!.some((d, k) => k !== dim && d !== s0[k]) || el(c.operandTypes[i]!) !== e0) {
      c.error(`operand #${i} ${P(c.operandTypes[i]!)} does not match operand #0 ${P(c.operandTypes[0]!)} outside dimension ${dim}`);
      return;
    }
    total += s![dim]!;
  }
  expectSameShape(c, 0, s0.map((d, k) => (k === dim ? total : d)), e0);
};

const slice: Rule = (c) => {
  if (!arity(c, 1, 1)) return;
  const os = shape(c.operandTypes[0] ?? null);
  const start = attrInts(c, 'start_indices');
  const limit = attrInts(c, 'limit_indices');
  const strides = attrInts(c, 'strides');
  if (!os || !start || !limit || !strides) return;
  if (start.length !== os.length || limit.length !== os.length || strides.length !== os.length) {
    c.error(`slice needs ${os.length} ranges for ${P(c.operandTypes[0]!)}, found ${start.length}`);
    return;
  }
  const out: number[] = [];
  for (let i = 0; i < os.length; i++) {
    if (start[i]! < 0 || limit[i]! > os[i]! || start[i]! > limit[i]! || strides[i]! < 1) {
      c.error(`range ${start[i]}:${limit[i]}:${strides[i]} is invalid for dimension ${i} of size ${os[i]}`);
      return;
    }
    out.push(Math.ceil((limit[i]! - start[i]!) / strides[i]!));
  }
  expectSameShape(c, 0, out, el(c.operandTypes[0]!)!);
};

const dynamicSlice: Rule = (c) => {
  const os = shape(c.operandTypes[0] ?? null);
  if (!os || !arity(c, 1 + os.length, 1)) return;
  scalarIndices(c, 1);
  const sizes = attrInts(c, 'slice_sizes');
  if (!sizes) return;
  if (sizes.length !== os.length || sizes.some((s, i) => s < 0 || s > os[i]!)) {
    c.error(`slice sizes ${fmtShape(sizes)} do not fit operand ${P(c.operandTypes[0]!)}`);
    return;
  }
  expectSameShape(c, 0, sizes, el(c.operandTypes[0]!)!);
};

function scalarIndices(c: RuleContext, from: number): void {
  for (let i = from; i < c.operandTypes.length; i++) {
    const t = c.operandTypes[i];
    const s = shape(t ?? null);
    if (t && s && (s.length !== 0 || !isIntElement(el(t) ?? '') || el(t) === 'i1')) c.error(`start index operand #${i} must be a 0-d integer tensor, found ${printType(t)}`);
  }
}

const dynamicUpdateSlice: Rule = (c) => {
  const os = shape(c.operandTypes[0] ?? null);
  if (!os || !arity(c, 2 + os.length, 1)) return;
  const us = shape(c.operandTypes[1] ?? null);
  if (us && (us.length !== os.length || us.some((d, i) => d > os[i]!))) c.error(`update ${P(c.operandTypes[1]!)} does not fit in operand ${P(c.operandTypes[0]!)}`);
  scalarIndices(c, 2);
  expectResult(c, 0, printType(c.operandTypes[0]!), ' (the operand\'s type)');
};

const pad: Rule = (c) => {
  if (!arity(c, 2, 1)) return;
  const os = shape(c.operandTypes[0] ?? null);
  const ps = shape(c.operandTypes[1] ?? null);
  const e = el(c.operandTypes[0] ?? null);
  if (ps && ps.length !== 0) c.error(`padding value must be a 0-d tensor, found ${P(c.operandTypes[1]!)}`);
  if (e && c.operandTypes[1] && el(c.operandTypes[1]) !== e) c.error(`padding value expected ${e} elements, found ${P(c.operandTypes[1])}`);
  const lo = attrInts(c, 'edge_padding_low');
  const hi = attrInts(c, 'edge_padding_high');
  const inner = attrInts(c, 'interior_padding');
  if (!os || !lo || !hi || !inner || !e) return;
  if (lo.length !== os.length || hi.length !== os.length || inner.length !== os.length) {
    c.error(`padding needs ${os.length} entries per list for ${P(c.operandTypes[0]!)}`);
    return;
  }
  if (inner.some((x) => x < 0)) c.error('interior padding must be non-negative');
  expectSameShape(c, 0, os.map((d, i) => lo[i]! + hi[i]! + d + Math.max(d - 1, 0) * inner[i]!), e);
};

// ------------------------------------------------------------------------------- dots

const dotGeneral: Rule = (c) => {
  if (!arity(c, 2, 1)) return;
  const ls = shape(c.operandTypes[0] ?? null);
  const rs = shape(c.operandTypes[1] ?? null);
  const dn = getAttr(c.op, 'dot_dimension_numbers');
  if (!dn || dn.kind !== 'dot') {
    c.error('missing its dot dimension numbers');
    return;
  }
  if (!ls || !rs) return;
  const d = dn.dims;
  if (d.lhsBatchingDims.length !== d.rhsBatchingDims.length) {
    c.error(`batching dims ${fmtShape(d.lhsBatchingDims)} x ${fmtShape(d.rhsBatchingDims)} differ in length`);
    return;
  }
  if (d.lhsContractingDims.length !== d.rhsContractingDims.length) {
    c.error(`contracting dims ${fmtShape(d.lhsContractingDims)} x ${fmtShape(d.rhsContractingDims)} differ in length`);
    return;
  }
  if (!inRange(c, [...d.lhsBatchingDims, ...d.lhsContractingDims], ls.length, 'lhs dimension')) return;
  if (!inRange(c, [...d.rhsBatchingDims, ...d.rhsContractingDims], rs.length, 'rhs dimension')) return;
  for (const [what, l, r] of [['batching', d.lhsBatchingDims, d.rhsBatchingDims], ['contracting', d.lhsContractingDims, d.rhsContractingDims]] as const) {
    for (let i = 0; i < l.length; i++) {
      if (ls[l[i]!] !== rs[r[i]!]) {
        c.error(`${what} dimension sizes do not match: lhs dimension ${l[i]} of ${P(c.operandTypes[0]!)} has size ${ls[l[i]!]}, rhs dimension ${r[i]} of ${P(c.operandTypes[1]!)} has size ${rs[r[i]!]}`);
        return;
      }
    }
  }
  const lFree = ls.map((_, i) => i).filter((i) => !d.lhsBatchingDims.includes(i) && !d.lhsContractingDims.includes(i));
  const rFree = rs.map((_, i) => i).filter((i) => !d.rhsBatchingDims.includes(i) && !d.rhsContractingDims.includes(i));
  const out = [...d.lhsBatchingDims.map((i) => ls[i]!), ...lFree.map((i) => ls[i]!), ...rFree.map((i) => rs[i]!)];
  const r = c.resultTypes[0];
  if (r) expectSameShape(c, 0, out, el(r) ?? '?', ' (batch, lhs free, rhs free dimensions)');
  const pc = getAttr(c.op, 'precision_config');
  if (pc?.kind === 'array') {
    if (pc.elements.length > 2) c.error(`precision config has ${pc.elements.length} entries, at most 2`);
    for (const e of pc.elements) if (e.kind === 'enum' && !['DEFAULT', 'HIGH', 'HIGHEST'].includes(e.value)) c.error(`precision must be DEFAULT, HIGH or HIGHEST, found ${e.value}`);
  }
};

const dot: Rule = (c) => {
  if (!arity(c, 2, 1)) return;
  const ls = shape(c.operandTypes[0] ?? null);
  const rs = shape(c.operandTypes[1] ?? null);
  const r = c.resultTypes[0];
  if (!ls || !rs || !r) return;
  if (ls.length < 1 || ls.length > 2 || rs.length < 1 || rs.length > 2) {
    c.error(`dot takes rank-1 or rank-2 operands, found ${P(c.operandTypes[0]!)} and ${P(c.operandTypes[1]!)}`);
    return;
  }
  if (ls[ls.length - 1] !== rs[0]) {
    c.error(`contracting dimension sizes do not match: ${ls[ls.length - 1]} vs ${rs[0]}`);
    return;
  }
  expectSameShape(c, 0, [...ls.slice(0, -1), ...rs.slice(1)], el(r) ?? '?');
};

// --------------------------------------------------------------------------- regions

function terminatorTypes(c: RuleContext, b: BlockAst | undefined, what: string): (TypeAst | null)[] | null {
  const last = b?.ops[b.ops.length - 1];
  if (!last || last.name !== 'stablehlo.return') {
    c.error(`the ${what} must end with stablehlo.return`, last?.pos ?? b?.pos);
    return null;
  }
  return last.operandTypes ?? last.operands.map(() => null);
}

function scalarOf(t: TypeAst | null): string | null {
  const e = el(t);
  return e ? `tensor<${e}>` : null;
}

const reduce: Rule = (c) => {
  const n = c.operandTypes.length / 2;
  if (c.operandTypes.length % 2 !== 0 || n < 1) {
    c.error(`expected inputs and as many init values, found ${c.operandTypes.length} operands`);
    return;
  }
  if (c.resultTypes.length !== n) c.error(`expected ${n} result${n === 1 ? '' : 's'}, found ${c.resultTypes.length}`);
  const dims = attrInts(c, 'dimensions');
  const inputs = c.operandTypes.slice(0, n);
  const inits = c.operandTypes.slice(n);
  const s0 = shape(inputs[0] ?? null);
  inputs.forEach((t, i) => {
    const s = shape(t);
    if (s && s0 && fmtShape(s) !== fmtShape(s0)) c.error(`input #${i} ${P(t)} does not have the shape of input #0 ${P(inputs[0]!)}`);
  });
  inits.forEach((t, i) => {
    const s = shape(t);
    if (s && s.length !== 0) c.error(`init value #${i} must be a 0-d tensor, found ${P(t)}`);
    if (t && inputs[i] && el(t) !== el(inputs[i]!)) c.error(`init value #${i} expected ${scalarOf(inputs[i]!)}, found ${P(t)}`);
  });
  if (s0 && dims && inRange(c, dims, s0.length, 'reduce dimension')) {
    const out = s0.filter((_, i) => !dims.includes(i));
    inits.forEach((t, i) => { if (t && i < c.resultTypes.length) expectSameShape(c, i, out, el(t)!); });
  }
  if (c.op.applies) {
    if (n !== 1) c.error(`'applies' needs a single input, found ${n}`);
    else if (!BINARY.has(c.op.applies.replace(/^stablehlo\./, ''))) c.error(`'applies ${c.op.applies}' is not a binary stablehlo op`);
    return;
  }
  checkBody(c, c.op.regions[0]?.blocks[0], 'reducer body', [...inits, ...inits].map(scalarOf), inits.map(scalarOf));
};

/** Checks a region's block arguments and returned types against the expected scalar types. */
function checkBody(c: RuleContext, b: BlockAst | undefined, what: string, args: (string | null)[], returns: (string | null)[] | null): void {
  if (!b) {
    c.error(`missing its ${what}`);
    return;
  }
  if (b.args.length !== args.length) {
    c.error(`the ${what} takes ${args.length} argument${args.length === 1 ? '' : 's'}, found ${b.args.length}`, b.pos);
  } else {
    b.args.forEach((a, i) => {
      const want = args[i];
      if (want && printType(a.type) !== want) c.error(`argument #${i} of the ${what} expected ${want}, found ${printType(a.type)}`, a.pos);
    });
  }
  const got = terminatorTypes(c, b, what);
  if (!got || !returns) return;
  if (got.length !== returns.length) {
    c.error(`the ${what} returns ${got.length} value${got.length === 1 ? '' : 's'}, expected ${returns.length}`, b.ops[b.ops.length - 1]!.pos);
    return;
  }
  got.forEach((t, i) => {
    const want = returns[i];
    if (t && want && printType(t) !== want) c.error(`the ${what} returns ${printType(t)} as value #${i}, expected ${want}`, b.ops[b.ops.length - 1]!.pos);
  });
}

const sort: Rule = (c) => {
  if (!arity(c, [1, Infinity], c.operandTypes.length)) return;
  const s0 = shape(c.operandTypes[0] ?? null);
  c.operandTypes.forEach((t, i) => {
    const s = shape(t);
    if (s && s0 && fmtShape(s) !== fmtShape(s0)) c.error(`operand #${i} ${P(t)} does not have the shape of operand #0 ${P(c.operandTypes[0]!)}`);
    if (t) expectResult(c, i, printType(t));
  });
  const d = attrInt(c, 'dimension');
  if (s0 && d !== null && (d < -s0.length || d >= s0.length)) c.error(`sort dimension ${d} is out of range for rank ${s0.length}`);
  const scal = c.operandTypes.flatMap((t) => [scalarOf(t), scalarOf(t)]);
  checkBody(c, c.op.regions[0]?.blocks[0], 'comparator', scal, ['tensor<i1>']);
};

const whileRule: Rule = (c) => {
  c.operandTypes.forEach((t, i) => { if (t) expectResult(c, i, printType(t), ' (the loop-carried type)'); });
  if (c.resultTypes.length !== c.operandTypes.length) c.error(`expected ${c.operandTypes.length} results, found ${c.resultTypes.length}`);
  const types = c.operandTypes.map((t) => (t ? printType(t) : null));
  checkBody(c, c.op.regions[0]?.blocks[0], 'cond region', types, ['tensor<i1>']);
  checkBody(c, c.op.regions[1]?.blocks[0], 'do region', types, types);
};

const sameAsOperands: Rule = (c) => {
  if (c.resultTypes.length !== c.operandTypes.length) {
    c.error(`expected ${c.operandTypes.length} results, found ${c.resultTypes.length}`);
    return;
  }
  c.operandTypes.forEach((t, i) => { if (t) expectResult(c, i, printType(t), ` (the type of operand #${i})`); });
};

const allReduce: Rule = (c) => {
  sameAsOperands(c);
  const scal = c.operandTypes.map(scalarOf);
  checkBody(c, c.op.regions[0]?.blocks[0], 'reduction body', [...scal, ...scal], scal);
};

// ------------------------------------------------------------------------ gather, scatter

const gather: Rule = (c) => {
  if (!arity(c, 2, 1)) return;
  const os = shape(c.operandTypes[0] ?? null);
  const is = shape(c.operandTypes[1] ?? null);
  const dn = getAttr(c.op, 'dimension_numbers');
  const sizes = attrInts(c, 'slice_sizes');
  if (!dn || dn.kind !== 'gather') {
    c.error('missing its gather dimension numbers');
    return;
  }
  if (!os || !is || !sizes) return;
  const d = dn.dims;
  if (sizes.length !== os.length) {
    c.error(`slice_sizes ${fmtShape(sizes)} must have one entry per operand dimension (rank ${os.length})`);
    return;
  }
  sizes.forEach((s, i) => { if (s < 0 || s > os[i]!) c.error(`slice size ${s} exceeds operand dimension ${i} of size ${os[i]}`); });
  if (!inRange(c, [...d.collapsedSliceDims, ...d.operandBatchingDims], os.length, 'collapsed/batching dimension')) return;
  if (d.indexVectorDim < 0 || d.indexVectorDim > is.length) {
    c.error(`index_vector_dim ${d.indexVectorDim} is out of range for indices ${P(c.operandTypes[1]!)}`);
    return;
  }
  const batchDims = is.filter((_, i) => i !== d.indexVectorDim);
  const offsetSizes = sizes.filter((_, i) => !d.collapsedSliceDims.includes(i) && !d.operandBatchingDims.includes(i));
  if (offsetSizes.length !== d.offsetDims.length) {
    c.error(`offset_dims ${fmtShape(d.offsetDims)} must have ${offsetSizes.length} entries (slice dimensions not collapsed or batching)`);
    return;
  }
  const rank = batchDims.length + offsetSizes.length;
  const out: number[] = [];
  let bi = 0;
  let oi = 0;
  for (let i = 0; i < rank; i++) out.push(d.offsetDims.includes(i) ? offsetSizes[oi++]! : batchDims[bi++]!);
  if (out.some((x) => x === undefined)) {
    c.error(`offset_dims ${fmtShape(d.offsetDims)} are out of range for a result of rank ${rank}`);
    return;
  }
  expectSameShape(c, 0, out, el(c.operandTypes[0]!)!);
};

const scatter: Rule = (c) => {
  const n = (c.operandTypes.length - 1) / 2;
  if (!Number.isInteger(n) || n < 1) {
    c.error(`expected inputs, indices and as many updates, found ${c.operandTypes.length} operands`);
    return;
  }
  const inputs = c.operandTypes.slice(0, n);
  if (c.resultTypes.length !== n) c.error(`expected ${n} result${n === 1 ? '' : 's'}, found ${c.resultTypes.length}`);
  inputs.forEach((t, i) => { if (t) expectResult(c, i, printType(t), ` (the type of input #${i})`); });
  const idx = c.operandTypes[n];
  if (idx && !isIntElement(el(idx) ?? '')) c.error(`scatter indices must be integers, found ${printType(idx)}`);
  const dn = getAttr(c.op, 'scatter_dimension_numbers');
  if (!dn || dn.kind !== 'scatter') c.error('missing its scatter dimension numbers');
  const scal = inputs.map(scalarOf);
  checkBody(c, c.op.regions[0]?.blocks[0], 'update computation', [...scal, ...scal], scal);
};

// ------------------------------------------------------------------------- convolution

const convolution: Rule = (c) => {
  if (!arity(c, 2, 1)) return;
  const is = shape(c.operandTypes[0] ?? null);
  const ks = shape(c.operandTypes[1] ?? null);
  const dn = getAttr(c.op, 'dimension_numbers');
  if (!dn || dn.kind !== 'conv') {
    c.error('missing its convolution dimension numbers');
    return;
  }
  if (!is || !ks) return;
  const d = dn.dims;
  const nsp = d.inputSpatialDims.length;
  if (is.length !== nsp + 2 || ks.length !== nsp + 2) {
    c.error(`input ${P(c.operandTypes[0]!)} and kernel ${P(c.operandTypes[1]!)} must both have rank ${nsp + 2}`);
    return;
  }
  const fgc = attrInt(c, 'feature_group_count') ?? 1;
  const bgc = attrInt(c, 'batch_group_count') ?? 1;
  const inF = is[d.inputFeatureDim]!;
  const kIn = ks[d.kernelInputFeatureDim]!;
  const kOut = ks[d.kernelOutputFeatureDim]!;
  if (inF !== kIn * fgc) c.error(`input features ${inF} must equal kernel input features ${kIn} x feature_group_count ${fgc}`);
  const strides = attrInts(c, 'window_strides') ?? new Array<number>(nsp).fill(1);
  const lhsDil = attrInts(c, 'lhs_dilation') ?? new Array<number>(nsp).fill(1);
  const rhsDil = attrInts(c, 'rhs_dilation') ?? new Array<number>(nsp).fill(1);
  const padding = intList(getAttr(c.op, 'padding')) ?? new Array<number>(2 * nsp).fill(0);
  if (strides.length !== nsp || lhsDil.length !== nsp || rhsDil.length !== nsp || padding.length !== 2 * nsp) {
    c.error(`window attributes must have ${nsp} entries (one per spatial dimension)`);
    return;
  }
  const out = new Array<number>(nsp + 2).fill(0);
  out[d.outputBatchDim] = is[d.inputBatchDim]! / bgc;
  out[d.outputFeatureDim] = kOut;
  for (let i = 0; i < nsp; i++) {
    const inSize = (is[d.inputSpatialDims[i]!]! - 1) * lhsDil[i]! + 1;
    const kSize = (ks[d.kernelSpatialDims[i]!]! - 1) * rhsDil[i]! + 1;
    const padded = inSize + padding[2 * i]! + padding[2 * i + 1]!;
    out[d.outputSpatialDims[i]!] = padded < kSize ? 0 : Math.floor((padded - kSize) / strides[i]!) + 1;
  }
  const r = c.resultTypes[0];
  if (r) expectSameShape(c, 0, out, el(r) ?? '?');
};

/** `case` and `if`: every branch returns the op's result types. */
const branches = (selector: 'index' | 'pred'): Rule => (c) => {
  if (!arity(c, 1, null)) return;
  const t = c.operandTypes[0];
  const want = selector === 'index' ? 'tensor<i32>' : 'tensor<i1>';
  if (t && printType(t) !== want) c.error(`${selector === 'index' ? 'the branch index' : 'the predicate'} expected ${want}, found ${printType(t)}`);
  if (selector === 'pred' && c.op.regions.length !== 2) c.error(`expected 2 branches, found ${c.op.regions.length}`);
  if (c.op.regions.length === 0) c.error('expected at least one branch');
  const results = c.resultTypes.map((r) => (r ? printType(r) : null));
  c.op.regions.forEach((r, i) => checkBody(c, r.blocks[0], `branch ${i}`, [], results));
};

/** `reduce_window`: output dims from window, strides, dilations and padding, per input. */
const reduceWindow: Rule = (c) => {
  const n = c.operandTypes.length / 2;
  if (c.operandTypes.length % 2 !== 0 || n < 1) {
    c.error(`expected inputs and as many init values, found ${c.operandTypes.length} operands`);
    return;
  }
  const inputs = c.operandTypes.slice(0, n);
  const inits = c.operandTypes.slice(n);
  const s = shape(inputs[0] ?? null);
  const win = attrInts(c, 'window_dimensions');
  if (s && win) {
    const rank = s.length;
    const ones = new Array<number>(rank).fill(1);
    const strides = attrInts(c, 'window_strides') ?? ones;
    const base = attrInts(c, 'base_dilations') ?? ones;
    const wdil = attrInts(c, 'window_dilations') ?? ones;
    const padding = intList(getAttr(c.op, 'padding')) ?? new Array<number>(2 * rank).fill(0);
    if ([win, strides, base, wdil].some((x) => x.length !== rank) || padding.length !== 2 * rank) {
      c.error(`window attributes must have ${rank} entries (the inputs' rank)`);
    } else {
      const out = s.map((d, i) => {
        const padded = (d - 1) * base[i]! + 1 + padding[2 * i]! + padding[2 * i + 1]!;
        const w = (win[i]! - 1) * wdil[i]! + 1;
        return padded < w ? 0 : Math.floor((padded - w) / strides[i]!) + 1;
      });
      inits.forEach((t, i) => { if (t && i < c.resultTypes.length) expectSameShape(c, i, out, el(t)!); });
    }
  }
  if (c.resultTypes.length !== n) c.error(`expected ${n} result${n === 1 ? '' : 's'}, found ${c.resultTypes.length}`);
  const scal = inits.map(scalarOf);
  checkBody(c, c.op.regions[0]?.blocks[0], 'reducer body', [...scal, ...scal], scal);
};

const selectAndScatter: Rule = (c) => {
  if (!arity(c, 3, 1)) return;
  const [operand, , init] = c.operandTypes;
  if (operand) expectResult(c, 0, printType(operand), ' (the operand\'s type)');
  const sc = scalarOf(operand ?? null);
  checkBody(c, c.op.regions[0]?.blocks[0], 'select body', [sc, sc], ['tensor<i1>']);
  const si = scalarOf(init ?? null);
  checkBody(c, c.op.regions[1]?.blocks[0], 'scatter body', [si, si], [si]);
};

/** `all_gather`: the gather dimension grows by the replica group size. */
const allGather: Rule = (c) => {
  if (c.resultTypes.length !== c.operandTypes.length) {
    c.error(`expected ${c.operandTypes.length} results, found ${c.resultTypes.length}`);
    return;
  }
  const dim = attrInt(c, 'all_gather_dim');
  const groups = getAttr(c.op, 'replica_groups');
  const gshape = groups?.kind === 'dense' && groups.type ? shape(groups.type) : null;
  c.operandTypes.forEach((t, i) => {
    const s = shape(t);
    if (!s || dim === null) return;
    if (dim < 0 || dim >= s.length) {
      c.error(`all_gather_dim ${dim} is out of range for rank ${s.length}`);
      return;
    }
    if (gshape && gshape.length === 2) expectSameShape(c, i, s.map((d, k) => (k === dim ? d * gshape[1]! : d)), el(t)!, ` (dimension ${dim} times the group size ${gshape[1]})`);
  });
};

// ----------------------------------------------------------------------------- calls etc.

const call: Rule = (c) => {
  const callee = getAttr(c.op, 'callee');
  const name = callee?.kind === 'symbol' ? callee.path[callee.path.length - 1]! : null;
  if (!name) {
    c.error('missing its callee');
    return;
  }
  const f = c.func(name);
  if (!f) {
    c.error(`calls @${name}, which is not defined in this module`);
    return;
  }
  const want = f.args.map((a) => a.type);
  if (want.length !== c.operandTypes.length) c.error(`@${name} takes ${want.length} argument${want.length === 1 ? '' : 's'}, found ${c.operandTypes.length}`);
  else want.forEach((w, i) => { const t = c.operandTypes[i]; if (t && !typesEqual(t, w)) c.error(`argument #${i} of @${name} expected ${printType(w)}, found ${printType(t)}`); });
  const res = f.results.map((r) => r.type);
  if (res.length !== c.resultTypes.length) c.error(`@${name} returns ${res.length} value${res.length === 1 ? '' : 's'}, found ${c.resultTypes.length}`);
  else res.forEach((w, i) => { const t = c.resultTypes[i]; if (t && !typesEqual(t, w)) c.error(`result #${i} of @${name} expected ${printType(w)}, found ${printType(t)}`); });
};

const rngBitGenerator: Rule = (c) => {
  if (!arity(c, 1, 2)) return;
  if (c.operandTypes[0]) expectResult(c, 0, printType(c.operandTypes[0]), ' (the state\'s type)');
  const a = getAttr(c.op, 'rng_algorithm');
  const v = a?.kind === 'ident' ? a.name : a?.kind === 'enum' ? a.value : null;
  if (v && !['DEFAULT', 'THREE_FRY', 'PHILOX'].includes(v)) c.error(`rng algorithm must be DEFAULT, THREE_FRY or PHILOX, found ${v}`);
};

const scalarResult = (element: string): Rule => (c) => {
  if (!arity(c, 0, 1)) return;
  expectResult(c, 0, `tensor<${element}>`);
};

const noCheck: Rule = () => {};

const BINARY = new Set([
  'add', 'subtract', 'multiply', 'divide', 'remainder', 'maximum', 'minimum', 'power', 'atan2', 'and', 'or', 'xor',
  'shift_left', 'shift_right_arithmetic', 'shift_right_logical',
]);

const UNARY_SAME = [
  'negate', 'exponential', 'exponential_minus_one', 'log', 'log_plus_one', 'logistic', 'sqrt', 'rsqrt', 'cbrt', 'tanh', 'tan',
  'sine', 'cosine', 'floor', 'ceil', 'round_nearest_afz', 'round_nearest_even', 'sign', 'not', 'popcnt', 'count_leading_zeros',
];

const realOf = (e: string): string => /^complex<(.*)>$/.exec(e)?.[1] ?? e;

/** chlo ops JAX emits (erf, square, ...): elementwise, result type equals the operand's. */
const CHLO_UNARY = ['erf', 'erfc', 'erf_inv', 'square', 'tan', 'lgamma', 'digamma', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh', 'conj', 'bessel_i1e'];

export const OP_RULES: Record<string, Rule> = {
  ...Object.fromEntries([...BINARY].map((n) => [`stablehlo.${n}`, elementwise(2, ['and', 'or', 'xor'].includes(n) ? 'intOrBool' : n.startsWith('shift') ? 'int' : 'any')])),
  ...Object.fromEntries(UNARY_SAME.map((n) => [`stablehlo.${n}`, elementwise(1, n === 'not' ? 'intOrBool' : n === 'popcnt' || n === 'count_leading_zeros' ? 'int' : 'any')])),
  ...Object.fromEntries(CHLO_UNARY.map((n) => [`chlo.${n}`, elementwise(1)])),
  'stablehlo.abs': sameShape(realOf),
  'stablehlo.real': sameShape(realOf),
  'stablehlo.imag': sameShape(realOf),
  'stablehlo.is_finite': sameShape(() => 'i1'),
  'stablehlo.convert': sameShape(null),
  'stablehlo.bitcast_convert': (c) => {
    if (!arity(c, 1, 1)) return;
    const [t, r] = [c.operandTypes[0] ?? null, c.resultTypes[0] ?? null];
    const os = shape(t);
    const rs = shape(r);
    const ob = bitWidth(el(t) ?? '');
    const rb = bitWidth(el(r) ?? '');
    if (os && rs && ob && rb && numel(os) * ob !== numel(rs) * rb) c.error(`${P(t)} and ${P(r)} differ in total bits`);
  },
  'stablehlo.clamp': clamp,
  'stablehlo.compare': compare,
  'stablehlo.select': select,
  'stablehlo.constant': constant,
  'stablehlo.iota': iota,
  'stablehlo.broadcast_in_dim': broadcastInDim,
  'stablehlo.reshape': reshape,
  'stablehlo.transpose': transpose,
  'stablehlo.reverse': reverse,
  'stablehlo.concatenate': concatenate,
  'stablehlo.slice': slice,
  'stablehlo.dynamic_slice': dynamicSlice,
  'stablehlo.dynamic_update_slice': dynamicUpdateSlice,
  'stablehlo.pad': pad,
  'stablehlo.dot_general': dotGeneral,
  'stablehlo.dot': dot,
  'stablehlo.reduce': reduce,
  'stablehlo.sort': sort,
  'stablehlo.while': whileRule,
  'stablehlo.gather': gather,
  'stablehlo.scatter': scatter,
  'stablehlo.convolution': convolution,
  'stablehlo.all_reduce': allReduce,
  'stablehlo.all_gather': allGather,
  'stablehlo.case': branches('index'),
  'stablehlo.if': branches('pred'),
  'stablehlo.reduce_window': reduceWindow,
  'stablehlo.select_and_scatter': selectAndScatter,
  'stablehlo.optimization_barrier': sameAsOperands,
  'stablehlo.rng_bit_generator': rngBitGenerator,
  'stablehlo.partition_id': scalarResult('ui32'),
  'stablehlo.replica_id': scalarResult('ui32'),
  'stablehlo.get_dimension_size': (c) => { if (arity(c, 1, 1)) expectResult(c, 0, 'tensor<i32>'); },
  'stablehlo.custom_call': noCheck,
  // A region's terminator: its parent op's rule checks the returned types.
  'stablehlo.return': noCheck,
  'func.call': call,
  call,
};

/** StableHLO ops without a row above: accepted without type checks (no note). */
export const KNOWN_STABLEHLO_OPS = new Set([
  'after_all', 'all_to_all', 'batch_norm_grad', 'batch_norm_inference', 'batch_norm_training', 'broadcast',
  'cholesky', 'collective_broadcast', 'collective_permute', 'complex', 'composite', 'create_token', 'cross-replica-sum',
  'dynamic_broadcast_in_dim', 'dynamic_conv', 'dynamic_gather', 'dynamic_iota', 'dynamic_pad', 'dynamic_reshape', 'einsum', 'fft',
  'get_tuple_element', 'infeed', 'map', 'outfeed', 'real_dynamic_slice', 'recv', 'reduce_precision', 'reduce_scatter',
  'rng', 'send', 'torch_index_select', 'trace', 'triangular_solve', 'tuple', 'unary_einsum',
  'uniform_dequantize', 'uniform_quantize',
]);

export type { AttrAst };
