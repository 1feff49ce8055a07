// MLIR text for the leaves of StableHLO: tensor types, string literals, comparison types, and `dense<...>` literals.
import { DTYPE_INFO, f32ToF8, isComplex, isF8, isFloat, isUnsigned, type DType } from '../ir/dtype.ts';
import { FlipError } from '../ir/errors.ts';
import { numElements, type TensorType } from '../ir/types.ts';

/** flip's DSL and emitter have no complex numbers: c64/c128 exist for StableHLO modules from elsewhere, run by `flipc run`. */
export class ComplexError extends FlipError {
  override name = 'ComplexError';
}
function noComplex(dtype: DType, what: string): void {
  if (isComplex(dtype)) {
    throw new ComplexError(`${what}: flip's DSL and StableHLO emitter have no complex numbers (${dtype}); complex64/complex128 are for modules from other frameworks, run by flipc run`);
  }
}

/** `tensor<2x3xf32>`; a scalar is `tensor<f32>`. Complex element types are a ComplexError (see noComplex). */
export function tensorText(t: TensorType): string {
  noComplex(t.dtype, `tensor ${t.dtype}[${t.shape.join(', ')}]`);
  return `tensor<${t.shape.map((d) => `${d}x`).join('')}${DTYPE_INFO[t.dtype].mlir}>`;
}

/** An MLIR string literal: `"` and `\` escaped, anything outside printable ASCII as `\XX` bytes. */
export function mlirString(s: string): string {
  let out = '"';
  for (const byte of new TextEncoder().encode(s)) {
    const ch = String.fromCharCode(byte);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (byte >= 0x20 && byte < 0x7f) out += ch;
    else out += `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out + '"';
}

/** The comparison type `stablehlo.compare` needs: JAX uses UNSIGNED for bools as for unsigned ints. */
export function comparisonType(d: DType): 'FLOAT' | 'SIGNED' | 'UNSIGNED' {
  if (isFloat(d)) return 'FLOAT';
  return isUnsigned(d) || d === 'i1' ? 'UNSIGNED' : 'SIGNED';
}

// ---------- floats: bit patterns of the narrow formats, shortest round-trip decimals ----------

interface FloatFormat { exponentBits: number; mantissaBits: number }
const NARROW: Record<'f16' | 'bf16', FloatFormat> = { f16: DTYPE_INFO.f16.float!, bf16: DTYPE_INFO.bf16.float! };

/** Round a double to the nearest f16/bf16 (ties to even, as MLIR's APFloat does) and return its bits. */
function narrowBits(x: number, f: FloatFormat): number {
  const M = f.mantissaBits;
  const bias = (1 << (f.exponentBits - 1)) - 1;
  const expAll = (1 << f.exponentBits) - 1;
  const sign = x < 0 || Object.is(x, -0) ? 1 << (f.exponentBits + M) : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return (expAll << M) | (1 << (M - 1));
  if (a === 0) return sign;
  if (a === Infinity) return sign | (expAll << M);
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--; // log2 may be off by one next to a power of two
  while (2 ** (e + 1) <= a) e++;
  e = Math.max(e, 1 - bias); // below the normal range the spacing stays that of the smallest exponent (subnormals)
  const m = a * 2 ** (M - e); // exact: only the exponent moves; m < 2^(M+1)
  const fl = Math.floor(m);
  const frac = m - fl;
  const r = frac > 0.5 || (frac === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  // One formula covers subnormals (e = 1 - bias, r < 2^M) and normals, including a rounding carry into the next exponent.
  const bits = (e + bias - 1) * 2 ** M + r;
  return sign | Math.min(bits, expAll << M);
}

function narrowValue(bits: number, f: FloatFormat): number {
  const bias = (1 << (f.exponentBits - 1)) - 1;
  const expAll = (1 << f.exponentBits) - 1;
  const sign = bits >> (f.exponentBits + f.mantissaBits) ? -1 : 1;
  const e = (bits >> f.mantissaBits) & expAll;
  const m = bits & ((1 << f.mantissaBits) - 1);
  if (e === expAll) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** (1 - bias - f.mantissaBits);
  return sign * (2 ** f.mantissaBits + m) * 2 ** (e - bias - f.mantissaBits);
}

/** The value a double becomes once stored as `dtype` (f64: itself; f32: Math.fround; f16/bf16: round to nearest even). */
export function roundToFloat(x: number, dtype: 'f32' | 'f64' | 'f16' | 'bf16'): number {
  if (dtype === 'f64') return x;
  if (dtype === 'f32') return Math.fround(x);
  return narrowValue(narrowBits(x, NARROW[dtype]), NARROW[dtype]);
}

/** The IEEE bit pattern of `x` stored as `dtype`, as a bigint. */
export function floatBits(x: number, dtype: 'f32' | 'f64' | 'f16' | 'bf16'): bigint {
  if (dtype === 'f16' || dtype === 'bf16') return BigInt(narrowBits(x, NARROW[dtype]));
  const view = new DataView(new ArrayBuffer(8));
  if (dtype === 'f32') {
    view.setFloat32(0, x);
    return BigInt(view.getUint32(0));
  }
  view.setFloat64(0, x);
  return view.getBigUint64(0);
}

/** The value of an IEEE bit pattern of `dtype` (inverse of `floatBits`). */
export function floatFromBits(bits: bigint | number, dtype: 'f32' | 'f64' | 'f16' | 'bf16'): number {
  if (dtype === 'f16' || dtype === 'bf16') return narrowValue(Number(bits), NARROW[dtype]);
  const view = new DataView(new ArrayBuffer(8));
  if (dtype === 'f32') {
    view.setUint32(0, Number(bits));
    return view.getFloat32(0);
  }
  view.setBigUint64(0, BigInt(bits));
  return view.getFloat64(0);
}

/** The raw bits of a float as MLIR's hex float literal, e.g. `0xFF800000` (what JAX prints for -inf and NaN). */
export function hexFloat(x: number, dtype: 'f32' | 'f64' | 'f16' | 'bf16'): string {
  return `0x${floatBits(x, dtype).toString(16).toUpperCase().padStart(DTYPE_INFO[dtype].bits / 4, '0')}`;
}

/**
 * A decimal MLIR float literal that parses back to exactly the stored value: `3.500000e+00` (C's %e, as MLIR prints)
 * when six digits suffice, else the shortest exponent form that round-trips (`7.97884583e-01`).
 * MLIR's float literal grammar needs a `.`, so `1e-7` would not lex; infinities and NaN go through `hexFloat`.
 */
export function decimalFloat(x: number, dtype: 'f32' | 'f64' | 'f16' | 'bf16'): string {
  const v = roundToFloat(x, dtype);
  if (!Number.isFinite(v)) return hexFloat(v, dtype);
  if (Object.is(v, -0)) return '-0.000000e+00'; // toExponential drops the sign of -0
  const same = (s: string) => Object.is(roundToFloat(Number(s), dtype), v);
  const cStyle = (digits: number) => {
    const [mant, exp] = v.toExponential(digits).split('e') as [string, string];
    const sign = exp.startsWith('-') ? '-' : '+';
    const mag = exp.replace(/^[-+]/, '').padStart(2, '0');
    return `${mant.includes('.') ? mant : `${mant}.0`}e${sign}${mag}`;
  };
  if (same(cStyle(6))) return cStyle(6);
  for (let digits = 7; digits < 17; digits++) if (same(cStyle(digits))) return cStyle(digits);
  return cStyle(17);
}

// ---------- dense<...> literals ----------

export type ConstantValue = number | bigint | readonly number[] | readonly bigint[];

export class ConstantError extends FlipError {
  override name = 'ConstantError';
}

/**
 * One element as MLIR writes it for `dtype`. Integers out of range are an error, not silently wrapped; 8-bit floats
 * are the nearest value's bits in hex (`0x38`, as ml_dtypes rounds); complex is a ComplexError.
 */
export function elementText(x: number | bigint, dtype: DType): string {
  noComplex(dtype, 'constant');
  if (dtype === 'i1') return x === 0 || x === 0n ? 'false' : 'true';
  if (dtype === 'f32' || dtype === 'f64' || dtype === 'f16' || dtype === 'bf16') return decimalFloat(Number(x), dtype);
  if (isF8(dtype)) return `0x${f32ToF8(Number(x), dtype).toString(16).toUpperCase().padStart(2, '0')}`;
  if (typeof x === 'number' && !Number.isInteger(x)) throw new ConstantError(`constant ${x} is not an integer, but the dtype is ${dtype}`);
  const b = BigInt(x);
  const [lo, hi] = DTYPE_INFO[dtype].range!;
  if (b < lo || b > hi) throw new ConstantError(`constant ${b} does not fit ${dtype} [${lo}, ${hi}]`);
  return b.toString();
}

/** Element bits as the bytes MLIR's hex form wants (little endian, the element type's own width). */
function elementBytes(values: readonly (number | bigint)[], dtype: DType): Uint8Array {
  noComplex(dtype, 'constant');
  const width = DTYPE_INFO[dtype].bytes;
  const out = new DataView(new ArrayBuffer(values.length * width));
  values.forEach((x, i) => {
    const at = i * width;
    switch (dtype) {
      case 'f32': out.setFloat32(at, Number(x), true); break;
      case 'f64': out.setFloat64(at, Number(x), true); break;
      case 'f16': case 'bf16': out.setUint16(at, Number(floatBits(Number(x), dtype)), true); break;
      case 'f8e4m3fn': case 'f8e5m2': case 'f8e4m3fnuz': case 'f8e5m2fnuz': case 'f8e8m0fnu': out.setUint8(at, f32ToF8(Number(x), dtype)); break;
      case 'i32': out.setInt32(at, Number(elementText(x, dtype)), true); break;
      case 'u32': out.setUint32(at, Number(elementText(x, dtype)), true); break;
      case 'i64': out.setBigInt64(at, BigInt(elementText(x, dtype)), true); break;
      case 'u64': out.setBigUint64(at, BigInt(elementText(x, dtype)), true); break;
      case 'i16': out.setInt16(at, Number(elementText(x, dtype)), true); break;
      case 'u16': out.setUint16(at, Number(elementText(x, dtype)), true); break;
      case 'i8': out.setInt8(at, Number(elementText(x, dtype))); break;
      case 'u8': out.setUint8(at, Number(elementText(x, dtype))); break;
      case 'i1': out.setUint8(at, x === 0 || x === 0n ? 0 : 1); break;
      case 'c64': case 'c128': break;  // noComplex refused them
      default: {
        const never: never = dtype;
        throw new ConstantError(`no hex form for ${String(never)}`);
      }
    }
  });
  return new Uint8Array(out.buffer);
}

/** Element identity for the splat test: by bits, so -0.0 and 0.0 differ and all NaNs of one pattern agree. */
function elementKey(x: number | bigint, dtype: DType): string {
  return isFloat(dtype) && !isF8(dtype) ? floatBits(Number(x), dtype as 'f32').toString() : elementText(x, dtype);
}

/** Lists up to this many elements (readable in goldens); hex beyond, which parses faster and stays one line. */
export const LIST_LIMIT = 64;

/**
 * `dense<...>` for a constant of `shape`: a splat when every element has the same bits, nested lists for small arrays,
 * `dense<"0x...">` raw little-endian bytes for large ones (i1 always as lists: its hex layout differs across MLIR versions).
 */
export function denseLiteral(value: ConstantValue, dtype: DType, shape: readonly number[]): string {
  noComplex(dtype, 'constant');
  if (typeof value === 'number' || typeof value === 'bigint') return `dense<${elementText(value, dtype)}>`;
  const n = numElements(shape);
  if (value.length !== n) throw new ConstantError(`${value.length} values for shape [${shape.join(', ')}] (${n} elements)`);
  if (n === 0) return 'dense<>'; // MLIR's spelling for no elements: `[[]]` would mean shape [1, 0]
  const first = elementKey(value[0]!, dtype);
  if (value.every((x) => elementKey(x, dtype) === first)) return `dense<${elementText(value[0]!, dtype)}>`;
  if (n > LIST_LIMIT && dtype !== 'i1') {
    const hex = Array.from(elementBytes(value, dtype), (b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
    return `dense<"0x${hex}">`;
  }
  const texts = value.map((x) => elementText(x, dtype));
  const nest = (dim: number, offset: number): string => {
    if (dim === shape.length) return texts[offset]!;
    const stride = numElements(shape.slice(dim + 1));
    return `[${Array.from({ length: shape[dim]! }, (_, i) => nest(dim + 1, offset + i * stride)).join(', ')}]`;
  };
  return `dense<${nest(0, 0)}>`;
}
