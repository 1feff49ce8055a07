// The `check.*` custom calls of StableHLO's test data (openxla/stablehlo's stablehlo/testdata: JAX-lowered modules
// that compare a result with expected values kept in the module). No PJRT plugin implements them, so `flipc run`
// takes them out of @main before compiling, returns their operands as extra results, and compares those on the host
// with the tolerances `stablehlo-translate --interpret` applies to the custom-call form:
//   check.expect_eq         equal (floats: equal as numbers, or both NaN)
//   check.expect_close      at most 3 ULP apart (non-finite values: equal, or both NaN)
//   check.expect_almost_eq  |actual - expected| <= 0.001 (non-finite values: equal, or both NaN)
// Complex numbers (c64, c128) compare part by part with the same rules: an element matches when its real parts and
// its imaginary parts both do (stablehlo's CheckOps.cpp: the larger of the two parts' ULP distances).
import { FlipError } from '../compiler/ir/errors.ts';
import { DTYPE_INFO, bf16ToF32, f16ToF32, f8ToF32, isF8, type DType } from '../compiler/ir/dtype.ts';
import { functions, getAttr, type FuncAst, type ModuleAst, type OpAst } from '../compiler/mlir/index.ts';
import type { TensorData } from '../io/safetensors.ts';

export const CHECK_KINDS = ['expect_eq', 'expect_close', 'expect_almost_eq'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

export interface CheckOp {
  kind: CheckKind;
  /** Where it was written (file:line). */
  where: string;
}

export interface CheckResult extends CheckOp {
  ok: boolean;
  /** Elements compared, and how many differ beyond the tolerance. */
  elements: number;
  mismatches: number;
  /** The first mismatch: `at [3]: 0.5 (actual) vs 0.25 (expected)`. */
  first?: string;
}

/** ULPs `check.expect_close` allows, and `check.expect_almost_eq`'s absolute tolerance (as stablehlo-translate). */
export const MAX_ULP = 3;
export const ALMOST_EQ_TOLERANCE = 0.001;

function targetOf(op: OpAst): string | undefined {
  if (op.name !== 'stablehlo.custom_call') return undefined;
  const t = getAttr(op, 'call_target_name');
  if (t?.kind === 'string') return t.value;
  if (t?.kind === 'symbol') return t.path.join('::');
  return undefined;
}

/**
 * Takes @main's `check.*` custom calls out of the module (in place): each one's two operands become two more results
 * of @main, after its own. Returns the checks in order; none when the module has none.
 */
export function extractChecks(m: ModuleAst, main: FuncAst): CheckOp[] {
  const checks: CheckOp[] = [];
  const block = main.body?.blocks[0];
  if (!block) return checks;
  const ret = block.ops[block.ops.length - 1];
  const found = block.ops.filter((op) => targetOf(op)?.startsWith('check.'));
  if (!found.length) return checks;
  if (!ret || (ret.name !== 'return' && ret.name !== 'func.return') || !ret.operandTypes) {
    throw new FlipError(`${m.filename}: @${main.name} does not end in a return; cannot take its check ops out`);
  }
  for (const op of found) {
    const target = targetOf(op)!;
    const kind = target.slice('check.'.length) as CheckKind;
    const where = `${m.filename}:${op.pos.line}`;
    if (!(CHECK_KINDS as readonly string[]).includes(kind)) throw new FlipError(`${where}: unknown check op ${target} (flipc run knows ${CHECK_KINDS.map((k) => `check.${k}`).join(', ')})`);
    if (op.operands.length !== 2 || op.operandTypes?.length !== 2) throw new FlipError(`${where}: ${target} takes two operands (actual, expected)`);
    ret.operands.push(...op.operands);
    ret.operandTypes.push(...op.operandTypes);
    for (const t of op.operandTypes) main.results.push({ type: t, attrs: [], loc: null });
    checks.push({ kind, where });
  }
  block.ops = block.ops.filter((op) => !found.includes(op));
  // Check ops anywhere else would reach the plugin, which cannot run them.
  for (const f of functions(m)) {
    for (const b of f.body?.blocks ?? []) {
      const other = b.ops.find((op) => targetOf(op)?.startsWith('check.'));
      if (other) throw new FlipError(`${m.filename}:${other.pos.line}: flipc run takes check ops out of @${main.name}'s body only, not @${f.name}'s`);
    }
  }
  return checks;
}

/** Does the module hold any `check.*` custom call at all (for callers that want to know before parsing more)? */
export function hasChecks(text: string): boolean {
  return text.includes('@check.');
}

/** The values of a float tensor as numbers (bf16, f16, f8 from their bits; complex: its interleaved parts). */
function floatValues(t: TensorData): number[] {
  const d = t.data as ArrayLike<number>;
  const n = d.length;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = d[i]!;
    out[i] = t.dtype === 'bf16' ? bf16ToF32(x) : t.dtype === 'f16' ? f16ToF32(x) : isF8(t.dtype) ? f8ToF32(x, t.dtype) : x;
  }
  return out;
}

/** Sign-magnitude bits as an ordinal: neighbouring floats differ by one (both zeros are 0). */
function ordinals(t: TensorData): bigint[] {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const width = t.data.BYTES_PER_ELEMENT;
  const bits = t.dtype === 'f32' ? 32 : t.dtype === 'f64' ? 64 : width * 8;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: bigint[] = [];
  const signless = t.dtype === 'f8e8m0fnu';
  for (let i = 0; i < t.data.length; i++) {
    const b = bits === 64 ? view.getBigUint64(i * 8, true) : BigInt(bits === 32 ? view.getUint32(i * 4, true) : bits === 16 ? view.getUint16(i * 2, true) : view.getUint8(i));
    const sign = 1n << BigInt(bits - 1);
    out.push(signless ? b : b & sign ? -(b & (sign - 1n)) : b);
  }
  return out;
}

const isFloatDType = (d: DType): boolean => ['f32', 'f64', 'f16', 'bf16', 'c64', 'c128'].includes(d) || isF8(d);

/** Compares a check's two tensors. */
export function evalCheck(check: CheckOp, actual: TensorData, expected: TensorData): CheckResult {
  if (actual.dtype !== expected.dtype || actual.shape.join() !== expected.shape.join()) {
    return { ...check, ok: false, elements: 0, mismatches: 1, first: `actual is ${actual.dtype}[${actual.shape.join(', ')}], expected ${expected.dtype}[${expected.shape.join(', ')}]` };
  }
  const lanes = DTYPE_INFO[actual.dtype].lanes;
  const n = actual.data.length / lanes;
  let mismatches = 0;
  let first: string | undefined;
  const note = (i: number, a: unknown, e: unknown, extra = ''): void => {
    mismatches++;
    first ??= `at flat index ${i}: ${String(a)} (actual) vs ${String(e)} (expected)${extra}`;
  };
  if (!isFloatDType(actual.dtype)) {
    if (check.kind !== 'expect_eq') return { ...check, ok: false, elements: n, mismatches: 1, first: `check.${check.kind} takes floats, got ${actual.dtype}` };
    const a = actual.data as ArrayLike<number | bigint>;
    const e = expected.data as ArrayLike<number | bigint>;
    for (let i = 0; i < n; i++) if (a[i] !== e[i]) note(i, a[i], e[i]);
  } else {
    const a = floatValues(actual);
    const e = floatValues(expected);
    const oa = check.kind === 'expect_close' ? ordinals(actual) : [];
    const oe = check.kind === 'expect_close' ? ordinals(expected) : [];
    /** How far apart number k of the two arrays is: 0 within the tolerance, else the ULPs (expect_close) or 1. */
    const off = (k: number): bigint => {
      const x = a[k]!;
      const y = e[k]!;
      if (x === y || (Number.isNaN(x) && Number.isNaN(y))) return 0n;
      if (!Number.isFinite(x) || !Number.isFinite(y) || check.kind === 'expect_eq') return -1n;
      if (check.kind === 'expect_almost_eq') return Math.abs(x - y) > ALMOST_EQ_TOLERANCE ? -1n : 0n;
      const d = oa[k]! - oe[k]!;
      const ulp = d < 0n ? -d : d;
      return ulp > BigInt(MAX_ULP) ? ulp : 0n;
    };
    const show = (v: number[], i: number): string => (lanes === 1 ? String(v[i]) : `(${v[2 * i]}, ${v[2 * i + 1]})`);
    for (let i = 0; i < n; i++) {
      let worst = 0n;
      let bad = false;
      for (let j = 0; j < lanes; j++) {
        const d = off(i * lanes + j);
        if (d !== 0n) bad = true;
        if (d > worst) worst = d;
      }
      if (bad) note(i, show(a, i), show(e, i), worst > 0n ? `, ${worst} ULP apart` : '');
    }
  }
  return { ...check, ok: mismatches === 0, elements: n, mismatches, ...(first ? { first } : {}) };
}
