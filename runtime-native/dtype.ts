// Element types of device buffers. The addon takes flip's dtype names as they are ('f32', 'bf16', 'i1', ...; its C++
// side maps each to a PJRT buffer type), and host data travels in the typed arrays of compiler/ir's DTYPE_INFO, so
// everything here comes from there.
export {
  DTYPES, DTYPE_INFO, isDType, isHostArrayOf, newHostArray, toHostArray, viewHostArray, bf16ToF32, f16ToF32, f32ToBf16, f32ToF16,
  type DType, type HostArray, type HostArrayOf, type HostData,
} from '../compiler/ir/dtype.ts';
