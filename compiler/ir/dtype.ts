// Element types of flip tensors: the names used everywhere (IR, DSL, runtime, checkpoints), and one table of what each
// name means on the host, in MLIR text and in files. Other parts read DTYPE_INFO instead of restating its columns.
export const DTYPES = ['f32', 'bf16', 'f16', 'f64', 'i32', 'i64', 'u32', 'u8', 'i1'] as const;
export type DType = (typeof DTYPES)[number];
export type FloatDType = 'f32' | 'bf16' | 'f16' | 'f64';
export type IntDType = 'i32' | 'i64' | 'u32' | 'u8';

/** Host-side array for each dtype: bf16/f16 travel as raw bits in a Uint16Array, i1 as 0/1 bytes. */
export interface HostArrayOf {
  f32: Float32Array; bf16: Uint16Array; f16: Uint16Array; f64: Float64Array;
  i32: Int32Array; i64: BigInt64Array; u32: Uint32Array; u8: Uint8Array; i1: Uint8Array;
}
export type HostArray = HostArrayOf[DType];

/**
 * Host values for a tensor of dtype `D`: its typed array (used as it is), or flat plain values converted for you
 * (numbers for any dtype, rounded to bf16/f16 bits; booleans too for i1, bigints too for i64).
 */
export type HostData<D extends DType = DType> =
  | HostArrayOf[D]
  | readonly number[]
  | (D extends 'i1' ? readonly boolean[] : never)
  | (D extends 'i64' ? readonly bigint[] : never);

/** The typed array class of a dtype: `new (n)` gives n zeros, `new (buffer, byteOffset, length)` a view. */
export interface HostArrayClass<A> {
  new (length: number): A;
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): A;
}

/** What a dtype is, in every place flip meets it. */
export interface DTypeInfo<D extends DType = DType> {
  readonly kind: 'float' | 'signed' | 'unsigned' | 'bool';
  /** Bits of one value (i1: 1). */
  readonly bits: number;
  /** Bytes per element on the device and on the host (i1 takes one byte, as PJRT's PRED). */
  readonly bytes: number;
  /** The host array that holds it. */
  readonly array: HostArrayClass<HostArrayOf[D]>;
  /** That array as error messages name it: `Uint16Array (bfloat16 bits)`. */
  readonly arrayText: string;
  /** MLIR element type spelling (StableHLO spells unsigned `ui32`). */
  readonly mlir: string;
  /** The dtype string of a safetensors header (`F32`, `BF16`, `BOOL`, ...). */
  readonly safetensors: string;
  /** Floats: the IEEE format's field widths. */
  readonly float?: { readonly exponentBits: number; readonly mantissaBits: number };
  /** Integers and i1: the smallest and largest value (numbers where exact, bigints for i64). */
  readonly range?: readonly [min: number | bigint, max: number | bigint];
}

export const DTYPE_INFO: { readonly [D in DType]: DTypeInfo<D> } = {
  f32: { kind: 'float', bits: 32, bytes: 4, array: Float32Array, arrayText: 'Float32Array', mlir: 'f32', safetensors: 'F32', float: { exponentBits: 8, mantissaBits: 23 } },
  bf16: { kind: 'float', bits: 16, bytes: 2, array: Uint16Array, arrayText: 'Uint16Array (bfloat16 bits)', mlir: 'bf16', safetensors: 'BF16', float: { exponentBits: 8, mantissaBits: 7 } },
  f16: { kind: 'float', bits: 16, bytes: 2, array: Uint16Array, arrayText: 'Uint16Array (float16 bits)', mlir: 'f16', safetensors: 'F16', float: { exponentBits: 5, mantissaBits: 10 } },
  f64: { kind: 'float', bits: 64, bytes: 8, array: Float64Array, arrayText: 'Float64Array', mlir: 'f64', safetensors: 'F64', float: { exponentBits: 11, mantissaBits: 52 } },
  i32: { kind: 'signed', bits: 32, bytes: 4, array: Int32Array, arrayText: 'Int32Array', mlir: 'i32', safetensors: 'I32', range: [-(2 ** 31), 2 ** 31 - 1] },
  i64: { kind: 'signed', bits: 64, bytes: 8, array: BigInt64Array, arrayText: 'BigInt64Array', mlir: 'i64', safetensors: 'I64', range: [-(2n ** 63n), 2n ** 63n - 1n] },
  u32: { kind: 'unsigned', bits: 32, bytes: 4, array: Uint32Array, arrayText: 'Uint32Array', mlir: 'ui32', safetensors: 'U32', range: [0, 2 ** 32 - 1] },
  u8: { kind: 'unsigned', bits: 8, bytes: 1, array: Uint8Array, arrayText: 'Uint8Array', mlir: 'ui8', safetensors: 'U8', range: [0, 255] },
  i1: { kind: 'bool', bits: 1, bytes: 1, array: Uint8Array, arrayText: 'Uint8Array (0/1)', mlir: 'i1', safetensors: 'BOOL', range: [0, 1] },
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

/** The dtype whose MLIR element type is `mlir` (`ui32` → u32), if flip has one. */
export function dtypeOfMlir(mlir: string): DType | undefined {
  return DTYPES.find((d) => DTYPE_INFO[d].mlir === mlir);
}

/** The dtype whose safetensors name is `name` (`BOOL` → i1), if flip has one. */
export function dtypeOfSafetensors(name: string): DType | undefined {
  return DTYPES.find((d) => DTYPE_INFO[d].safetensors === name);
}

// ---------- host arrays ----------

/** `n` zeros in the host array of `dtype`. */
export function newHostArray<D extends DType>(dtype: D, n: number): HostArrayOf[D] {
  return new DTYPE_INFO[dtype].array(n);
}

/** The host array of `dtype` viewing all of `buffer` (no copy). */
export function viewHostArray<D extends DType>(dtype: D, buffer: ArrayBuffer): HostArrayOf[D] {
  return new DTYPE_INFO[dtype].array(buffer, 0, buffer.byteLength / DTYPE_INFO[dtype].bytes);
}

/** True when `a` is an instance of the typed array class that holds `dtype`. */
export function isHostArrayOf(dtype: DType, a: unknown): boolean {
  return a instanceof DTYPE_INFO[dtype].array;
}

/** The host array for `dtype` holding `data`: a typed array as it is, plain values copied and converted. */
export function toHostArray<D extends DType>(dtype: D, data: HostData<D>): HostArrayOf[D] {
  if (ArrayBuffer.isView(data)) return data as HostArrayOf[D];
  const values = data as readonly (number | boolean | bigint)[];
  const out = newHostArray(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    switch (dtype) {
      case 'bf16': out[i] = f32ToBf16(Number(v)); break;
      case 'f16': out[i] = f32ToF16(Number(v)); break;
      case 'i64': (out as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v))); break;
      case 'i1': out[i] = v ? 1 : 0; break;
      default: out[i] = Number(v);
    }
  }
  return out;
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
