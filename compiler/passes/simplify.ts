// Simplification before lowering: constant folding and algebraic identities, CSE, and DCE on one Func.
// Every primitive is pure, so an op whose results nobody uses can go, and two ops with the same inputs are one.
import { FuncBuilder, isFloat, numElements, sameShape, type DType, type Func, type Op, type Prim, type PrimAttrs, type Value } from '../ir/index.ts';
import { OpEmitter } from './emit.ts';

export interface SimplifyOptions {
  /**
   * Replace stop-gradient and gradient barriers (the forward identities; not the barriers autodiff put on cotangents)
   * by their operand. Right only after every autodiff pass has run (jit does this just
   * before lowering); before that they carry meaning.
   */
  dropStopGradient?: boolean;
}

/** Constant folding + identities and CSE in one forward sweep, then DCE. Params and results keep their order and types. */
export function simplify(f: Func, opts: SimplifyOptions = {}): Func {
  // A second sweep merges the constants that folding created; a third rarely finds anything.
  let g = dce(foldAndCse(f, opts));
  for (let i = 0; i < 2; i++) {
    const h = dce(foldAndCse(g, opts));
    if (h.ops.length === g.ops.length) return h;
    g = h;
  }
  return g;
}

/** Drops ops whose results are not used (transitively) by the function's results. */
export function dce(f: Func): Func {
  const live = new Set(f.results.map((v) => v.id));
  const kept: Op[] = [];
  for (let i = f.ops.length - 1; i >= 0; i--) {
    const op = f.ops[i]!;
    if (!op.results.some((r) => live.has(r.id))) continue;
    kept.push(op);
    for (const v of op.operands) live.add(v.id);
  }
  return kept.length === f.ops.length ? f : { ...f, ops: kept.reverse() };
}

// ---- constant values -------------------------------------------------------------------------------------------

/** The number every element of `v` holds, when `v` is a constant with one value throughout. */
export function splatValue(v: Value): number | undefined {
  const op = v.def;
  if (!op || op.prim !== 'constant') return undefined;
  const val = (op.attrs as PrimAttrs['constant']).value;
  if (typeof val === 'number') return val;
  if (typeof val === 'bigint' || val.length === 0) return undefined;
  const first = val[0];
  if (typeof first !== 'number' || !(val as readonly number[]).every((x) => Object.is(x, first))) return undefined;
  return first;
}

/** Round a folded number to what the device would hold; undefined where JS cannot reproduce the dtype's arithmetic. */
function roundTo(d: DType, x: number): number | undefined {
  if (d === 'f64') return x;
  if (d === 'f32') return Math.fround(x);
  return undefined;
}

/** A constant's value as the device holds it (f32 rounds; bf16/f16 only where exact: small integers). */
function deviceValue(d: DType, x: number | undefined): number | undefined {
  if (x === undefined || !isFloat(d)) return x;
  return roundTo(d, x) ?? (Number.isInteger(x) && Math.abs(x) <= 256 ? x : undefined);
}

const roundHalfEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

type Fold1 = (x: number) => number;
const UNARY_FOLD: Partial<Record<Prim, Fold1>> = {
  neg: (x) => -x, exp: Math.exp, expm1: Math.expm1, log: Math.log, log1p: Math.log1p, sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x), tanh: Math.tanh, logistic: (x) => 1 / (1 + Math.exp(-x)), abs: Math.abs,
  sign: (x) => (Number.isNaN(x) ? x : Math.sign(x)), floor: Math.floor, ceil: Math.ceil, round_nearest_even: roundHalfEven,
  sine: Math.sin, cosine: Math.cos,
};
type Fold2 = (a: number, b: number) => number;
const BINARY_FOLD: Partial<Record<Prim, Fold2>> = {
  add: (a, b) => a + b, subtract: (a, b) => a - b, multiply: (a, b) => a * b, divide: (a, b) => a / b,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
  power: (a, b) => a ** b, remainder: (a, b) => a % b, atan2: Math.atan2,
};
const COMPARE: Record<PrimAttrs['compare']['direction'], (a: number, b: number) => boolean> = {
  EQ: (a, b) => a === b, NE: (a, b) => a !== b, LT: (a, b) => a < b, LE: (a, b) => a <= b, GT: (a, b) => a > b, GE: (a, b) => a >= b,
};

/** A replacement for op's single result, or undefined to keep the op. Operands are already simplified. */
function foldOne(e: OpEmitter, op: Op, ins: readonly Value[]): Value | undefined {
  const out = op.results[0]!.type;
  // `raw`: the constants as written, for ops that only move elements; `k`: as the device holds them, for arithmetic.
  const raw = ins.map(splatValue);
  const k = ins.map((v, i) => deviceValue(v.type.dtype, raw[i]));
  const splat = (x: number | undefined) => (x === undefined ? undefined : e.full(out, x));
  const a = op.attrs as Record<string, unknown>;
  const unaryFold = UNARY_FOLD[op.prim];
  if (unaryFold && k[0] !== undefined && isFloat(out.dtype)) return splat(roundTo(out.dtype, unaryFold(k[0])));
  const binaryFold = BINARY_FOLD[op.prim];
  if (binaryFold && k[0] !== undefined && k[1] !== undefined && isFloat(out.dtype)) return splat(roundTo(out.dtype, binaryFold(k[0], k[1])));
  switch (op.prim) {
    // Algebraic identities with a splat constant (XLA's simplifier does these too).
    case 'add': return k[1] === 0 ? ins[0] : k[0] === 0 ? ins[1] : undefined;
    case 'subtract': return k[1] === 0 ? ins[0] : undefined;
    case 'multiply': return k[1] === 1 ? ins[0] : k[0] === 1 ? ins[1] : undefined;
    case 'divide': return k[1] === 1 ? ins[0] : undefined;
    case 'neg': return ins[0]!.def?.prim === 'neg' ? ins[0]!.def.operands[0] : undefined;
    case 'compare':
      return k[0] !== undefined && k[1] !== undefined ? e.full(out, COMPARE[(a as PrimAttrs['compare']).direction](k[0], k[1]) ? 1 : 0) : undefined;
    case 'select':
      if (k[0] !== undefined) return k[0] ? ins[1] : ins[2];
      return ins[1]!.id === ins[2]!.id ? ins[1] : undefined;
    case 'convert': {
      const x = ins[0]!;
      if (x.type.dtype === out.dtype) return x;
      return k[0] !== undefined && isFloat(out.dtype) ? splat(roundTo(out.dtype, k[0])) : undefined;
    }
    case 'broadcast_in_dim': case 'reshape': {
      const x = ins[0]!;
      if (raw[0] !== undefined) return splat(raw[0]);
      // A same-shape reshape that renames axes (dsl `rename`) is not an identity: its names are what
      // the result (e.g. a gradient matched to its parameter) must carry.
      const sameNames = x.type.axes.every((n, i) => n === out.axes[i]);
      const identity = sameShape(x.type.shape, out.shape) && sameNames && (op.prim === 'reshape' || (a as PrimAttrs['broadcast_in_dim']).dims.every((d, i) => d === i));
      return identity ? x : undefined;
    }
    case 'transpose':
      if (raw[0] !== undefined) return splat(raw[0]);
      return (a as PrimAttrs['transpose']).permutation.every((p, i) => p === i) ? ins[0] : undefined;
    case 'reduce': {
      const x = ins[0]!, kind = (a as PrimAttrs['reduce']).kind;
      if (k[0] === undefined || !isFloat(out.dtype)) return undefined;
      const n = numElements(x.type.shape) / Math.max(1, numElements(out.shape));
      if (kind === 'sum') return splat(roundTo(out.dtype, k[0] * n));
      return (kind === 'max' || kind === 'min') && n > 0 ? splat(k[0]) : undefined;
    }
    default: return undefined;
  }
}

/** A scan body's identity in CSE keys: two scans are one only if they run the same body (object). */
const bodyIds = new WeakMap<Func, number>();
let nextBodyId = 0;
const bodyId = (f: Func) => {
  let id = bodyIds.get(f);
  if (id === undefined) bodyIds.set(f, (id = nextBodyId++));
  return id;
};
const isFunc = (v: unknown): v is Func => v !== null && typeof v === 'object' && 'ops' in v && 'params' in v && 'results' in v;

/** JSON for attrs that may hold bigints (i64 constants) and scan bodies. */
const attrKey = (attrs: unknown) =>
  JSON.stringify(attrs, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : isFunc(v) ? `@body${bodyId(v)}` : v));

/** Simplified scan bodies, per option set: a body is simplified once however many sweeps see it. */
const simplifiedBodies = new WeakMap<Func, Func>();
const simplifiedBodiesNoStop = new WeakMap<Func, Func>();
function simplifyBody(body: Func, opts: SimplifyOptions): Func {
  const memo = opts.dropStopGradient ? simplifiedBodiesNoStop : simplifiedBodies;
  let done = memo.get(body);
  if (!done) {
    done = simplify(body, opts);
    memo.set(body, done);
    memo.set(done, done);
  }
  return done;
}

function foldAndCse(f: Func, opts: SimplifyOptions): Func {
  const b = new FuncBuilder(f.name);
  const map = new Map<number, Value>();
  f.params.forEach((p, i) => map.set(p.id, b.param(p.type, f.paramInfo[i])));
  const seen = new Map<string, Value[]>();
  const get = (v: Value) => map.get(v.id) ?? v;
  for (const op of f.ops) {
    const ins = op.operands.map(get);
    const barrier = op.prim === 'optimization_barrier' ? (op.attrs as PrimAttrs['optimization_barrier']) : undefined;
    if (barrier && opts.dropStopGradient && (barrier.stopGradient || barrier.gradientBarrier)) {
      op.results.forEach((r, k) => map.set(r.id, ins[k]!));
      continue;
    }
    const e = new OpEmitter(b, op.loc);
    const folded = op.results.length === 1 ? b.withRemat(op.remat, () => foldOne(e, op, ins)) : undefined;
    if (folded) {
      map.set(op.results[0]!.id, folded);
      continue;
    }
    // A scan's body is simplified on its own (its params and results stay as they are).
    const attrs = op.prim === 'scan' ? { ...(op.attrs as PrimAttrs['scan']), body: simplifyBody((op.attrs as PrimAttrs['scan']).body, opts) } : op.attrs;
    const key = `${op.prim}|${attrKey(attrs)}|${ins.map((v) => v.id).join(',')}|${op.remat?.region ?? ''}`;
    const hit = seen.get(key);
    const outs = hit ?? b.withRemat(op.remat, () => b.emit(op.prim, ins, attrs as never, op.loc));
    if (!hit) seen.set(key, outs);
    op.results.forEach((r, k) => map.set(r.id, outs[k]!));
  }
  return b.finish(f.results.map(get), f.resultInfo, f.loc);
}
