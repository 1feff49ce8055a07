// Element types of flip tensors: the names used everywhere (IR, DSL, runtime, checkpoints), and one table of what each
// name means on the host, in MLIR text and in files. Other parts read DTYPE_INFO instead of restating its columns.
// Every byte-sized element type a safetensors file can carry (BOOL, U8..U64, I8..I64, F16, BF16, F32, F64 and the
// 8-bit floats F8_E4M3 = f8E4M3FN, F8_E5M2 = f8E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E8M0 = f8E8M0FNU) and the complex
// numbers c64 = complex<f32> (safetensors C64) and c128 = complex<f64> (no safetensors name); the DSL and the trainer
// use the first nine, `flipc run` and the file formats all of them. Not here: safetensors' packed sub-byte floats (F4,
// F6_E2M3, F6_E3M2), and StableHLO's f8E4M3B11FNUZ, f8E4M3, f8E3M4 (no safetensors name).
export const DTYPES = [
  'f32', 'bf16', 'f16', 'f64', 'i32', 'i64', 'u32', 'u8', 'i1',
  'i8', 'i16', 'u16', 'u64', 'f8e4m3fn', 'f8e5m2', 'f8e4m3fnuz', 'f8e5m2fnuz', 'f8e8m0fnu', 'c64', 'c128',
] as const;
export type DType = (typeof DTYPES)[number];
export type F8DType = 'f8e4m3fn' | 'f8e5m2' | 'f8e4m3fnuz' | 'f8e5m2fnuz' | 'f8e8m0fnu';
export type FloatDType = 'f32' | 'bf16' | 'f16' | 'f64' | F8DType;
export type IntDType = 'i32' | 'i64' | 'u32' | 'u8' | 'i8' | 'i16' | 'u16' | 'u64';
export type ComplexDType = 'c64' | 'c128';

/**
 * Host-side array for each dtype: bf16/f16 travel as raw bits in a Uint16Array, the f8s as raw bits in a Uint8Array,
 * i1 as 0/1 bytes, complex numbers as interleaved (real, imaginary) pairs: a c64 tensor of n elements is a
 * Float32Array of 2n numbers (c128: Float64Array), element k at [2k] and [2k + 1], as numpy's complex64 lies in memory.
 */
export interface HostArrayOf {
  f32: Float32Array; bf16: Uint16Array; f16: Uint16Array; f64: Float64Array;
  i32: Int32Array; i64: BigInt64Array; u32: Uint32Array; u8: Uint8Array; i1: Uint8Array;
  i8: Int8Array; i16: Int16Array; u16: Uint16Array; u64: BigUint64Array;
  f8e4m3fn: Uint8Array; f8e5m2: Uint8Array; f8e4m3fnuz: Uint8Array; f8e5m2fnuz: Uint8Array; f8e8m0fnu: Uint8Array;
  c64: Float32Array; c128: Float64Array;
}
export type HostArray = HostArrayOf[DType];

/**
 * Host values for a tensor of dtype `D`: its typed array (used as it is), or flat plain values converted for you
 * (numbers for any dtype, rounded to bf16/f16 bits; booleans too for i1, bigints too for i64; complex: the
 * interleaved (real, imaginary) numbers, two per element).
 */
export type HostData<D extends DType = DType> =
  | HostArrayOf[D]
  | readonly number[]
  | (D extends 'i1' ? readonly boolean[] : never)
  | (D extends 'i64' | 'u64' ? readonly bigint[] : never);

/** The typed array class of a dtype: `new (n)` gives n zeros, `new (buffer, byteOffset, length)` a view. */
export interface HostArrayClass<A> {
  new (length: number): A;
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): A;
}

/** What a dtype is, in every place flip meets it. */
export interface DTypeInfo<D extends DType = DType> {
  readonly kind: 'float' | 'signed' | 'unsigned' | 'bool' | 'complex';
  /** Bits of one value (i1: 1). */
  readonly bits: number;
  /** Bytes per element on the device and on the host (i1 takes one byte, as PJRT's PRED; c64 8, both parts). */
  readonly bytes: number;
  /** Host array entries per element: 2 for complex (real, imaginary), else 1. */
  readonly lanes: 1 | 2;
  /** The host array that holds it. */
  readonly array: HostArrayClass<HostArrayOf[D]>;
  /** That array as error messages name it: `Uint16Array (bfloat16 bits)`. */
  readonly arrayText: string;
  /** MLIR element type spelling (StableHLO spells unsigned `ui32`). */
  readonly mlir: string;
  /** The dtype string of a safetensors header (`F32`, `BF16`, `BOOL`, ...); none for c128 (safetensors has C64 only). */
  readonly safetensors?: string;
  /** Floats: the IEEE format's field widths. */
  readonly float?: { readonly exponentBits: number; readonly mantissaBits: number };
  /** Complex: the float dtype of each part. */
  readonly part?: 'f32' | 'f64';
  /** Integers and i1: the smallest and largest value (numbers where exact, bigints for i64). */
  readonly range?: readonly [min: number | bigint, max: number | bigint];
}

export const DTYPE_INFO: { readonly [D in DType]: DTypeInfo<D> } = {
  f32: { kind: 'float', bits: 32, bytes: 4, lanes: 1, array: Float32Array, arrayText: 'Float32Array', mlir: 'f32', safetensors: 'F32', float: { exponentBits: 8, mantissaBits: 23 } },
  bf16: { kind: 'float', bits: 16, bytes: 2, lanes: 1, array: Uint16Array, arrayText: 'Uint16Array (bfloat16 bits)', mlir: 'bf16', safetensors: 'BF16', float: { exponentBits: 8, mantissaBits: 7 } },
  f16: { kind: 'float', bits: 16, bytes: 2, lanes: 1, array: Uint16Array, arrayText: 'Uint16Array (float16 bits)', mlir: 'f16', safetensors: 'F16', float: { exponentBits: 5, mantissaBits: 10 } },
  f64: { kind: 'float', bits: 64, bytes: 8, lanes: 1, array: Float64Array, arrayText: 'Float64Array', mlir: 'f64', safetensors: 'F64', float: { exponentBits: 11, mantissaBits: 52 } },
  i32: { kind: 'signed', bits: 32, bytes: 4, lanes: 1, array: Int32Array, arrayText: 'Int32Array', mlir: 'i32', safetensors: 'I32', range: [-(2 ** 31), 2 ** 31 - 1] },
  i64: { kind: 'signed', bits: 64, bytes: 8, lanes: 1, array: BigInt64Array, arrayText: 'BigInt64Array', mlir: 'i64', safetensors: 'I64', range: [-(2n ** 63n), 2n ** 63n - 1n] },
  u32: { kind: 'unsigned', bits: 32, bytes: 4, lanes: 1, array: Uint32Array, arrayText: 'Uint32Array', mlir: 'ui32', safetensors: 'U32', range: [0, 2 ** 32 - 1] },
  u8: { kind: 'unsigned', bits: 8, bytes: 1, lanes: 1, array: Uint8Array, arrayText: 'Uint8Array', mlir: 'ui8', safetensors: 'U8', range: [0, 255] },
  i1: { kind: 'bool', bits: 1, bytes: 1, lanes: 1, array: Uint8Array, arrayText: 'Uint8Array (0/1)', mlir: 'i1', safetensors: 'BOOL', range: [0, 1] },
  i8: { kind: 'signed', bits: 8, bytes: 1, lanes: 1, array: Int8Array, arrayText: 'Int8Array', mlir: 'i8', safetensors: 'I8', range: [-128, 127] },
  i16: { kind: 'signed', bits: 16, bytes: 2, lanes: 1, array: Int16Array, arrayText: 'Int16Array', mlir: 'i16', safetensors: 'I16', range: [-32768, 32767] },
  u16: { kind: 'unsigned', bits: 16, bytes: 2, lanes: 1, array: Uint16Array, arrayText: 'Uint16Array', mlir: 'ui16', safetensors: 'U16', range: [0, 65535] },
  u64: { kind: 'unsigned', bits: 64, bytes: 8, lanes: 1, array: BigUint64Array, arrayText: 'BigUint64Array', mlir: 'ui64', safetensors: 'U64', range: [0n, 2n ** 64n - 1n] },
  // 8-bit floats (ml_dtypes float8_e4m3fn, float8_e5m2, ...): raw bits on the host (f8ToF32 reads them).
  // StableHLO's f8E4M3B11FNUZ, f8E4M3 and f8E3M4 have no safetensors name, so flip has no dtype for them.
  f8e4m3fn: { kind: 'float', bits: 8, bytes: 1, lanes: 1, array: Uint8Array, arrayText: 'Uint8Array (float8_e4m3fn bits)', mlir: 'f8E4M3FN', safetensors: 'F8_E4M3', float: { exponentBits: 4, mantissaBits: 3 } },
  f8e5m2: { kind: 'float', bits: 8, bytes: 1, lanes: 1, array: Uint8Array, arrayText: 'Uint8Array (float8_e5m2 bits)', mlir: 'f8E5M2', safetensors: 'F8_E5M2', float: { exponentBits: 5, mantissaBits: 2 } },
  f8e4m3fnuz: { kind: 'float', bits: 8, bytes: 1, lanes: 1, array: Uint8Array, arrayText: 'Uint8Array (float8_e4m3fnuz bits)', mlir: 'f8E4M3FNUZ', safetensors: 'F8_E4M3FNUZ', float: { exponentBits: 4, mantissaBits: 3 } },
  f8e5m2fnuz: { kind: 'float', bits: 8, bytes: 1, lanes: 1, array: Uint8Array, arrayText: 'Uint8Array (float8_e5m2fnuz bits)', mlir: 'f8E5M2FNUZ', safetensors: 'F8_E5M2FNUZ', float: { exponentBits: 5, mantissaBits: 2 } },
  f8e8m0fnu: { kind: 'float', bits: 8, bytes: 1, lanes: 1, array: Uint8Array, arrayText: 'Uint8Array (float8_e8m0fnu bits)', mlir: 'f8E8M0FNU', safetensors: 'F8_E8M0', float: { exponentBits: 8, mantissaBits: 0 } },
  // Complex numbers: interleaved (real, imaginary) floats on the host, two array entries per element.
  c64: { kind: 'complex', bits: 64, bytes: 8, lanes: 2, array: Float32Array, arrayText: 'Float32Array (interleaved real, imaginary)', mlir: 'complex<f32>', safetensors: 'C64', part: 'f32' },
  c128: { kind: 'complex', bits: 128, bytes: 16, lanes: 2, array: Float64Array, arrayText: 'Float64Array (interleaved real, imaginary)', mlir: 'complex<f64>', part: 'f64' },
};

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}
// These answer false for an element type flip does not have (compiler/mlir checks MLIR's types, e.g. ui64, with the
// IR's rules): only own keys of the table count, never Object.prototype's.
const kindOf = (d: DType): DTypeInfo<DType>['kind'] | undefined => (Object.hasOwn(DTYPE_INFO, d) ? DTYPE_INFO[d].kind : undefined);
export function isFloat(d: DType): d is FloatDType {
  return kindOf(d) === 'float';
}
export function isInteger(d: DType): d is IntDType {
  const k = kindOf(d);
  return k === 'signed' || k === 'unsigned';
}
export function isUnsigned(d: DType): boolean {
  return kindOf(d) === 'unsigned';
}
export function isBool(d: DType): d is 'i1' {
  return kindOf(d) === 'bool';
}
export function isComplex(d: DType): d is ComplexDType {
  return kindOf(d) === 'complex';
}

/** The dtype whose MLIR element type is `mlir` (`ui32` → u32), if flip has one. */
export function dtypeOfMlir(mlir: string): DType | undefined {
  return DTYPES.find((d) => DTYPE_INFO[d].mlir === mlir);
}

/** The dtype whose safetensors name is `name` (`BOOL` → i1), if flip has one. */
export function dtypeOfSafetensors(name: string): DType | undefined {
  return DTYPES.find((d) => DTYPE_INFO[d].safetensors === name);
}

// ---------- host arrays ----------

/** `n` zero elements in the host array of `dtype` (complex: 2n numbers). */
export function newHostArray<D extends DType>(dtype: D, n: number): HostArrayOf[D] {
  return new DTYPE_INFO[dtype].array(n * DTYPE_INFO[dtype].lanes);
}

/** The host array of `dtype` viewing all of `buffer` (no copy). */
export function viewHostArray<D extends DType>(dtype: D, buffer: ArrayBuffer): HostArrayOf[D] {
  const info = DTYPE_INFO[dtype];
  return new info.array(buffer, 0, (buffer.byteLength / info.bytes) * info.lanes);
}

/** Elements in a host array of `dtype` (its length, halved for complex). */
export function hostElements(dtype: DType, a: { readonly length: number }): number {
  return a.length / DTYPE_INFO[dtype].lanes;
}

/** True when `a` is an instance of the typed array class that holds `dtype`. */
export function isHostArrayOf(dtype: DType, a: unknown): boolean {
  return a instanceof DTYPE_INFO[dtype].array;
}

/** The host array for `dtype` holding `data`: a typed array as it is, plain values copied and converted. */
export function toHostArray<D extends DType>(dtype: D, data: HostData<D>): HostArrayOf[D] {
  if (ArrayBuffer.isView(data)) return data as HostArrayOf[D];
  const values = data as readonly (number | boolean | bigint)[];
  const out = new DTYPE_INFO[dtype].array(values.length);  // complex: already two numbers an element
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    switch (dtype) {
      case 'bf16': out[i] = f32ToBf16(Number(v)); break;
      case 'f16': out[i] = f32ToF16(Number(v)); break;
      case 'i64': case 'u64': (out as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v))); break;
      case 'f8e4m3fn': case 'f8e5m2': case 'f8e4m3fnuz': case 'f8e5m2fnuz': case 'f8e8m0fnu': out[i] = f32ToF8(Number(v), dtype); break;
      case 'i1': out[i] = v ? 1 : 0; break;
      default: out[i] = Number(v);
    }
  }
  return out;
}

// ---------- 8-bit floats: bits of host values and back ----------

export function isF8(d: DType): d is F8DType {
  return d.startsWith('f8');
}

// [exponent bits, mantissa bits, bias]; fn: finite (no infinity, all-ones NaN), fnuz: finite, no -0, 0x80 the one NaN,
// e8m0fnu: unsigned powers of two, 0xff NaN.
const F8: { readonly [D in F8DType]: readonly [number, number, number] } = {
  f8e4m3fn: [4, 3, 7], f8e5m2: [5, 2, 15], f8e4m3fnuz: [4, 3, 8], f8e5m2fnuz: [5, 2, 16], f8e8m0fnu: [8, 0, 127],
};

/** The value of 8-bit float bits, as ml_dtypes reads them. */
export function f8ToF32(bits: number, dtype: F8DType): number {
  const [eb, mb, bias] = F8[dtype];
  bits &= 0xff;
  if (dtype === 'f8e8m0fnu') return bits === 0xff ? NaN : 2 ** (bits - bias);
  if (dtype.endsWith('fnuz') && bits === 0x80) return NaN;
  if (dtype === 'f8e4m3fn' && (bits & 0x7f) === 0x7f) return NaN;
  const sign = bits & 0x80 ? -1 : 1;
  const exp = (bits >>> mb) & ((1 << eb) - 1);
  const mant = bits & ((1 << mb) - 1);
  if (dtype === 'f8e5m2' && exp === 31) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** (1 - bias - mb);
  return sign * (1 + mant / (1 << mb)) * 2 ** (exp - bias);
}

/** The 8-bit float bits nearest `x` (ties to even), as ml_dtypes converts: from half a step past the largest finite
 * value, infinity where the format has one (f8e5m2), else NaN; no -0 in the fnuz formats; f8e8m0fnu has no sign. */
export function f32ToF8(x: number, dtype: F8DType): number {
  const nan = dtype === 'f8e8m0fnu' ? 0xff : dtype.endsWith('fnuz') ? 0x80 : 0x7f;
  const neg = x < 0 || Object.is(x, -0);
  if (Number.isNaN(x) || (dtype === 'f8e8m0fnu' && x < 0)) return nan;
  const a = Math.abs(x);
  const pos = positives(dtype);
  const [max, below] = [pos[pos.length - 1]!, pos[pos.length - 2]!];
  if (a >= max[1] + (max[1] - below[1]) / 2) return dtype === 'f8e5m2' ? (neg ? 0xfc : 0x7c) : neg && dtype === 'f8e4m3fn' ? 0xff : nan;
  let best = pos[0]!;
  for (const c of pos) {
    const d = Math.abs(c[1] - a) - Math.abs(best[1] - a);
    if (d < 0 || (d === 0 && (c[0] & 1) === 0)) best = c;
  }
  if (!neg || dtype === 'f8e8m0fnu' || (best[0] === 0 && dtype.endsWith('fnuz'))) return best[0];
  return best[0] | 0x80;
}

const POSITIVES = new Map<F8DType, [bits: number, value: number][]>();
/** The format's finite non-negative values with their bits, ascending. */
function positives(dtype: F8DType): [number, number][] {
  let p = POSITIVES.get(dtype);
  if (!p) {
    p = [];
    for (let b = 0; b < (dtype === 'f8e8m0fnu' ? 256 : 128); b++) {
      const v = f8ToF32(b, dtype);
      if (Number.isFinite(v)) p.push([b, v]);
    }
    POSITIVES.set(dtype, p);
  }
  return p;
}

// ---------- bf16 / f16 bits of host values (through f32, as a Float32Array value would be) ----------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits of `x` (round to nearest even; NaN stays NaN). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** IEEE half bits of `x` (round to nearest even, overflow to infinity). */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;  // a carry into the exponent is still right
  return sign | h;
}

export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
