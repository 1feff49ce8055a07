// flax.serialization's msgpack (`to_bytes` / `msgpack_restore`), the file `checkpoint` in a t5x checkpoint: nested
// string-keyed maps whose array leaves are msgpack ext values. Ext code 1 is an ndarray, code 3 a numpy scalar; the
// payload of both is itself msgpack: [shape, numpy dtype name, raw C-order bytes] (little-endian on every host flax
// runs on). Code 2 (a Python complex) has no flip counterpart. Arrays over flax's chunk limit are written as
// {"__msgpack_chunked_array__": true, "shape", "chunks": {"0": flat piece, ...}} and reassembled here.
// Encoding and decoding are @msgpack/msgpack's; this file only adds flax's ext types and numpy's dtype names.
import { decode, encode, ExtensionCodec } from '@msgpack/msgpack';
import { FlipError } from '../compiler/ir/errors.ts';
import { DTYPE_INFO, newHostArray, type DType } from '../compiler/ir/dtype.ts';
import type { TensorData } from './safetensors.ts';

export class MsgpackError extends FlipError {
  override name = 'MsgpackError';
}

/** numpy dtype names (flax's ext payload, TensorStore specs) ↔ flip dtypes. */
export const NUMPY_DTYPES: Readonly<Record<string, DType>> = {
  float32: 'f32', bfloat16: 'bf16', float16: 'f16', float64: 'f64', int32: 'i32', int64: 'i64', uint32: 'u32', uint8: 'u8', bool: 'i1',
};
export const numpyName = (d: DType): string => Object.entries(NUMPY_DTYPES).find(([, v]) => v === d)![0];

/** An array leaf of a flax msgpack tree (a class, so that a param dict can never be mistaken for one). */
export class FlaxArray {
  constructor(
    readonly tensor: TensorData,
    /** Written as a numpy scalar (ext 3) rather than a 0-d ndarray (ext 1). */
    readonly npScalar = false,
  ) {}
}

/** A decoded tree: maps, lists, strings, numbers, booleans, null, bytes and FlaxArray leaves. */
export type FlaxValue = FlaxArray | string | number | bigint | boolean | null | Uint8Array | FlaxValue[] | { [k: string]: FlaxValue };
export type FlaxTree = { [k: string]: FlaxValue };

const EXT_NDARRAY = 1, EXT_COMPLEX = 2, EXT_NPSCALAR = 3;

/** Host tensor from raw little-endian bytes of a numpy dtype; `where` names it in errors. */
export function tensorFromBytes(dtypeName: string, shape: readonly number[], bytes: Uint8Array, where: string): TensorData {
  const dtype = NUMPY_DTYPES[dtypeName];
  if (!dtype || !Object.hasOwn(NUMPY_DTYPES, dtypeName)) {
    throw new MsgpackError(`${where}: dtype '${dtypeName}' is not supported (supported: ${Object.keys(NUMPY_DTYPES).join(', ')})`);
  }
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new MsgpackError(`${where}: shape ${JSON.stringify(shape)} is not a list of sizes`);
  const n = shape.reduce((a, b) => a * b, 1);
  const want = n * DTYPE_INFO[dtype].bytes;
  if (bytes.length !== want) throw new MsgpackError(`${where}: ${bytes.length} bytes for ${dtypeName}[${shape.join(', ')}] (${want} expected)`);
  const data = newHostArray(dtype, n);
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  return { dtype, shape: [...shape], data } as TensorData;
}

const bytesOf = (t: TensorData) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

function codec(source: string): ExtensionCodec {
  const c = new ExtensionCodec();
  const unpackArray = (data: Uint8Array, scalar: boolean): FlaxArray => {
    let tpl: unknown;
    try {
      tpl = decode(data);
    } catch (e) {
      throw new MsgpackError(`${source}: a damaged array value (${(e as Error).message})`);
    }
    if (!Array.isArray(tpl) || tpl.length !== 3 || typeof tpl[1] !== 'string' || !(tpl[2] instanceof Uint8Array)) {
      throw new MsgpackError(`${source}: an array value is not flax's (shape, dtype, bytes)`);
    }
    return new FlaxArray(tensorFromBytes(tpl[1], tpl[0] as number[], tpl[2], `${source}: an array value`), scalar);
  };
  c.register({
    type: EXT_NDARRAY,
    encode: (x) => (x instanceof FlaxArray && !x.npScalar ? encode([x.tensor.shape, numpyName(x.tensor.dtype), bytesOf(x.tensor)]) : null),
    decode: (data) => unpackArray(data, false),
  });
  c.register({
    type: EXT_NPSCALAR,
    encode: (x) => (x instanceof FlaxArray && x.npScalar ? encode([x.tensor.shape, numpyName(x.tensor.dtype), bytesOf(x.tensor)]) : null),
    decode: (data) => unpackArray(data, true),
  });
  c.register({
    type: EXT_COMPLEX,
    encode: () => null,
    decode: () => {
      throw new MsgpackError(`${source}: holds a complex number, which flip has no type for`);
    },
  });
  return c;
}

/** flax's chunked large arrays put back together. */
function unchunk(v: FlaxValue, source: string): FlaxValue {
  if (v === null || typeof v !== 'object' || v instanceof FlaxArray || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map((x) => unchunk(x, source));
  if (v.__msgpack_chunked_array__ === true) {
    const shape = v.shape as number[], chunks = v.chunks as Record<string, FlaxValue>;
    const parts = Object.keys(chunks ?? {}).sort((a, b) => Number(a) - Number(b)).map((k) => chunks[k]);
    if (!parts.length || parts.some((p) => !(p instanceof FlaxArray))) throw new MsgpackError(`${source}: a chunked array without its chunks`);
    const ts = (parts as FlaxArray[]).map((p) => p.tensor);
    const total = ts.reduce((a, t) => a + t.data.byteLength, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const t of ts) {
      all.set(bytesOf(t), at);
      at += t.data.byteLength;
    }
    return new FlaxArray(tensorFromBytes(numpyName(ts[0]!.dtype), shape, all, `${source}: a chunked array`));
  }
  const out: FlaxTree = {};
  for (const [k, x] of Object.entries(v)) out[k] = unchunk(x, source);
  return out;
}

/** `flax.serialization.msgpack_restore`: the tree a `checkpoint` file holds. Damage is a MsgpackError naming `source`. */
export function decodeFlaxMsgpack(bytes: Uint8Array, source: string): FlaxTree {
  let v: unknown;
  try {
    v = decode(bytes, { extensionCodec: codec(source), useBigInt64: false });
  } catch (e) {
    if (e instanceof MsgpackError) throw e;
    const m = (e as Error).message;
    const early = e instanceof RangeError || /insufficient data/i.test(m);
    throw new MsgpackError(`${source}: not a complete msgpack file (${early ? 'it ends early: truncated?' : m})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof FlaxArray) {
    throw new MsgpackError(`${source}: the msgpack value is not a map (flax writes a dict)`);
  }
  return unchunk(v as FlaxTree, source) as FlaxTree;
}

/** `flax.serialization.to_bytes` of a state dict already made of maps, numbers, strings and FlaxArray leaves. */
export function encodeFlaxMsgpack(tree: FlaxTree): Uint8Array {
  return encode(tree, { extensionCodec: codec('msgpack'), ignoreUndefined: true });
}
