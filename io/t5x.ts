// t5x checkpoints (t5x.checkpoints.Checkpointer, the format of the official FLIP code and its released weights):
//
//   <dir>/checkpoint_<step>/checkpoint   flax msgpack (io/msgpack.ts) of {"version": 3, "optimizer": state_dict}
//   <dir>/checkpoint_<step>/<name>/      a zarr v2 array (io/zarr.ts) for each array written by TensorStore
//
// In the msgpack tree an array is either inline (a flax ext value) or the JSON of the TensorStore spec it was written
// with: {"driver": "zarr", "dtype": numpy name, "kvstore": {"driver": "file", "path": name}, "metadata": {...}}, the
// path relative to checkpoint_<step>/ (a checkpoint written to GCS keeps it as the spec's top-level "path", with a
// "gcs" kvstore; both read the same from a downloaded copy). Version 3 (t5x since 2021) stores bfloat16 natively.
// A parent folder means its newest checkpoint_<step> holding a `checkpoint` file (t5x.checkpoints.latest_step).
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { FlipError } from '../compiler/ir/errors.ts';
import { DTYPE_INFO, type DType } from '../compiler/ir/dtype.ts';
import { writeFileAtomic } from './atomic.ts';
import { decodeFlaxMsgpack, encodeFlaxMsgpack, FlaxArray, NUMPY_DTYPES, numpyName, type FlaxTree, type FlaxValue } from './msgpack.ts';
import type { TensorData } from './safetensors.ts';
import { chooseChunks, readZarr, writeZarr, zarrInfo } from './zarr.ts';

export class T5xError extends FlipError {
  override name = 'T5xError';
}

/** The msgpack layout version t5x writes (and the only one read here). */
export const T5X_VERSION = 3;

const STEP_DIR = /^checkpoint_(\d+)$/;
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** t5x checkpoints in `dir` (checkpoint_<step>/checkpoint), oldest first. */
export function listT5xCheckpoints(dir: string): { step: number; dir: string }[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .map((f) => STEP_DIR.exec(f))
    .filter((m): m is RegExpExecArray => m !== null && isFile(path.join(dir, m[0], 'checkpoint')))
    .map((m) => ({ step: Number(m[1]), dir: path.join(dir, m[0]) }))
    .sort((a, b) => a.step - b.step);
}

/** Whether `where` is a t5x checkpoint (a folder with a `checkpoint` file, that file, or a parent of checkpoint_<step>/). */
export function isT5xCheckpoint(where: string): boolean {
  if (!existsSync(where)) return false;
  if (isFile(where)) return path.basename(where) === 'checkpoint';
  return isFile(path.join(where, 'checkpoint')) || listT5xCheckpoints(where).length > 0;
}

/** The checkpoint_<step> folder that `where` names (the newest one in a parent folder). */
export function findT5xCheckpoint(where: string): string {
  if (!existsSync(where)) throw new T5xError(`no t5x checkpoint at ${where}: the path does not exist`);
  if (isFile(where)) return path.dirname(path.resolve(where));
  if (isFile(path.join(where, 'checkpoint'))) return path.resolve(where);
  const all = listT5xCheckpoints(where);
  if (!all.length) throw new T5xError(`no t5x checkpoint in ${where} (looked for checkpoint_<step>/checkpoint)`);
  return path.resolve(all[all.length - 1]!.dir);
}

/** A leaf written by TensorStore: its spec, resolved against the checkpoint folder; `read()` loads it. */
export class ZarrLeaf {
  constructor(
    /** The array's folder. */
    readonly dir: string,
    readonly dtype: DType,
    readonly shape: number[],
    /** Where it is named in the msgpack tree ('/'-joined). */
    readonly name: string,
  ) {}
  read(): TensorData {
    const info = zarrInfo(this.dir);
    if (info.dtype !== this.dtype) throw new T5xError(`${this.dir}: its .zarray says ${numpyName(info.dtype)} but the checkpoint's spec for '${this.name}' says ${numpyName(this.dtype)}`);
    if (this.shape.length && info.shape.join() !== this.shape.join()) throw new T5xError(`${this.dir}: its .zarray shape [${info.shape.join(', ')}] is not the spec's [${this.shape.join(', ')}] for '${this.name}'`);
    return readZarr(this.dir);
  }
}

export type T5xLeaf = FlaxArray | ZarrLeaf;
export type T5xValue = T5xLeaf | string | number | bigint | boolean | null | Uint8Array | T5xValue[] | { [k: string]: T5xValue };
export type T5xTree = { [k: string]: T5xValue };

export interface T5xCheckpoint {
  /** The checkpoint_<step> folder. */
  dir: string;
  /** The step in its folder name (null when the folder is not named checkpoint_<step>). */
  dirStep: number | null;
  /** optimizer.state.step, the updates done, when it is an integer scalar (what t5x restores and goes on from). */
  stateStep: number | null;
  version: number;
  /** The optimizer state dict: {target: params, state: {step, param_states}}; arrays inline or as ZarrLeaf. */
  optimizer: T5xTree;
}

const isSpec = (v: FlaxValue): v is FlaxTree =>
  !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof FlaxArray) && !(v instanceof Uint8Array) && typeof (v as FlaxTree).driver === 'string';

function resolveSpec(ckDir: string, name: string, spec: FlaxTree): ZarrLeaf {
  const bad = (what: string): never => {
    throw new T5xError(`${path.join(ckDir, 'checkpoint')}: '${name}': ${what}`);
  };
  if (spec.driver !== 'zarr') bad(`a TensorStore spec with driver ${JSON.stringify(spec.driver)} (t5x writes zarr)`);
  const kv = spec.kvstore as FlaxTree | undefined;
  const rel = (kv && typeof kv === 'object' && typeof kv.path === 'string' ? kv.path : spec.path) as unknown;
  if (typeof rel !== 'string' || !rel) bad('its TensorStore spec has no path');
  const clean = (rel as string).replace(/\/+$/, '');
  if (path.isAbsolute(clean) || clean.split(/[\\/]/).includes('..')) bad(`its path '${rel as string}' is not inside the checkpoint folder`);
  const dtypeName = spec.dtype as unknown;
  if (typeof dtypeName !== 'string' || !Object.hasOwn(NUMPY_DTYPES, dtypeName)) bad(`dtype ${JSON.stringify(dtypeName)} is not supported (supported: ${Object.keys(NUMPY_DTYPES).join(', ')})`);
  const md = spec.metadata as FlaxTree | undefined;
  const shape = md && Array.isArray(md.shape) ? (md.shape as number[]) : [];
  return new ZarrLeaf(path.join(ckDir, clean), NUMPY_DTYPES[dtypeName as string]!, [...shape], name);
}

function resolveTree(ckDir: string, v: FlaxValue, at: string[]): T5xValue {
  if (isSpec(v)) return resolveSpec(ckDir, at.join('/'), v);
  if (v === null || typeof v !== 'object' || v instanceof FlaxArray || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map((x, i) => resolveTree(ckDir, x, [...at, String(i)]));
  const out: T5xTree = {};
  for (const [k, x] of Object.entries(v as FlaxTree)) out[k] = resolveTree(ckDir, x, [...at, k]);
  return out;
}

/** Reads a t5x checkpoint's msgpack file; zarr arrays are read later, by the caller, through their ZarrLeaf. */
export function readT5xCheckpoint(where: string): T5xCheckpoint {
  const dir = findT5xCheckpoint(where);
  const file = path.join(dir, 'checkpoint');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new T5xError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (Buffer.from(bytes.subarray(0, 21)).toString('latin1') === 'model_checkpoint_path') {
    throw new T5xError(`${file} is a TensorFlow checkpoint index, not a t5x (msgpack) checkpoint`);
  }
  const tree = decodeFlaxMsgpack(bytes, file);
  const version = typeof tree.version === 'number' ? tree.version : 0;
  if (version !== T5X_VERSION) throw new T5xError(`${file}: t5x checkpoint version ${JSON.stringify(tree.version ?? null)}; flip reads version ${T5X_VERSION} (t5x's since 2021)`);
  const opt = tree.optimizer;
  if (!opt || typeof opt !== 'object' || Array.isArray(opt) || opt instanceof FlaxArray || opt instanceof Uint8Array) {
    throw new T5xError(`${file}: no "optimizer" state dict in it`);
  }
  const m = STEP_DIR.exec(path.basename(dir));
  const state = (opt as FlaxTree).state;
  const step = state && typeof state === 'object' && !Array.isArray(state) && !(state instanceof FlaxArray) && !(state instanceof Uint8Array) ? (state as FlaxTree).step : undefined;
  return { dir, dirStep: m ? Number(m[1]) : null, stateStep: integerScalar(step), version, optimizer: resolveTree(dir, opt as FlaxTree, []) as T5xTree };
}

/** An inline integer scalar (a number, or a one-element int32/uint32/int64 array), else null. */
function integerScalar(v: FlaxValue | undefined): number | null {
  if (typeof v === 'number') return Number.isInteger(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  const t = v instanceof FlaxArray ? v.tensor : null;
  if (t && t.data.length === 1 && (t.dtype === 'i32' || t.dtype === 'u32' || t.dtype === 'i64')) return Number(t.data[0]);
  return null;
}

/** A leaf's tensor, inline or from its zarr array. */
export function readLeaf(v: T5xValue): TensorData | null {
  if (v instanceof FlaxArray) return v.tensor;
  if (v instanceof ZarrLeaf) return v.read();
  return null;
}

/** A tree to write: maps down to tensors (rank >= 1: a zarr array; rank 0: inline, as t5x keeps unpartitioned scalars). */
export type T5xOut = TensorData | { [k: string]: T5xOut };

const isTensor = (v: T5xOut): v is TensorData => typeof (v as TensorData).dtype === 'string' && ArrayBuffer.isView((v as TensorData).data);

/**
 * Writes `optimizer` as t5x's Checkpointer does into `<parent>/checkpoint_<step>/`: arrays into a temporary folder
 * beside it, the msgpack file last, then one rename. Refuses a checkpoint folder that exists. Returns its path.
 */
export function writeT5xCheckpoint(parent: string, step: number, optimizer: { [k: string]: T5xOut }): string {
  const final = path.join(parent, `checkpoint_${step}`);
  if (existsSync(final)) throw new T5xError(`${final} already exists; flip does not overwrite a checkpoint`);
  mkdirSync(parent, { recursive: true });
  const tmp = `${final}.tmp-${Math.floor(Date.now() / 1000)}-${process.pid}`;
  try {
    mkdirSync(tmp);
    const walk = (v: T5xOut, at: string[]): FlaxValue => {
      if (isTensor(v)) {
        if (v.shape.length === 0) return new FlaxArray(v);
        const name = at.join('.');
        const chunks = writeZarr(path.join(tmp, name), v, chooseChunks(v.shape, DTYPE_INFO[v.dtype].bytes));
        // TensorStore's Spec.to_json() of the spec t5x builds (_get_spec), paths relative to the checkpoint folder.
        return {
          driver: 'zarr', dtype: numpyName(v.dtype), kvstore: { driver: 'file', path: `${name}/` },
          metadata: { chunks, compressor: { id: 'gzip', level: 1 }, shape: [...v.shape] },
        };
      }
      const out: FlaxTree = {};
      for (const [k, x] of Object.entries(v)) {
        if (k.includes('.') || k.includes('/')) throw new T5xError(`cannot write '${[...at, k].join('/')}': a name with '.' or '/' would not map back`);
        out[k] = walk(x, [...at, k]);
      }
      return out;
    };
    const tree = walk(optimizer, []) as FlaxTree;
    writeFileAtomic(path.join(tmp, 'checkpoint'), encodeFlaxMsgpack({ version: T5X_VERSION, optimizer: tree }), (r) => new T5xError(r));
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof FlipError) throw e;
    throw new T5xError(`cannot write ${final}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return final;
}
