// safetensors files (checkpoints, `flipc run` inputs and outputs): read, write atomically.
// Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}}
// (plus an optional "__metadata__" string map), then the tensors' raw little-endian bytes.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.ts';
import { FlipError } from '../compiler/ir/errors.ts';
import { DTYPES, DTYPE_INFO, dtypeOfSafetensors, newHostArray, type DType, type HostArrayOf } from '../compiler/ir/dtype.ts';

export class SafetensorsError extends FlipError {
  override name = 'SafetensorsError';
}

/**
 * One tensor: bf16/f16 as raw bits in a Uint16Array, i1 (BOOL) as 0/1 bytes, c64 (C64) as interleaved (real,
 * imaginary) pairs in a Float32Array of twice the element count. c128 has no safetensors dtype: writing one is an error.
 */
export interface TensorData<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: HostArrayOf[D];
}

export type TensorMap = Record<string, TensorData>;

export interface SafetensorsFile {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

/** The largest header we accept (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;

export function parseSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  if (bytes.length < 8) fail(`too short (${bytes.length} bytes) to hold a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) fail(`header length ${n} exceeds the file (${bytes.length} bytes)`);
  const headerEnd = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataLength = bytes.length - headerEnd;
  const tensors: TensorMap = {};
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!entry || typeof entry !== 'object' || Object.values(entry).some((v) => typeof v !== 'string')) fail('__metadata__ must map names to strings');
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') fail(`tensor '${name}': entry is not an object`);
    const dtype = typeof e.dtype === 'string' ? dtypeOfSafetensors(e.dtype) : undefined;
    if (!dtype) fail(`tensor '${name}': unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${DTYPES.flatMap((d) => DTYPE_INFO[d].safetensors ?? []).join(', ')})`);
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`tensor '${name}': shape must be a list of non-negative integers`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((d) => !Number.isSafeInteger(d) || d < 0) || offs[0] > offs[1]) {
      fail(`tensor '${name}': data_offsets must be [begin, end]`);
    }
    const [begin, end] = offs as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_INFO[dtype!].bytes) fail(`tensor '${name}': ${end - begin} bytes for ${dtype} [${(shape as number[]).join(', ')}] (${count * DTYPE_INFO[dtype!].bytes} expected)`);
    if (end > dataLength) fail(`tensor '${name}': data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes)`);
    ranges.push([begin, end, name]);
    // Copy into an aligned buffer of its own: offsets in the file need not be aligned for the element size.
    const data = newHostArray(dtype!, count);
    new Uint8Array(data.buffer).set(bytes.subarray(headerEnd + begin, headerEnd + end));
    tensors[name] = { dtype: dtype!, shape: [...(shape as number[])], data } as TensorData;
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]![0] < ranges[i - 1]![1]) fail(`tensors '${ranges[i - 1]![2]}' and '${ranges[i]![2]}' overlap`);
  }
  return { tensors, metadata };
}

export function readSafetensors(file: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new SafetensorsError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseSafetensors(bytes, file);
}

/** The file's bytes: tensors in name order, header padded with spaces to 8 bytes. */
export function serializeSafetensors(tensors: TensorMap, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const names = Object.keys(tensors).sort();
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    if (!Object.hasOwn(DTYPE_INFO, t.dtype)) throw new SafetensorsError(`tensor '${name}': unsupported dtype '${t.dtype}'`);
    const info = DTYPE_INFO[t.dtype];
    if (!info.safetensors) throw new SafetensorsError(`tensor '${name}': safetensors has no ${t.dtype} (${info.mlir}) dtype; it stores complex numbers as C64 (complex<f32>) only`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count * info.lanes) {
      const want = info.lanes === 2 ? ` (${count} complex elements: ${count * 2} numbers, (real, imaginary) pairs)` : '';
      throw new SafetensorsError(`tensor '${name}': ${t.data.length} ${info.lanes === 2 ? 'numbers' : 'elements'} for shape [${t.shape.join(', ')}]${want}`);
    }
    const n = count * info.bytes;
    header[name] = { dtype: info.safetensors, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const d = tensors[name]!.data;
    const b = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Writes atomically: a temporary file in the same folder, flushed, then renamed over `file`. */
export function writeSafetensors(file: string, tensors: TensorMap, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, serializeSafetensors(tensors, metadata), (reason) => new SafetensorsError(reason));
}
