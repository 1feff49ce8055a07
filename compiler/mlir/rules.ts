// Type rules of StableHLO ops: one row per op, checking operand and result types against the
// op's attributes as the StableHLO spec states them. Messages name the expected and found types.
// The ops the IR also has (compiler/ir/prims.ts) are read as IR primitives and checked by the IR's
// own shape rules (compiler/ir/shape.ts); the rows here add only what StableHLO's text says beyond them.
import { DTYPE_INFO, dtypeOfMlir, isDType, type DType } from '../ir/dtype.ts';
import { ShapeError } from '../ir/errors.ts';
import type { CompareDirection, Prim, PrimAttrs } from '../ir/prims.ts';
import { inferTypes } from '../ir/shape.ts';
import { sameShape, tensorType, type TensorType } from '../ir/types.ts';
import type { AttrAst, BlockAst, FuncAst, OpAst, Pos, TypeAst } from './ast.ts';
import { getAttr } from './ast.ts';
import { intList } from './formats.ts';
import { elementName, isIntElement, bitWidth, printType, typesEqual } from './syntax.ts';

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
const tensorOf = (s: readonly number[], element: string): string => `tensor<${s.map((d) => `${d}x`).join('')}${element}>`;
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

// ------------------------------------------------------------- ops the IR has: its shape rules

/**
 * An MLIR element type as an IR dtype: flip's own where one matches (ui32 → u32), else as MLIR spells it (the IR's
 * rules compare such types for equality only). Complex types stay as MLIR spells them although flip has c64/c128:
 * the IR's rules know no complex arithmetic (exp, sqrt, ... of a complex tensor), and a foreign type passes them.
 */
const dtypeOf = (element: string): DType => (element.startsWith('complex<') ? (element as DType) : dtypeOfMlir(element) ?? (element as DType));

/** An IR type as MLIR writes it: how the IR's messages show types here. */
const showMlir = (t: TensorType): string => tensorOf(t.shape, isDType(t.dtype) ? DTYPE_INFO[t.dtype].mlir : t.dtype);

/** The IR type of a static ranked tensor type (axes d0, d1, ...), or null: then the checks that need it are skipped. */
function irType(t: TypeAst | null): TensorType | null {
  const s = shape(t);
  const e = el(t);
  return s && e !== null ? tensorType(dtypeOf(e), s) : null;
}

/** The operands as IR types, or null when one is not a static tensor. */
function irOperands(c: RuleContext): TensorType[] | null {
  const ts = c.operandTypes.map(irType);
  return ts.every((t) => t !== null) ? (ts as TensorType[]) : null;
}

/** The result types the IR's shape rule of `prim` gives, or null after reporting its ShapeError (less the primitive's name). */
function infer<P extends Prim>(c: RuleContext, prim: P, ins: readonly TensorType[], attrs: PrimAttrs[P]): TensorType[] | null {
  try {
    return inferTypes(prim, ins, attrs, showMlir);
  } catch (e) {
    if (!(e instanceof ShapeError)) throw e;
    c.error(e.message.startsWith(`${prim}: `) ? e.message.slice(prim.length + 2) : e.message);
    return null;
  }
}

/** Reports result #i when its declared type is not `want` (element type and shape). */
function expectType(c: RuleContext, i: number, want: TensorType, why = ''): void {
  const found = c.resultTypes[i];
  if (!found) return;
  const f = irType(found);
  const same = f ? f.dtype === want.dtype && sameShape(f.shape, want.shape) : printType(found) === showMlir(want);
  if (!same) c.error(`result type expected ${showMlir(want)}${why}, found ${printType(found)}`);
}

/** The IR's rule of `prim` on the op's operands; reports wrong result types. Returns whether the rule accepted the operands. */
function checkAs<P extends Prim>(c: RuleContext, prim: P, ins: readonly TensorType[], attrs: PrimAttrs[P], why: string | ((i: number) => string) = ''): boolean {
  const out = infer(c, prim, ins, attrs);
  if (!out) return false;
  if (out.length !== c.resultTypes.length) {
    c.error(`expected ${out.length} result${out.length === 1 ? '' : 's'}, found ${c.resultTypes.length}`);
    return true;
  }
  out.forEach((t, i) => expectType(c, i, t, typeof why === 'string' ? why : why(i)));
  return true;
}

/** The op's operands, when all are static tensors, checked as IR primitive `prim`. */
const asPrim = <P extends Prim>(prim: P, attrs: PrimAttrs[P], why?: string | ((i: number) => string)): Rule => (c) => {
  const ins = irOperands(c);
  if (ins) checkAs(c, prim, ins, attrs, why);
};

/** Element classes StableHLO asks for beyond the IR's rule (which passes element types the IR lacks, e.g. i8 or f8E4M3FN). */
function elementClass(c: RuleContext, kind: 'intOrBool' | 'int'): void {
  const t = c.operandTypes[0] ?? null;
  const e = el(t);
  if (!e) return;
  if (kind === 'intOrBool' && !isIntElement(e)) c.error(`expected integer or i1 operands, found ${P(t)}`);
  if (kind === 'int' && (!isIntElement(e) || e === 'i1')) c.error(`expected integer operands, found ${P(t)}`);
}

/** An elementwise op typed as the IR's unary or binary `prim` (result: the operands' type), with StableHLO's element class. */
function elementwise(prim: Prim, kind?: 'intOrBool' | 'int'): Rule {
  return (c) => {
    const ins = irOperands(c);
    if (ins && checkAs(c, prim, ins, {} as PrimAttrs[typeof prim], " (the operands' type)") && kind) elementClass(c, kind);
  };
}

/** The operand's shape with another element type (convert, real, is_finite, ...): typed as the IR's convert. */
const convertTo = (element: (operand: string, result: string | null) => string | null): Rule => (c) => {
  const ins = irOperands(c);
  const e = element(el(c.operandTypes[0] ?? null) ?? '', el(c.resultTypes[0] ?? null));
  if (ins && e !== null) checkAs(c, 'convert', ins, { dtype: dtypeOf(e) });
};

const realOf = (e: string): string => /^complex<(.*)>$/.exec(e)?.[1] ?? e;

/** abs: the IR's rule; StableHLO's abs of a complex tensor is real. */
const abs: Rule = (c) => {
  const ins = irOperands(c);
  const out = ins && infer(c, 'abs', ins, {});
  if (!out || !arity(c, 1, 1)) return;
  expectType(c, 0, { ...out[0]!, dtype: dtypeOf(realOf(el(c.operandTypes[0]!)!)) });
};

const bitcastConvert: Rule = (c) => {
  if (!arity(c, 1, 1)) return;
  const [t, r] = [c.operandTypes[0] ?? null, c.resultTypes[0] ?? null];
  const re = el(r);
  const ob = bitWidth(el(t) ?? '');
  const rb = bitWidth(re ?? '');
  const x = irType(t);
  // Same widths: the IR's rule (same shape). Other widths: StableHLO adds or drops a last dimension; check the bits.
  if (x && re !== null && ob === rb) checkAs(c, 'bitcast_convert', [x], { dtype: dtypeOf(re) });
  const os = shape(t);
  const rs = shape(r);
  if (os && rs && ob && rb && ob !== rb && numel(os) * ob !== numel(rs) * rb) c.error(`${P(t)} and ${P(r)} differ in total bits`);
};

const compare: Rule = (c) => {
  const dir = getAttr(c.op, 'comparison_direction');
  const d = dir?.kind === 'enum' ? dir.value : dir?.kind === 'ident' ? dir.name : null;
  const ok = d !== null && ['EQ', 'NE', 'GE', 'GT', 'LE', 'LT'].includes(d);
  if (!ok) c.error(`comparison direction must be EQ, NE, GE, GT, LE or LT, found ${d ?? 'none'}`);
  const ct = getAttr(c.op, 'compare_type');
  const t = ct?.kind === 'enum' ? ct.value : null;
  if (t && !['FLOAT', 'TOTALORDER', 'SIGNED', 'UNSIGNED', 'NOTYPE'].includes(t)) c.error(`comparison type must be FLOAT, TOTALORDER, SIGNED, UNSIGNED or NOTYPE, found ${t}`);
  const ins = irOperands(c);
  if (ins) checkAs(c, 'compare', ins, { direction: (ok ? d : 'EQ') as CompareDirection });
};

const select: Rule = (c) => {
  const ins = irOperands(c);
  if (!ins) return;
  // StableHLO also takes a 0-d predicate for any on_true; the IR's select wants one of on_true's shape.
  const [p, t] = ins;
  if (p && t && p.shape.length === 0) ins[0] = { ...p, shape: t.shape, axes: t.axes };
  checkAs(c, 'select', ins, {}, ' (the type of on_true)');
};

/** The IR's rule of a primitive whose result type is one of its attributes (iota, broadcast_in_dim, reshape). */
const resultAttr = <P extends 'iota' | 'broadcast_in_dim' | 'reshape'>(prim: P, attrs: (c: RuleContext) => Omit<PrimAttrs[P], 'shape' | 'axes' | 'dtype'> | null): Rule => (c) => {
  if (c.resultTypes.length !== 1) {
    c.error(`expected 1 result, found ${c.resultTypes.length}`);
    return;
  }
  const ins = irOperands(c);
  const r = irType(c.resultTypes[0] ?? null);
  const a = r && attrs(c);
  if (ins && r && a) checkAs(c, prim, ins, { ...a, dtype: r.dtype, shape: r.shape, axes: r.axes } as unknown as PrimAttrs[P]);
};

const iota = resultAttr('iota', (c) => {
  const dimension = attrInt(c, 'iota_dimension');
  return dimension === null ? null : { dimension };
});
const broadcastInDim = resultAttr('broadcast_in_dim', (c) => {
  const dims = attrInts(c, 'broadcast_dimensions');
  return dims && { dims };
});
const reshape = resultAttr('reshape', () => ({}));

/** Ops whose IR attributes are integer attributes of the op: null when one is missing or malformed. */
const withInts = <P extends Prim>(prim: P, read: (c: RuleContext) => PrimAttrs[P] | null, why?: (a: PrimAttrs[P]) => string): Rule => (c) => {
  const ins = irOperands(c);
  const a = ins && read(c);
  if (ins && a) checkAs(c, prim, ins, a, why?.(a));
};

const transpose = withInts('transpose', (c) => {
  const permutation = attrInts(c, 'permutation');
  return permutation && { permutation };
}, (a) => ` (the operand permuted by ${fmtShape([...a.permutation])})`);

const concatenate = withInts('concatenate', (c) => {
  const dimension = attrInt(c, 'dimension');
  return dimension === null ? null : { dimension };
});

const slice = withInts('slice', (c) => {
  const [start, limit, strides] = [attrInts(c, 'start_indices'), attrInts(c, 'limit_indices'), attrInts(c, 'strides')];
  return start && limit && strides && { start, limit, strides };
});

const dynamicSlice = withInts('dynamic_slice', (c) => {
  const sizes = attrInts(c, 'slice_sizes');
  return sizes && { sizes };
});

const pad = withInts('pad', (c) => {
  const [low, high, interior] = [attrInts(c, 'edge_padding_low'), attrInts(c, 'edge_padding_high'), attrInts(c, 'interior_padding')];
  if (interior?.some((x) => x < 0)) {
    c.error('interior padding must be non-negative');
    return null;
  }
  return low && high && interior && { low, high, interior };
});

/** The IR's rule, and StableHLO's start indices: 0-d integer tensors (the IR's rule leaves them to its builder). */
const dynamicUpdateSlice: Rule = (c) => {
  const ins = irOperands(c);
  if (!ins || !checkAs(c, 'dynamic_update_slice', ins, {}, " (the operand's type)")) return;
  for (let i = 2; i < c.operandTypes.length; i++) {
    const t = c.operandTypes[i]!;
    const e = el(t);
    if (shape(t)!.length !== 0 || !e || !isIntElement(e) || e === 'i1') c.error(`start index operand #${i} must be a 0-d integer tensor, found ${printType(t)}`);
  }
};

function dotAttrs(c: RuleContext, lhsBatch: number[], rhsBatch: number[], lhsContract: number[], rhsContract: number[]): PrimAttrs['dot_general'] {
  const r = c.resultTypes[0];
  const e = r ? el(r) : null;
  // The result element type is the op's to choose (bf16 x bf16 -> f32): take the declared one.
  return { lhsBatch, rhsBatch, lhsContract, rhsContract, ...(e ? { resultDtype: dtypeOf(e) } : {}) };
}

const dotGeneral: Rule = (c) => {
  const dn = getAttr(c.op, 'dot_dimension_numbers');
  if (!dn || dn.kind !== 'dot') {
    c.error('missing its dot dimension numbers');
    return;
  }
  const d = dn.dims;
  const ins = irOperands(c);
  if (ins) checkAs(c, 'dot_general', ins, dotAttrs(c, d.lhsBatchingDims, d.rhsBatchingDims, d.lhsContractingDims, d.rhsContractingDims), ' (batch, lhs free, rhs free dimensions)');
  const pc = getAttr(c.op, 'precision_config');
  if (pc?.kind === 'array') {
    if (pc.elements.length > 2) c.error(`precision config has ${pc.elements.length} entries, at most 2`);
    for (const e of pc.elements) if (e.kind === 'enum' && !['DEFAULT', 'HIGH', 'HIGHEST'].includes(e.value)) c.error(`precision must be DEFAULT, HIGH or HIGHEST, found ${e.value}`);
  }
};

/** `dot`: rank 1 or 2 operands, contracting lhs's last dimension with rhs's first: a dot_general. */
const dot: Rule = (c) => {
  if (!arity(c, 2, 1)) return;
  const ins = irOperands(c);
  if (!ins) return;
  const [l, r] = ins as [TensorType, TensorType];
  if (l.shape.length < 1 || l.shape.length > 2 || r.shape.length < 1 || r.shape.length > 2) {
    c.error(`dot takes rank-1 or rank-2 operands, found ${P(c.operandTypes[0]!)} and ${P(c.operandTypes[1]!)}`);
    return;
  }
  checkAs(c, 'dot_general', ins, dotAttrs(c, [], [], [l.shape.length - 1], [0]));
};

/** Results of the operands' types (optimization_barrier, all_reduce): the IR's optimization_barrier. */
const sameAsOperands = asPrim('optimization_barrier', {}, (i) => ` (the type of operand #${i})`);

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

/** Variadic reduce: each input reduced as the IR's reduce gives its result; the init values and the body are StableHLO's. */
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
  if (dims) {
    for (const [i, t] of inputs.entries()) {
      const x = irType(t);
      if (!x) continue;
      // The combiner is the body's, not one of the IR's kinds: 'sum' asks nothing of the element type.
      const out = infer(c, 'reduce', [x], { dims, kind: 'sum' });
      if (!out) break;
      if (i < c.resultTypes.length) expectType(c, i, out[0]!);
    }
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
  const ins = irOperands(c);
  const d = attrInt(c, 'dimension') ?? -1;
  const rank = ins?.[0]?.shape.length ?? 0;
  // StableHLO counts a negative dimension from the back (the default, -1, is the last).
  if (ins) checkAs(c, 'sort', ins, { dimension: d < 0 && d >= -rank ? d + rank : d, descending: false });
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


const allReduce: Rule = (c) => {
  sameAsOperands(c);
  const scal = c.operandTypes.map(scalarOf);
  checkBody(c, c.op.regions[0]?.blocks[0], 'reduction body', [...scal, ...scal], scal);
};

// ------------------------------------------------------------------------ gather, scatter

const gather: Rule = (c) => {
  if (!arity(c, 2, 1)) return;
  const dn = getAttr(c.op, 'dimension_numbers');
  const sizes = attrInts(c, 'slice_sizes');
  if (!dn || dn.kind !== 'gather') {
    c.error('missing its gather dimension numbers');
    return;
  }
  const ins = irOperands(c);
  if (!ins || !sizes) return;
  const [x, idx] = ins as [TensorType, TensorType];
  const d = dn.dims;
  // What StableHLO's gather has beyond the IR's: batching dimensions, and the ranges its rule takes as given.
  if (!inRange(c, [...d.collapsedSliceDims, ...d.operandBatchingDims], x.shape.length, 'collapsed/batching dimension')) return;
  if (d.indexVectorDim < 0 || d.indexVectorDim > idx.shape.length) {
    c.error(`index_vector_dim ${d.indexVectorDim} is out of range for indices ${P(c.operandTypes[1]!)}`);
    return;
  }
  const rank = idx.shape.length - (d.indexVectorDim < idx.shape.length ? 1 : 0) + d.offsetDims.length;
  if (d.offsetDims.some((o) => o < 0 || o >= rank)) {
    c.error(`offset_dims ${fmtShape(d.offsetDims)} are out of range for a result of rank ${rank}`);
    return;
  }
  // An operand batching dimension leaves the result's shape as a collapsed one does.
  checkAs(c, 'gather', ins, {
    offsetDims: d.offsetDims, collapsedSliceDims: [...d.collapsedSliceDims, ...d.operandBatchingDims], startIndexMap: d.startIndexMap,
    indexVectorDim: d.indexVectorDim, sliceSizes: sizes, axes: Array.from({ length: rank }, (_, i) => `d${i}`),
  });
};

/** Variadic scatter: inputs, indices, as many updates; each input with its update checked as the IR's scatter. */
const scatter: Rule = (c) => {
  const n = (c.operandTypes.length - 1) / 2;
  if (!Number.isInteger(n) || n < 1) {
    c.error(`expected inputs, indices and as many updates, found ${c.operandTypes.length} operands`);
    return;
  }
  if (c.resultTypes.length !== n) c.error(`expected ${n} result${n === 1 ? '' : 's'}, found ${c.resultTypes.length}`);
  const dn = getAttr(c.op, 'scatter_dimension_numbers');
  if (!dn || dn.kind !== 'scatter') c.error('missing its scatter dimension numbers');
  const ins = irOperands(c);
  if (ins && dn?.kind === 'scatter') {
    const d = dn.dims;
    const attrs: PrimAttrs['scatter'] = {
      updateWindowDims: d.updateWindowDims, insertedWindowDims: d.insertedWindowDims, scatterDimsToOperandDims: d.scatterDimsToOperandDims,
      indexVectorDim: d.indexVectorDim, kind: 'add',
    };
    for (let i = 0; i < n; i++) {
      const out = infer(c, 'scatter', [ins[i]!, ins[n]!, ins[n + 1 + i]!], attrs);
      if (!out) break;
      if (i < c.resultTypes.length) expectType(c, i, out[0]!, ` (the type of input #${i})`);
    }
  }
  const scal = c.operandTypes.slice(0, n).map(scalarOf);
  checkBody(c, c.op.regions[0]?.blocks[0], 'update computation', [...scal, ...scal], scal);
};

// ------------------------------------------------------------------ ops the IR does not have

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

/**
 * The IR's constant takes its type from its own attributes, so its rule has nothing to say about MLIR's: what is
 * checked here is the literal as MLIR writes it (its type, nesting, hex bytes) against the result type.
 */
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

const reverse: Rule = (c) => {
  if (!arity(c, 1, 1)) return;
  const os = shape(c.operandTypes[0] ?? null);
  const dims = attrInts(c, 'dimensions');
  if (os && dims) inRange(c, dims, os.length, 'reverse dimension');
  if (c.operandTypes[0]) expectResult(c, 0, printType(c.operandTypes[0]), ' (the operand\'s type)');
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

/**
 * StableHLO's elementwise ops, each typed as the IR primitive it is, or for one the IR lacks, as one typed alike
 * (cbrt as sqrt: a float in, its type out); the second entry is the element class StableHLO asks beyond the IR's rule.
 */
const ELEMENTWISE: Record<string, [Prim, ('intOrBool' | 'int')?]> = {
  add: ['add'], subtract: ['subtract'], multiply: ['multiply'], divide: ['divide'], remainder: ['remainder'],
  maximum: ['maximum'], minimum: ['minimum'], power: ['power'], atan2: ['atan2'],
  and: ['and', 'intOrBool'], or: ['or', 'intOrBool'], xor: ['xor', 'intOrBool'], not: ['not', 'intOrBool'],
  shift_left: ['shift_left', 'int'], shift_right_logical: ['shift_right_logical', 'int'], shift_right_arithmetic: ['shift_right_logical', 'int'],
  popcnt: ['not', 'int'], count_leading_zeros: ['not', 'int'],
  negate: ['neg'], sign: ['sign'], exponential: ['exp'], exponential_minus_one: ['expm1'], log: ['log'], log_plus_one: ['log1p'],
  logistic: ['logistic'], sqrt: ['sqrt'], rsqrt: ['rsqrt'], cbrt: ['sqrt'], tanh: ['tanh'], tan: ['tanh'], sine: ['sine'], cosine: ['cosine'],
  floor: ['floor'], ceil: ['ceil'], round_nearest_even: ['round_nearest_even'], round_nearest_afz: ['round_nearest_even'],
};

/** chlo ops JAX emits (erf, square, ...): elementwise, result type equals the operand's; all but square and conj take floats. */
const CHLO_UNARY: Record<string, Prim> = {
  ...Object.fromEntries(['erf', 'erfc', 'erf_inv', 'tan', 'lgamma', 'digamma', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh', 'bessel_i1e'].map((n) => [n, 'tanh'])),
  square: 'sign', conj: 'sign',
};

export const OP_RULES: Record<string, Rule> = {
  ...Object.fromEntries(Object.entries(ELEMENTWISE).map(([n, [p, kind]]) => [`stablehlo.${n}`, elementwise(p, kind)])),
  ...Object.fromEntries(Object.entries(CHLO_UNARY).map(([n, p]) => [`chlo.${n}`, elementwise(p)])),
  // chlo's binary float ops (written `%a, %b : T, T -> T`): typed as atan2, two floats of one type in, that type out.
  ...Object.fromEntries(['next_after', 'polygamma', 'zeta'].map((n) => [`chlo.${n}`, elementwise('atan2')])),
  ...Object.fromEntries(['is_inf', 'is_neg_inf', 'is_pos_inf'].map((n) => [`chlo.${n}`, convertTo(() => 'i1')])),
  'stablehlo.abs': abs,
  'stablehlo.real': convertTo(realOf),
  'stablehlo.imag': convertTo(realOf),
  'stablehlo.is_finite': convertTo(() => 'i1'),
  'stablehlo.convert': convertTo((_, result) => result),
  'stablehlo.bitcast_convert': bitcastConvert,
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
