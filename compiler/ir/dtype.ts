// Element types of flip tensors: the names used everywhere (IR, DSL, runtime, checkpoints).
export const DTYPES = ['f32', 'bf16', 'f16', 'f64', 'i32', 'i64', 'u32', 'u8', 'i1'] as const;
export type DType = (typeof DTYPES)[number];
export type FloatDType = 'f32' | 'bf16' | 'f16' | 'f64';
export type IntDType = 'i32' | 'i64' | 'u32' | 'u8';

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}
export function isFloat(d: DType): d is FloatDType {
  return d === 'f32' || d === 'bf16' || d === 'f16' || d === 'f64';
}
export function isInteger(d: DType): d is IntDType {
  return d === 'i32' || d === 'i64' || d === 'u32' || d === 'u8';
}
export function isUnsigned(d: DType): boolean {
  return d === 'u32' || d === 'u8';
}
export function isBool(d: DType): d is 'i1' {
  return d === 'i1';
}

/** Bytes per element on the device (i1 is stored as one byte, as PJRT's PRED). */
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, bf16: 2, f16: 2, f64: 8, i32: 4, i64: 8, u32: 4, u8: 1, i1: 1 };

/** MLIR element type spelling (StableHLO uses `ui32` for unsigned). */
export const MLIR_ELEMENT: Record<DType, string> = { f32: 'f32', bf16: 'bf16', f16: 'f16', f64: 'f64', i32: 'i32', i64: 'i64', u32: 'ui32', u8: 'ui8', i1: 'i1' };

/** Host-side array for each dtype: bf16/f16 travel as raw bits in a Uint16Array, i1 as 0/1 bytes. */
export interface HostArrayOf {
  f32: Float32Array; bf16: Uint16Array; f16: Uint16Array; f64: Float64Array;
  i32: Int32Array; i64: BigInt64Array; u32: Uint32Array; u8: Uint8Array; i1: Uint8Array;
}
export type HostArray = HostArrayOf[DType];
