// Zarr v2 arrays on local files, as TensorStore's zarr driver writes them for t5x: a folder with `.zarray` (JSON:
// zarr_format 2, shape, chunks, dtype, compressor, fill_value, order, filters, dimension_separator) and one file per
// chunk named by its grid indices ("0.1", or "0/1" with dimension_separator "/"; a 0-d array's chunk is "0"). Chunks
// are full-sized (edge chunks padded) and C-ordered, compressed with gzip (TensorStore's and t5x's choice) or zlib,
// or stored raw. Hand-written rather than a zarr package: the subset t5x uses is this small (JSON + gzip from
// node:zlib), npm's zarr readers are async/browser-oriented and know no bfloat16, and nothing else here needs them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { FlipError } from '../compiler/ir/errors.ts';
import { DTYPE_INFO, newHostArray, type DType } from '../compiler/ir/dtype.ts';
import type { TensorData } from './safetensors.ts';

export class ZarrError extends FlipError {
  override name = 'ZarrError';
}

/** zarr v2 dtype strings (numpy typestr; TensorStore writes "bfloat16" by name) ↔ flip dtypes. */
const ZARR_DTYPES: Readonly<Record<string, DType>> = {
  '<f4': 'f32', '<f8': 'f64', '<f2': 'f16', '<i4': 'i32', '<i8': 'i64', '<u4': 'u32', '|u1': 'u8', '|b1': 'i1', bfloat16: 'bf16',
  '>f4': 'f32', '>f8': 'f64', '>f2': 'f16', '>i4': 'i32', '>i8': 'i64', '>u4': 'u32',
};
export const zarrDtype = (d: DType): string => Object.entries(ZARR_DTYPES).find(([, v]) => v === d)![0];

interface ZArray {
  zarr_format: 2;
  shape: number[];
  chunks: number[];
  dtype: string;
  compressor: { id: string; level?: number } | null;
  fill_value: number | string | null;
  order: 'C' | 'F';
  filters: unknown[] | null;
  dimension_separator?: '.' | '/';
}

const isSizes = (x: unknown, positive: boolean): x is number[] =>
  Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= (positive ? 1 : 0));

function readMeta(dir: string): ZArray {
  const file = path.join(dir, '.zarray');
  let m: ZArray;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as ZArray;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ZarrError(`${file}: ${code === 'ENOENT' ? 'missing (not a zarr array)' : code ?? `not JSON (${(e as Error).message})`}`);
  }
  const bad = (what: string): never => {
    throw new ZarrError(`${file}: ${what}`);
  };
  if (!m || typeof m !== 'object') bad('not a JSON object');
  if (m.zarr_format !== 2) bad(`zarr_format ${JSON.stringify(m.zarr_format)} (only zarr v2 is read)`);
  if (!isSizes(m.shape, false)) bad('shape is not a list of sizes');
  if (!isSizes(m.chunks, true) || m.chunks.length !== m.shape.length) bad(`chunks ${JSON.stringify(m.chunks)} do not match shape [${m.shape.join(', ')}]`);
  if (typeof m.dtype !== 'string' || !Object.hasOwn(ZARR_DTYPES, m.dtype)) bad(`dtype ${JSON.stringify(m.dtype)} is not supported (supported: ${Object.keys(ZARR_DTYPES).join(', ')})`);
  if (m.order !== 'C') bad(`order ${JSON.stringify(m.order)} (only C order, as TensorStore writes, is read)`);
  if (m.filters !== null && m.filters !== undefined && !(Array.isArray(m.filters) && m.filters.length === 0)) bad('has filters, which flip does not apply');
  if (m.compressor !== null && !(m.compressor && ['gzip', 'zlib'].includes(m.compressor.id))) bad(`compressor ${JSON.stringify(m.compressor)} is not supported (gzip, zlib or none)`);
  return m;
}

/** The flip dtype of the zarr array in `dir` (its .zarray), without reading chunks. */
export function zarrInfo(dir: string): { dtype: DType; shape: number[] } {
  const m = readMeta(dir);
  return { dtype: ZARR_DTYPES[m.dtype]!, shape: [...m.shape] };
}

/** Reads the whole zarr v2 array in `dir`. A missing chunk is an error unless the array has a fill value. */
export function readZarr(dir: string): TensorData {
  const m = readMeta(dir);
  const dtype = ZARR_DTYPES[m.dtype]!;
  const item = DTYPE_INFO[dtype].bytes;
  const bigEndian = m.dtype.startsWith('>') && item > 1;
  const rank = m.shape.length;
  const total = m.shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(total * item);
  const chunkElems = m.chunks.reduce((a, b) => a * b, 1);
  const grid = m.shape.map((s, i) => Math.ceil(s / m.chunks[i]!));
  const sep = m.dimension_separator ?? '.';
  const fill = fillBytes(m, dtype, dir);
  // Row strides (elements) of the array and of a chunk.
  const strides = (shape: number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const aStr = strides(m.shape), cStr = strides(m.chunks);
  const idx = new Array<number>(rank).fill(0);
  if (total === 0) return { dtype, shape: [...m.shape], data: newHostArray(dtype, 0) } as TensorData;
  for (;;) {
    const key = rank === 0 ? '0' : idx.join(sep);
    const file = path.join(dir, key);
    let chunk: Uint8Array;
    if (!existsSync(file)) {
      if (!fill) throw new ZarrError(`${dir}: chunk '${key}' is missing (the array has no fill value, so every chunk must be there)`);
      chunk = new Uint8Array(chunkElems * item);
      for (let i = 0; i < chunkElems; i++) chunk.set(fill, i * item);
    } else {
      const raw = readFileSync(file);
      try {
        chunk = m.compressor === null ? raw : m.compressor.id === 'gzip' ? gunzipSync(raw) : inflateSync(raw);
      } catch (e) {
        throw new ZarrError(`${file}: cannot decompress the ${m.compressor!.id} chunk (${(e as Error).message})`);
      }
      if (chunk.length !== chunkElems * item) throw new ZarrError(`${file}: ${chunk.length} bytes after decompression, a [${m.chunks.join(', ')}] ${m.dtype} chunk has ${chunkElems * item}`);
    }
    // Copy the chunk's in-bounds rows (the last axis is contiguous in both).
    const origin = idx.map((c, i) => c * m.chunks[i]!);
    const extent = origin.map((o, i) => Math.min(m.chunks[i]!, m.shape[i]! - o));
    const rowLen = rank === 0 ? 1 : extent[rank - 1]!;
    const rows = extent.slice(0, -1).reduce((a, b) => a * b, 1);
    const at = new Array<number>(Math.max(0, rank - 1)).fill(0);
    for (let r = 0; r < rows; r++) {
      let src = 0, dst = 0;
      for (let i = 0; i < rank - 1; i++) {
        src += at[i]! * cStr[i]!;
        dst += (origin[i]! + at[i]!) * aStr[i]!;
      }
      if (rank > 0) dst += origin[rank - 1]!;
      out.set(chunk.subarray(src * item, (src + rowLen) * item), dst * item);
      for (let i = rank - 2; i >= 0; i--) {
        if (++at[i]! < extent[i]!) break;
        at[i] = 0;
      }
    }
    let i = rank - 1;
    for (; i >= 0; i--) {
      if (++idx[i]! < grid[i]!) break;
      idx[i] = 0;
    }
    if (i < 0) break;
  }
  if (bigEndian) for (let o = 0; o < out.length; o += item) out.subarray(o, o + item).reverse();
  const data = newHostArray(dtype, total);
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(out);
  return { dtype, shape: [...m.shape], data } as TensorData;
}

/** One element of the fill value as little-endian bytes, or null when the array has none. */
function fillBytes(m: ZArray, dtype: DType, dir: string): Uint8Array | null {
  if (m.fill_value === null || m.fill_value === undefined) return null;
  const v = typeof m.fill_value === 'string' ? ({ NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity } as Record<string, number>)[m.fill_value] : m.fill_value;
  if (typeof v !== 'number') throw new ZarrError(`${path.join(dir, '.zarray')}: fill_value ${JSON.stringify(m.fill_value)} is not a number`);
  const one = newHostArray(dtype, 1);
  if (dtype === 'bf16') (one as Uint16Array)[0] = new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16;
  else if (dtype === 'f16') throw new ZarrError(`${dir}: a float16 fill value is not supported`);
  else if (dtype === 'i64') (one as BigInt64Array)[0] = BigInt(v);
  else (one as Float32Array)[0] = v;
  return new Uint8Array(one.buffer);
}

/** The chunk shape t5x picks, simplified: the whole array while it is under 64 MiB, else halves of the largest axis. */
export function chooseChunks(shape: readonly number[], itemBytes: number, target = 64 * 1024 * 1024): number[] {
  const c = [...shape].map((d) => Math.max(1, d));
  while (c.reduce((a, b) => a * b, itemBytes) > target) {
    let k = 0;
    for (let i = 1; i < c.length; i++) if (c[i]! > c[k]!) k = i;
    if (c[k] === 1) break;
    c[k] = Math.ceil(c[k]! / 2);
  }
  return c;
}

/** The .zarray TensorStore writes for t5x (gzip level 1, no fill value, C order, "." separator). */
export function zarrMeta(t: { dtype: DType; shape: readonly number[] }, chunks: readonly number[]): ZArray {
  return { chunks: [...chunks], compressor: { id: 'gzip', level: 1 }, dimension_separator: '.', dtype: zarrDtype(t.dtype), fill_value: null, filters: null, order: 'C', shape: [...t.shape], zarr_format: 2 };
}

/**
 * Writes `t` as a zarr v2 array into the new folder `dir` (which must not exist): every chunk, gzip level 1, as
 * TensorStore writes for t5x. Returns the chunk shape.
 */
export function writeZarr(dir: string, t: TensorData, chunks = chooseChunks(t.shape, DTYPE_INFO[t.dtype].bytes)): number[] {
  if (existsSync(dir)) throw new ZarrError(`${dir} already exists`);
  mkdirSync(dir, { recursive: true });
  const item = DTYPE_INFO[t.dtype].bytes;
  const rank = t.shape.length;
  const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  writeFileSync(path.join(dir, '.zarray'), JSON.stringify(zarrMeta(t, chunks)));
  const grid = t.shape.map((s, i) => Math.ceil(s / chunks[i]!));
  if (grid.some((g) => g === 0)) return [...chunks];
  const strides = (shape: readonly number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const aStr = strides(t.shape), cStr = strides(chunks);
  const chunkElems = chunks.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(rank).fill(0);
  for (;;) {
    const chunk = new Uint8Array(chunkElems * item); // edge chunks padded with zeros, as TensorStore does
    const origin = idx.map((c, i) => c * chunks[i]!);
    const extent = origin.map((o, i) => Math.min(chunks[i]!, t.shape[i]! - o));
    const rowLen = rank === 0 ? 1 : extent[rank - 1]!;
    const rows = extent.slice(0, -1).reduce((a, b) => a * b, 1);
    const at = new Array<number>(Math.max(0, rank - 1)).fill(0);
    for (let r = 0; r < rows; r++) {
      let c = 0, a = 0;
      for (let i = 0; i < rank - 1; i++) {
        c += at[i]! * cStr[i]!;
        a += (origin[i]! + at[i]!) * aStr[i]!;
      }
      if (rank > 0) a += origin[rank - 1]!;
      chunk.set(src.subarray(a * item, (a + rowLen) * item), c * item);
      for (let i = rank - 2; i >= 0; i--) {
        if (++at[i]! < extent[i]!) break;
        at[i] = 0;
      }
    }
    writeFileSync(path.join(dir, rank === 0 ? '0' : idx.join('.')), gzipSync(chunk, { level: 1 }));
    let i = rank - 1;
    for (; i >= 0; i--) {
      if (++idx[i]! < grid[i]!) break;
      idx[i] = 0;
    }
    if (i < 0) break;
  }
  return [...chunks];
}
