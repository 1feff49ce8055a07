// Checkpoints of a multi-process run: every process writes the blocks of the state it holds into its own safetensors
// file, process 0 writes one index after all have, and a restore reads any block of any array from the index, so a
// run can continue with another process count or mesh.
//
//   <dir>/checkpoint_<step, 8 digits>/
//     process_<i>-of-<N>.safetensors   process i's pieces; tensor `<array>@<start,start,...>`; __metadata__ holds the
//                                      process's own data (e.g. its data position) as `flip.process`
//     index.json                       {format, step, processCount, mesh, arrays: {name: {dtype, shape, pieces:
//                                      [{file, tensor, start, shape, byteOffset, byteLength}]}}, processes: [...]}
//
// Which process writes a block: a block several positions hold (an array replicated over some mesh axes) is written
// once, by the process holding its first replica (compiler/passes' replicaIndex 0, t5x's replica_id 0), so the
// pieces of an array never overlap and cover it exactly; the index writer checks both. Every file is written
// atomically (io/atomic.ts) and index.json last, after a barrier: a checkpoint folder without an index (a run killed
// while saving) is never taken as the latest. The folder must be one all processes see (a shared file system):
// process 0 reads every piece file's header to write the index, and a missing one is a one-line error naming it.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import { DTYPE_INFO, dtypeOfSafetensors, newHostArray, type DType } from '../../compiler/ir/dtype.ts';
import { localShape, replicaIndex, shardOrigin, showMesh, type Mesh, type PartitionSpec } from '../../compiler/passes/index.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { writeSafetensors, type TensorData, type TensorMap } from '../../io/safetensors.ts';
import type { ProcessGroup } from './group.ts';

export class ProcessCheckpointError extends FlipError {
  override name = 'ProcessCheckpointError';
}

export const INDEX_FORMAT = 'flip-process-checkpoint-1';
export const INDEX_FILE = 'index.json';

/** An array of the state: its name (dotted pytree path), dtype, global shape and split over the mesh. */
export interface ArrayLayout {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** Per dimension, the mesh axes it is split over (compiler/passes' PartitionSpec); [] everywhere: replicated. */
  spec: PartitionSpec;
}

/** A block of an array: indices [start[d], start[d] + shape[d]) in each dimension. */
export interface Box {
  start: number[];
  shape: number[];
}

export interface HeldBox extends Box {
  /** The mesh positions of this process that hold the block. */
  positions: number[];
  /** Whether this process writes it (it holds the block's first replica). */
  writes: boolean;
  /** When it writes: the position holding the first replica, whose buffer to download. */
  replica0?: number;
}

/** Per array name, the distinct blocks one process holds. */
export type ProcessHolding = Record<string, HeldBox[]>;

/** The mesh positions of process i: a contiguous block of size / processCount positions (row-major). */
export function processPositions(m: Mesh, processCount: number, processIndex: number): number[] {
  if (!Number.isInteger(processCount) || processCount < 1 || m.size % processCount) {
    throw new ProcessCheckpointError(`mesh ${showMesh(m)} (${m.size} devices) does not split evenly across ${processCount} processes`);
  }
  if (!Number.isInteger(processIndex) || processIndex < 0 || processIndex >= processCount) throw new ProcessCheckpointError(`process index ${processIndex} is not in [0, ${processCount})`);
  const per = m.size / processCount;
  return Array.from({ length: per }, (_, k) => processIndex * per + k);
}

/** The blocks process `processIndex` of `processCount` holds on mesh `m`, and which of them it writes. */
export function processHolding(m: Mesh, processCount: number, processIndex: number, arrays: readonly ArrayLayout[]): ProcessHolding {
  const mine = processPositions(m, processCount, processIndex);
  const out: ProcessHolding = {};
  for (const a of arrays) {
    // Axes this mesh lacks split nothing (a state saved on data=4,model=2 restores on data=3).
    const spec = a.spec.map((axes) => axes.filter((x) => m.axes.includes(x)));
    if (spec.length !== a.shape.length) throw new ProcessCheckpointError(`${a.name}: spec of ${spec.length} dimension(s) for shape [${a.shape.join(', ')}]`);
    let local: number[];
    try {
      local = localShape(spec, m, a.shape);
    } catch (e) {
      throw new ProcessCheckpointError(`${a.name} [${a.shape.join(', ')}] on mesh ${showMesh(m)}: ${(e as Error).message}`);
    }
    const byStart = new Map<string, HeldBox>();
    for (const p of mine) {
      const start = shardOrigin(spec, m, a.shape, p);
      const key = start.join(',');
      let box = byStart.get(key);
      if (!box) byStart.set(key, (box = { start, shape: [...local], positions: [], writes: false }));
      box.positions.push(p);
      if (replicaIndex(spec, m, p) === 0) {
        box.writes = true;
        box.replica0 = p;
      }
    }
    out[a.name] = [...byStart.values()];
  }
  return out;
}

export const checkpointFolder = (dir: string, step: number) => path.join(dir, `checkpoint_${String(step).padStart(8, '0')}`);
export const pieceFile = (processIndex: number, processCount: number) => `process_${processIndex}-of-${processCount}.safetensors`;
const tensorName = (array: string, start: readonly number[]) => `${array}@${start.join(',')}`;
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** One block a process writes: the array, where the block starts, and its data (shape = the block's shape). */
export interface Piece {
  name: string;
  start: readonly number[];
  data: TensorData;
}

/**
 * Process `processIndex`'s part of checkpoint `step`: its pieces into checkpoint_<step>/process_<i>-of-<N>.safetensors
 * (atomically), with `processMeta` (a string; e.g. JSON of its data position) in the file's metadata. Returns the
 * file's path. Run by every process; the index comes after a barrier ({@link writeCheckpointIndex}).
 */
export function writeProcessPieces(dir: string, step: number, processIndex: number, processCount: number, pieces: readonly Piece[], processMeta = ''): string {
  const folder = checkpointFolder(dir, step);
  mkdirSync(folder, { recursive: true });
  const tensors: TensorMap = {};
  for (const p of pieces) {
    const t = tensorName(p.name, p.start);
    if (t in tensors) throw new ProcessCheckpointError(`process ${processIndex}: block ${t} given twice`);
    tensors[t] = p.data;
  }
  const file = path.join(folder, pieceFile(processIndex, processCount));
  writeSafetensors(file, tensors, { format: INDEX_FORMAT, process: String(processIndex), processCount: String(processCount), step: String(step), 'flip.process': processMeta });
  return file;
}

export interface IndexPiece {
  file: string;
  tensor: string;
  start: number[];
  shape: number[];
  /** Where the block's bytes are in `file` (from the file's start), row-major. */
  byteOffset: number;
  byteLength: number;
}

export interface CheckpointIndex {
  format: typeof INDEX_FORMAT;
  step: number;
  processCount: number;
  /** The mesh it was written from (`data=4,model=2`), for messages; a restore may use any other. */
  mesh: string;
  saved: string;
  arrays: Record<string, { dtype: DType; shape: number[]; pieces: IndexPiece[] }>;
  /** Per process: its file and the metadata it wrote (`flip.process`). */
  processes: { file: string; meta: string }[];
  /** Anything the trainer keeps once for the run (step, samples, config), as given to writeCheckpointIndex. */
  run: unknown;
}

export interface HeaderEntry {
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** A safetensors file's header without reading its data: tensors with absolute byte offsets, and the metadata. */
function readHeader(file: string, why: string): { entries: Map<string, HeaderEntry>; metadata: Record<string, string> } {
  if (!existsSync(file)) throw new ProcessCheckpointError(`${file}: missing (${why})`);
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    const head = Buffer.alloc(8);
    if (size < 8 || readSync(fd, head, 0, 8, 0) !== 8) throw new ProcessCheckpointError(`${file}: too short (${size} bytes) for a safetensors header`);
    const n = Number(head.readBigUInt64LE(0));
    if (n > size - 8) throw new ProcessCheckpointError(`${file}: header length ${n} exceeds the file (${size} bytes)`);
    const json = Buffer.alloc(n);
    readSync(fd, json, 0, n, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ProcessCheckpointError(`${file}: header is not valid JSON (${(e as Error).message})`);
    }
    const entries = new Map<string, HeaderEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = v as Record<string, string>;
        continue;
      }
      const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
      const dtype = dtypeOfSafetensors(e.dtype);
      if (!dtype) throw new ProcessCheckpointError(`${file}: tensor '${name}' has unsupported dtype ${e.dtype}`);
      const begin = 8 + n + e.data_offsets[0];
      const end = 8 + n + e.data_offsets[1];
      if (end > size) throw new ProcessCheckpointError(`${file}: tensor '${name}' runs past the end of the file (truncated?)`);
      entries.set(name, { dtype, shape: e.shape, begin, end });
    }
    return { entries, metadata };
  } finally {
    closeSync(fd);
  }
}

function overlap(a: Box, b: Box): Box | null {
  const start: number[] = [];
  const shape: number[] = [];
  for (let d = 0; d < a.start.length; d++) {
    const lo = Math.max(a.start[d]!, b.start[d]!);
    const hi = Math.min(a.start[d]! + a.shape[d]!, b.start[d]! + b.shape[d]!);
    if (hi <= lo) return null;
    start.push(lo);
    shape.push(hi - lo);
  }
  return { start, shape };
}

/**
 * Process 0, after every process wrote its pieces: reads each piece file's header, checks that the pieces of every
 * array in `arrays` cover it exactly once, and writes checkpoint_<step>/index.json atomically (the checkpoint is
 * complete from then on). `run` is kept in the index as given (step, samples, config). Returns the index's path.
 */
export function writeCheckpointIndex(dir: string, step: number, processCount: number, m: Mesh, arrays: readonly Pick<ArrayLayout, 'name' | 'dtype' | 'shape'>[], run: unknown = null): string {
  const folder = checkpointFolder(dir, step);
  const index: CheckpointIndex = { format: INDEX_FORMAT, step, processCount, mesh: showMesh(m), saved: new Date().toISOString(), arrays: {}, processes: [], run };
  for (const a of arrays) index.arrays[a.name] = { dtype: a.dtype, shape: [...a.shape], pieces: [] };
  for (let i = 0; i < processCount; i++) {
    const name = pieceFile(i, processCount);
    const file = path.join(folder, name);
    const { entries, metadata } = readHeader(file, `process ${i} of ${processCount} wrote no pieces there; a multi-process checkpoint needs a folder all processes share`);
    index.processes.push({ file: name, meta: metadata['flip.process'] ?? '' });
    for (const [tensor, e] of entries) {
      const at = tensor.lastIndexOf('@');
      const array = tensor.slice(0, at);
      const a = index.arrays[array];
      if (at < 0 || !a) throw new ProcessCheckpointError(`${file}: tensor '${tensor}' is no block of an array of this state`);
      const start = tensor.slice(at + 1) === '' ? [] : tensor.slice(at + 1).split(',').map(Number);
      if (e.dtype !== a.dtype || start.length !== a.shape.length || e.shape.length !== a.shape.length ||
        start.some((s, d) => !(Number.isInteger(s) && s >= 0 && s + e.shape[d]! <= a.shape[d]!))) {
        throw new ProcessCheckpointError(`${file}: block '${tensor}' (${e.dtype} [${e.shape.join(', ')}]) does not fit ${array} (${a.dtype} [${a.shape.join(', ')}])`);
      }
      a.pieces.push({ file: name, tensor, start, shape: e.shape, byteOffset: e.begin, byteLength: e.end - e.begin });
    }
  }
  for (const [name, a] of Object.entries(index.arrays)) {
    const covered = a.pieces.reduce((s, p) => s + count(p.shape), 0);
    for (let i = 0; i < a.pieces.length; i++) {
      for (let j = i + 1; j < a.pieces.length; j++) {
        if (overlap(a.pieces[i]!, a.pieces[j]!)) throw new ProcessCheckpointError(`${folder}: blocks ${a.pieces[i]!.tensor} (${a.pieces[i]!.file}) and ${a.pieces[j]!.tensor} (${a.pieces[j]!.file}) overlap`);
      }
    }
    if (covered !== count(a.shape)) {
      throw new ProcessCheckpointError(`${folder}: the pieces of ${name} cover ${covered} of its ${count(a.shape)} elements (no process wrote the rest)`);
    }
  }
  const file = path.join(folder, INDEX_FILE);
  writeFileAtomic(file, JSON.stringify(index, null, 1) + '\n', (reason) => new ProcessCheckpointError(reason));
  return file;
}

export interface SaveOptions {
  dir: string;
  step: number;
  mesh: Mesh;
  arrays: readonly ArrayLayout[];
  /** This process's blocks: those its {@link processHolding} marks `writes`, with their data. */
  pieces: readonly Piece[];
  /** This process's own string (e.g. JSON of its data position). */
  processMeta?: string;
  /** Kept once in the index (step, samples, config); process 0's value counts. */
  run?: unknown;
  /** How long a process waits for the others at each barrier. Default 10 minutes. */
  timeoutMs?: number;
}

/**
 * The whole save, run by every process of `group`: pieces, barrier, index by process 0, barrier (so nobody moves on,
 * or prunes, before the checkpoint is complete). A step whose checkpoint is already complete is not written again.
 * Returns the index's path.
 */
export async function saveProcessCheckpoint(group: ProcessGroup, o: SaveOptions): Promise<string> {
  const index = path.join(checkpointFolder(o.dir, o.step), INDEX_FILE);
  const timeout = o.timeoutMs ?? 600_000;
  // Everyone decides from the same state: the index can only appear after the first barrier below.
  const done = readIndexOrNull(index) !== null;
  if (!done) writeProcessPieces(o.dir, o.step, group.processIndex, group.processCount, o.pieces, o.processMeta);
  await group.barrier(`checkpoint_${o.step}/pieces`, timeout);
  if (!done && group.processIndex === 0) writeCheckpointIndex(o.dir, o.step, group.processCount, o.mesh, o.arrays, o.run ?? null);
  await group.barrier(`checkpoint_${o.step}/index`, timeout);
  return index;
}

function readIndexOrNull(file: string): CheckpointIndex | null {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as CheckpointIndex;
    return j && j.format === INDEX_FORMAT ? j : null;
  } catch {
    return null;
  }
}

/** A checkpoint's index: `where` is its folder or its index.json. */
export function readCheckpointIndex(where: string): { folder: string; index: CheckpointIndex } {
  const file = where.endsWith('.json') ? where : path.join(where, INDEX_FILE);
  const folder = path.dirname(file);
  if (!existsSync(file)) throw new ProcessCheckpointError(`${file}: missing (the checkpoint in ${folder} is incomplete: a run stopped while saving it)`);
  let j: CheckpointIndex;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as CheckpointIndex;
  } catch (e) {
    throw new ProcessCheckpointError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!j || j.format !== INDEX_FORMAT) throw new ProcessCheckpointError(`${file}: not a ${INDEX_FORMAT} index (format ${JSON.stringify(j?.format)})`);
  return { folder, index: j };
}

const FOLDER = /^checkpoint_(\d+)$/;

/** The complete multi-process checkpoints in `dir` (folders with a readable index), oldest first; partial ones are left out. */
export function listProcessCheckpoints(dir: string): { step: number; folder: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => ({ m: FOLDER.exec(e.name), folder: path.join(dir, e.name) }))
    .filter((x): x is { m: RegExpExecArray; folder: string } => x.m !== null && readIndexOrNull(path.join(x.folder, INDEX_FILE)) !== null)
    .map((x) => ({ step: Number(x.m[1]), folder: x.folder }))
    .sort((a, b) => a.step - b.step);
}

/** The checkpoint folder `where` names: a checkpoint_<step>/ folder, or the newest complete one in a workdir or its checkpoints/. */
export function findProcessCheckpoint(where: string): string | null {
  if (existsSync(path.join(where, INDEX_FILE))) return where;
  const found = [...listProcessCheckpoints(path.join(where, 'checkpoints')), ...listProcessCheckpoints(where)].sort((a, b) => a.step - b.step);
  return found.at(-1)?.folder ?? null;
}

/** The newest complete checkpoint in `dir`, or null. */
export function latestProcessCheckpoint(dir: string): { step: number; folder: string } | null {
  return listProcessCheckpoints(dir).at(-1) ?? null;
}

/** Process 0, after a save: removes complete checkpoints older than the newest `keep` (partial ones are left). */
export function pruneProcessCheckpoints(dir: string, keep: number): string[] {
  const all = listProcessCheckpoints(dir);
  const old = all.slice(0, Math.max(0, all.length - Math.max(1, keep)));
  for (const c of old) {
    rmSync(path.join(c.folder, INDEX_FILE), { force: true }); // first: a folder half removed is then a partial one
    rmSync(c.folder, { recursive: true, force: true });
  }
  return old.map((c) => c.folder);
}

/** Copies the `region` of `src` (a block at srcBox) into `dst` (a block at dstBox); row-major, `bytes` per element. */
function copyRegion(src: Uint8Array, srcBox: Box, dst: Uint8Array, dstBox: Box, region: Box, bytes: number): void {
  const rank = region.shape.length;
  if (rank === 0) {
    dst.set(src.subarray(0, bytes), 0);
    return;
  }
  const strides = (shape: number[]) => {
    const s = new Array<number>(shape.length).fill(1);
    for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1]! * shape[d + 1]!;
    return s;
  };
  const ss = strides(srcBox.shape);
  const ds = strides(dstBox.shape);
  const run = region.shape[rank - 1]! * bytes;
  const idx = new Array<number>(rank - 1).fill(0);
  const rows = region.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  for (let r = 0; r < rows; r++) {
    let so = 0;
    let dof = 0;
    for (let d = 0; d < rank; d++) {
      const g = region.start[d]! + (d < rank - 1 ? idx[d]! : 0);
      so += (g - srcBox.start[d]!) * ss[d]!;
      dof += (g - dstBox.start[d]!) * ds[d]!;
    }
    dst.set(src.subarray(so * bytes, so * bytes + run), dof * bytes);
    for (let d = rank - 2; d >= 0; d--) {
      if (++idx[d]! < region.shape[d]!) break;
      idx[d] = 0;
    }
  }
}

/** Reads block `box` of array `name` from the checkpoint in `folder`, assembled from whichever pieces overlap it. */
export function readBlock(folder: string, index: CheckpointIndex, name: string, box: Box, headers = new Map<string, Map<string, HeaderEntry>>()): TensorData {
  const a = index.arrays[name];
  if (!a) {
    const names = Object.keys(index.arrays);
    throw new ProcessCheckpointError(`${path.join(folder, INDEX_FILE)}: no array '${name}' (it has ${names.length}: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''})`);
  }
  if (box.start.length !== a.shape.length || box.start.some((s, d) => s < 0 || s + box.shape[d]! > a.shape[d]!)) {
    throw new ProcessCheckpointError(`${name}: block at [${box.start.join(', ')}] of shape [${box.shape.join(', ')}] is outside its shape [${a.shape.join(', ')}]`);
  }
  const bytes = DTYPE_INFO[a.dtype].bytes;
  const out = newHostArray(a.dtype, count(box.shape));
  const dst = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  let filled = 0;
  const fds = new Map<string, number>();
  try {
    for (const p of a.pieces) {
      const region = overlap(p, box);
      if (!region) continue;
      const file = path.join(folder, p.file);
      let fd = fds.get(file);
      if (fd === undefined) {
        if (!existsSync(file)) throw new ProcessCheckpointError(`${file}: missing (the index names it for ${name}; the checkpoint is damaged)`);
        fds.set(file, (fd = openSync(file, 'r')));
      }
      // The bytes are read where the index says; the file's own header must agree (it is not another save's file).
      let header = headers.get(file);
      if (!header) headers.set(file, (header = readHeader(file, 'the index names it').entries));
      const e = header.get(p.tensor);
      if (!e) throw new ProcessCheckpointError(`${file}: no block '${p.tensor}', which ${INDEX_FILE} names for ${name} (the file is not the one the index was written with)`);
      if (e.begin !== p.byteOffset || e.end - e.begin !== p.byteLength || e.dtype !== a.dtype || e.shape.join() !== p.shape.join()) {
        throw new ProcessCheckpointError(`${file}: block '${p.tensor}' is not where or what ${INDEX_FILE} says (the file is not the one the index was written with)`);
      }
      const src = new Uint8Array(p.byteLength);
      const got = readSync(fd, src, 0, p.byteLength, p.byteOffset);
      if (got !== p.byteLength) throw new ProcessCheckpointError(`${file}: ${p.tensor} ends past the end of the file (truncated?)`);
      copyRegion(src, p, dst, box, region, bytes);
      filled += count(region.shape);
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
  if (filled !== count(box.shape)) throw new ProcessCheckpointError(`${path.join(folder, INDEX_FILE)}: the pieces of ${name} cover ${filled} of the ${count(box.shape)} elements asked for`);
  return { dtype: a.dtype, shape: [...box.shape], data: out } as TensorData;
}

/**
 * What process `processIndex` of `processCount` on mesh `m` holds of a saved state, read from the checkpoint in
 * `folder` (written with any process count and mesh): per array, its distinct blocks with their data and the mesh
 * positions to put each on. Arrays the index lacks, or pieces whose file is missing, are one-line errors naming it.
 */
export function restoreProcessBlocks(folder: string, m: Mesh, processCount: number, processIndex: number, arrays: readonly ArrayLayout[]): Record<string, (HeldBox & { data: TensorData })[]> {
  const { index } = readCheckpointIndex(folder);
  const held = processHolding(m, processCount, processIndex, arrays);
  const out: Record<string, (HeldBox & { data: TensorData })[]> = {};
  const headers = new Map<string, Map<string, HeaderEntry>>();
  for (const a of arrays) {
    const saved = index.arrays[a.name];
    if (saved && (saved.dtype !== a.dtype || saved.shape.join() !== a.shape.join())) {
      throw new ProcessCheckpointError(`${path.join(folder, INDEX_FILE)}: ${a.name} is ${saved.dtype} [${saved.shape.join(', ')}], this run's is ${a.dtype} [${a.shape.join(', ')}]`);
    }
    out[a.name] = held[a.name]!.map((b) => ({ ...b, data: readBlock(folder, index, a.name, b, headers) }));
  }
  return out;
}
