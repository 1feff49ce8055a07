import { describe, expect, it } from 'vitest';
import {
  DTYPES, DTYPE_INFO, bf16ToF32, dtypeOfMlir, dtypeOfSafetensors, f16ToF32, hostElements, isBool, isComplex, isFloat, isHostArrayOf, isInteger,
  isUnsigned, newHostArray, toHostArray, viewHostArray,
} from '../../compiler/ir/dtype.ts';

describe('compiler/ir dtype table', () => {
  it('agrees with itself: array element size, bit widths, kinds', () => {
    for (const d of DTYPES) {
      const info = DTYPE_INFO[d];
      const a = newHostArray(d, 3);
      expect(a.BYTES_PER_ELEMENT * info.lanes, d).toBe(info.bytes);
      expect(a.length).toBe(3 * info.lanes);
      expect(hostElements(d, a)).toBe(3);
      expect(info.lanes === 2, d).toBe(isComplex(d));
      if (info.part) expect(DTYPE_INFO[info.part].bytes * 2, d).toBe(info.bytes);
      expect(info.arrayText.startsWith(a.constructor.name), d).toBe(true);
      expect(info.bits <= info.bytes * 8, d).toBe(true);
      // f8e8m0fnu has no sign bit.
      if (info.float) expect((d === 'f8e8m0fnu' ? 0 : 1) + info.float.exponentBits + info.float.mantissaBits, d).toBe(info.bits);
      expect(info.float !== undefined, d).toBe(isFloat(d));
      expect(info.range !== undefined, d).toBe(!isFloat(d) && !isComplex(d));
      expect([isFloat(d), isInteger(d), isBool(d), isComplex(d)].filter(Boolean)).toHaveLength(1);
    }
    expect(DTYPES.filter(isUnsigned)).toEqual(['u32', 'u8', 'u16', 'u64']);
  });

  it('names each dtype once in MLIR and in safetensors, and reads the names back', () => {
    expect(DTYPES.map((d) => DTYPE_INFO[d].mlir)).toEqual([
      'f32', 'bf16', 'f16', 'f64', 'i32', 'i64', 'ui32', 'ui8', 'i1',
      'i8', 'i16', 'ui16', 'ui64', 'f8E4M3FN', 'f8E5M2', 'f8E4M3FNUZ', 'f8E5M2FNUZ', 'f8E8M0FNU',
      'complex<f32>', 'complex<f64>',
    ]);
    expect(DTYPES.map((d) => DTYPE_INFO[d].safetensors)).toEqual([
      'F32', 'BF16', 'F16', 'F64', 'I32', 'I64', 'U32', 'U8', 'BOOL',
      'I8', 'I16', 'U16', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'F8_E8M0',
      'C64', undefined,  // safetensors has no complex128
    ]);
    for (const d of DTYPES) {
      expect(dtypeOfMlir(DTYPE_INFO[d].mlir)).toBe(d);
      const st = DTYPE_INFO[d].safetensors;
      if (st) expect(dtypeOfSafetensors(st)).toBe(d);
    }
    expect(dtypeOfMlir('u32')).toBeUndefined();
    expect(dtypeOfSafetensors('constructor')).toBeUndefined();
  });

  it('turns host data into host arrays', () => {
    const f = new Float32Array([1, 2]);
    expect(toHostArray('f32', f)).toBe(f);
    expect(isHostArrayOf('f32', f)).toBe(true);
    expect(isHostArrayOf('bf16', f)).toBe(false);
    expect(Array.from(toHostArray('bf16', [1.5, -3]), bf16ToF32)).toEqual([1.5, -3]);
    expect(Array.from(toHostArray('f16', [0.5, 1000]), f16ToF32)).toEqual([0.5, 1000]);
    expect(toHostArray('i64', [3n, 2n ** 40n])).toEqual(new BigInt64Array([3n, 2n ** 40n]));
    expect(toHostArray('i1', [true, false, true])).toEqual(new Uint8Array([1, 0, 1]));
    expect(toHostArray('u8', [7, 255])).toEqual(new Uint8Array([7, 255]));
    expect(toHostArray('i64', [3, -2])).toEqual(new BigInt64Array([3n, -2n]));
    const buf = new Float64Array([0.25, 4]).buffer;
    expect(viewHostArray('f64', buf)).toEqual(new Float64Array([0.25, 4]));
    expect(viewHostArray('i32', buf).length).toBe(4);
    // Complex: interleaved (real, imaginary), two numbers an element.
    expect(viewHostArray('c64', buf)).toEqual(new Float32Array(buf));
    expect(viewHostArray('c128', buf)).toEqual(new Float64Array([0.25, 4]));
    expect(toHostArray('c64', [1, -2, 3, 4])).toEqual(new Float32Array([1, -2, 3, 4]));
  });
});
