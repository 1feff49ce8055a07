// Element types of device buffers and the JS typed arrays that hold them on the host.

// One definition of the dtype names and their host arrays, shared with the IR.
import { DTYPES, DTYPE_BYTES, isDType, type DType, type HostArray, type HostArrayOf } from '../compiler/ir/dtype.ts';

export { DTYPES, isDType, type DType, type HostArray, type HostArrayOf };

/** What `toDevice` accepts for a dtype: its typed array, or plain numbers (booleans for i1, bigints for i64) converted for you. */
export type HostData<D extends DType> =
  | HostArrayOf[D]
  | readonly number[]
  | (D extends 'i1' ? readonly boolean[] : never)
  | (D extends 'i64' ? readonly bigint[] : never);

const ARRAY_OF: { [D in DType]: { new (n: number): HostArrayOf[D]; new (b: ArrayBuffer, offset?: number, length?: number): HostArrayOf[D] } } = {
  f32: Float32Array,
  bf16: Uint16Array,
  f16: Uint16Array,
  f64: Float64Array,
  i32: Int32Array,
  i64: BigInt64Array,
  u32: Uint32Array,
  u8: Uint8Array,
  i1: Uint8Array,
};

export const BYTES_PER_ELEMENT: { readonly [D in DType]: number } = DTYPE_BYTES;

/** A typed array of `dtype` viewing `buffer` (a device->host copy). */
export function viewAs<D extends DType>(dtype: D, buffer: ArrayBuffer): HostArrayOf[D] {
  return new ARRAY_OF[dtype](buffer, 0, buffer.byteLength / BYTES_PER_ELEMENT[dtype]);
}

/** True when `a` is the typed array class that holds `dtype`. */
export function isHostArrayOf(dtype: DType, a: unknown): boolean {
  return a instanceof ARRAY_OF[dtype];
}

/** The typed array for `dtype` holding `data` (copied and converted when `data` is a plain array). */
export function toHostArray<D extends DType>(dtype: D, data: HostData<D>): HostArrayOf[D] {
  if (ArrayBuffer.isView(data)) return data as HostArrayOf[D];
  const values = data as readonly (number | boolean | bigint)[];
  const out = new ARRAY_OF[dtype](values.length);
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
