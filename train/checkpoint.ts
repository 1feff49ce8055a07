// Training checkpoints: params and AdamW moments in one safetensors file, and a JSON beside it with the step,
// the config and the data position; both written atomically (temporary file, fsync, rename).
//
// The JSON is written after the tensors and is what marks a checkpoint complete: a run killed between the two
// leaves the previous checkpoint as the latest. Tensor names are `params.<path>`, `opt.mu.<path>`,
// `opt.nu.<path>` (dotted pytree paths), so the file reads as it is in Python (`safetensors.numpy.load_file`).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { FlipError } from '../compiler/ir/errors.ts';
import type { StreamPosition } from './data/webdataset.ts';
import { readSafetensors, writeSafetensors, type TensorMap } from '../io/safetensors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { findT5xCheckpoint, isT5xCheckpoint, readT5xCheckpoint } from '../io/t5x.ts';
import { mesh } from '../compiler/passes/index.ts';
import { INDEX_FILE, findProcessCheckpoint, readCheckpointIndex, restoreProcessBlocks, type ArrayLayout } from './multiprocess/checkpoint.ts';

export class CheckpointError extends FlipError {
  override name = 'CheckpointError';
}

export const CHECKPOINT_FORMAT = 'flip-checkpoint-1';

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  /** Updates done: the next step to run. */
  step: number;
  /** Where the data stream continues (the position after the last batch trained on); null: from the start. */
  position: StreamPosition | null;
  /** Samples trained on so far. */
  samples: number;
  /** The resolved config of the run that wrote it. */
  config: unknown;
  /** The safetensors file (a name in the same folder). */
  tensors: string;
  /** Wall-clock time of the save (ISO 8601). */
  saved: string;
  /** The id of the run that wrote it (its metrics.jsonl records carry it too); a resume keeps it. Absent in older checkpoints. */
  run?: string;
  /** Set when the state was read from another format (train/t5x_checkpoint.ts): no config, no data position. */
  origin?: 't5x';
}

/** Host copies of the train state, by dotted path. */
export interface HostState {
  params: TensorMap;
  mu: TensorMap;
  nu: TensorMap;
}

/** The state's groups and the prefixes of their tensor names in every checkpoint flip writes (one-process or per-process). */
export const STATE_GROUPS = [['params', 'params'], ['mu', 'opt.mu'], ['nu', 'opt.nu']] as const;

/** The process that reads a checkpoint: a per-process checkpoint gives it its data position when as many processes wrote it. */
export interface CheckpointReader {
  processIndex: number;
  processCount: number;
}
const ONE_PROCESS: CheckpointReader = { processIndex: 0, processCount: 1 };

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  state: HostState;
  /** The JSON file it was read from (a t5x checkpoint: its checkpoint_<step> folder). */
  file: string;
  /** What the run should print about how it was read (e.g. a dropped position embedding). */
  notes?: string[];
}


const NAME = /^checkpoint_(\d+)\.json$/;
/**
 * `checkpoint_<step>`, the step zero-padded to 8 digits (a step of 10^8 or more has more digits: the number in the name
 * is the step, whatever its width; checkpoints are ordered by that number, never by the name's characters).
 */
export const checkpointStem = (step: number) => `checkpoint_${String(step).padStart(8, '0')}`;
const stem = checkpointStem;

/** A step a checkpoint can record: an integer from 0 to 2^53 - 1. */
const isStep = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Complete checkpoints in `dir` (those whose JSON exists), oldest first. */
export function listCheckpoints(dir: string): { step: number; file: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => NAME.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), file: path.join(dir, m[0]) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * Save a checkpoint into `dir` (created if needed); returns the JSON's path. Older checkpoints beyond the newest
 * `keep` are removed after the new one is complete.
 */
export function saveCheckpoint(
  dir: string,
  state: HostState,
  meta: Omit<CheckpointMeta, 'format' | 'tensors' | 'saved'>,
  opts: { keep?: number } = {},
): string {
  if (!isStep(meta.step)) throw new CheckpointError(`checkpoint step ${String(meta.step)}: not an integer from 0 to 2^53 - 1`);
  mkdirSync(dir, { recursive: true });
  const base = stem(meta.step);
  const tensors: TensorMap = {};
  for (const [group, map] of [['params', state.params], ['opt.mu', state.mu], ['opt.nu', state.nu]] as const) {
    for (const [k, t] of Object.entries(map)) tensors[`${group}.${k}`] = t;
  }
  const full: CheckpointMeta = { format: CHECKPOINT_FORMAT, ...meta, tensors: `${base}.safetensors`, saved: new Date().toISOString() };
  const json = JSON.stringify(full, null, 2) + '\n';
  writeSafetensors(path.join(dir, `${base}.safetensors`), tensors, { format: 'flip', flip: json });
  const file = path.join(dir, `${base}.json`);
  writeFileAtomic(file, json, (reason) => new CheckpointError(reason));
  const keep = opts.keep ?? 2;
  const all = listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    if (old.file === file) continue;
    const m = readMeta(old.file);
    rmSync(old.file, { force: true });
    if (m) rmSync(path.join(dir, m.tensors), { force: true });
  }
  return file;
}

function readMeta(file: string): CheckpointMeta | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CheckpointMeta;
  } catch {
    return null;
  }
}

/**
 * The per-process checkpoint folder (train/multiprocess/) that `where` names for a reader in one process (`flip eval`,
 * `flip export`, pretrainDir, a one-process resume): `where` itself when it holds an index.json, else the newest
 * complete one in `where` or its checkpoints/ when no one-process checkpoint is there (those come first); else null.
 */
export function perProcessCheckpointAt(where: string): string | null {
  if (!existsSync(where) || where.endsWith('.json') || where.endsWith('.safetensors')) return null;
  if (!existsSync(path.join(where, INDEX_FILE)) && listCheckpoints(path.join(where, 'checkpoints')).length + listCheckpoints(where).length > 0) return null;
  return findProcessCheckpoint(where);
}

/**
 * The one-process checkpoint JSON that `where` names: itself, the JSON beside a safetensors file, or a folder's newest
 * one (readCheckpointMeta and loadCheckpoint look for a per-process checkpoint first).
 */
export function findCheckpoint(where: string): string {
  if (!existsSync(where)) throw new CheckpointError(`no checkpoint at ${where}: the path does not exist`);
  if (where.endsWith('.safetensors')) return where.replace(/\.safetensors$/, '.json');
  if (where.endsWith('.json')) return where;
  const found = [...listCheckpoints(path.join(where, 'checkpoints')), ...listCheckpoints(where)].sort((a, b) => a.step - b.step);
  if (!found.length) throw new CheckpointError(`no checkpoint in ${where} (looked for checkpoint_*.json there and in ${path.join(where, 'checkpoints')})`);
  return found[found.length - 1]!.file;
}

/** A checkpoint's JSON (step, position, config) without its tensors; see {@link loadCheckpoint} for `where`. */
export function readCheckpointMeta(where: string, reader: CheckpointReader = ONE_PROCESS): { file: string; meta: CheckpointMeta } {
  const folder = perProcessCheckpointAt(where);
  if (folder) return { file: folder, meta: processCheckpointMeta(folder, reader).meta };
  const file = findCheckpoint(where);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(readFileSync(file, 'utf8')) as CheckpointMeta;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? `not JSON: ${(e as Error).message}`;
    throw new CheckpointError(`unreadable checkpoint ${file} (${why})`);
  }
  if (!meta || meta.format !== CHECKPOINT_FORMAT || typeof meta.tensors !== 'string') {
    throw new CheckpointError(`${file}: not a flip checkpoint (expected "format": "${CHECKPOINT_FORMAT}" and the name of its safetensors file)`);
  }
  checkStep(file, meta.step);
  return { file, meta };
}

/**
 * The step a checkpoint JSON records must be a step and agree with its name (checkpoint_<step>.json, as
 * saveCheckpoint names it): a JSON edited to another step would be resumed at that step and saved under a name that
 * belongs to no step of the run. Names that are not checkpoint_<digits>.json (a copy under another name) are not checked.
 */
function checkStep(file: string, step: unknown): void {
  if (!isStep(step)) throw new CheckpointError(`${file}: "step" is ${JSON.stringify(step)}, not an integer >= 0; was the file edited?`);
  const named = NAME.exec(path.basename(file));
  if (named && Number(named[1]) !== step) {
    throw new CheckpointError(`${file}: its name says step ${Number(named[1])} but it records step ${step}; was the file edited? ` +
      `(a checkpoint's JSON must stay as flip wrote it)`);
  }
}

/**
 * A checkpoint's step and config (null for a t5x checkpoint, which carries none) for `flip eval`: flip's own
 * (see {@link readCheckpointMeta}) or a t5x checkpoint_<step> folder or its parent (the official format, detected by
 * its `checkpoint` msgpack file). `file` is what --config.train.pretrainDir then names.
 */
export function readAnyCheckpointMeta(where: string): { file: string; meta: { config: unknown; step: number } } {
  if (!isT5xCheckpoint(where)) return readCheckpointMeta(where);
  const dir = findT5xCheckpoint(where);
  const ck = readT5xCheckpoint(dir);
  return { file: dir, meta: { config: null, step: ck.stateStep ?? ck.dirStep ?? 0 } };
}

/**
 * A per-process checkpoint's meta from its index (train/multiprocess/checkpoint.ts), as a one-process checkpoint's
 * JSON gives it: the data position is `reader`'s own when the checkpoint was written by as many processes, else null
 * with a note (the state is restored; each process's data starts afresh from its share).
 */
function processCheckpointMeta(folder: string, reader: CheckpointReader): { meta: CheckpointMeta; notes: string[] } {
  const { index } = readCheckpointIndex(folder);
  const run = (index.run ?? {}) as { step?: number; samples?: number; config?: unknown; run?: string };
  const notes: string[] = [];
  let position: StreamPosition | null = null;
  if (index.processCount === reader.processCount) {
    try {
      position = (JSON.parse(index.processes[reader.processIndex]?.meta || '{}') as { position?: StreamPosition | null }).position ?? null;
    } catch {
      position = null;
    }
  } else {
    notes.push(`note: ${folder} was written by ${index.processCount} process(es), this run has ${reader.processCount}: the state is restored, each process's data starts afresh from its share`);
  }
  return {
    meta: { format: CHECKPOINT_FORMAT, step: run.step ?? index.step, samples: run.samples ?? 0, position, config: run.config ?? null, tensors: '', saved: index.saved, ...(run.run ? { run: run.run } : {}) },
    notes,
  };
}

/** A per-process checkpoint read back whole (every array on this host, whatever mesh and process count wrote it). */
function loadProcessCheckpoint(folder: string, reader: CheckpointReader): LoadedCheckpoint {
  const { index } = readCheckpointIndex(folder);
  const arrays: ArrayLayout[] = Object.entries(index.arrays).map(([name, a]) => ({ name, dtype: a.dtype, shape: a.shape, spec: a.shape.map(() => []) }));
  const blocks = restoreProcessBlocks(folder, mesh({ data: 1 }), 1, 0, arrays);
  const state: HostState = { params: {}, mu: {}, nu: {} };
  for (const a of arrays) {
    const g = STATE_GROUPS.find(([, prefix]) => a.name.startsWith(`${prefix}.`));
    if (!g) throw new CheckpointError(`${folder}: array '${a.name}' is not a params.*, opt.mu.* or opt.nu.* array of a train state`);
    state[g[0]][a.name.slice(g[1].length + 1)] = blocks[a.name]![0]!.data;
  }
  const { meta, notes } = processCheckpointMeta(folder, reader);
  return { file: folder, notes, state, meta };
}

/**
 * Load a checkpoint: `where` is a checkpoint JSON, its safetensors file, or a folder (a workdir or its
 * `checkpoints/` folder), in which case the newest complete checkpoint there. A checkpoint written by several
 * processes (a checkpoint_<step>/ folder with its index, or a folder holding only such ones: {@link
 * perProcessCheckpointAt}) is read whole, `reader`'s data position in it when as many processes wrote it. A file that
 * cannot be read or parsed is a CheckpointError naming it.
 */
export function loadCheckpoint(where: string, reader: CheckpointReader = ONE_PROCESS): LoadedCheckpoint {
  const folder = perProcessCheckpointAt(where);
  if (folder) return loadProcessCheckpoint(folder, reader);
  const { file, meta } = readCheckpointMeta(where);
  const tensorsFile = path.join(path.dirname(file), meta.tensors);
  let st;
  try {
    st = readSafetensors(tensorsFile);
  } catch (e) {
    const msg = (e as Error).message;
    throw new CheckpointError(`unreadable checkpoint ${file}: ${msg.startsWith(tensorsFile) ? `its tensors ${msg}` : msg}`);
  }
  // The safetensors header carries a copy of the JSON written with it: the two must record the same step.
  const copy = st.metadata.flip;
  if (copy !== undefined) {
    let saved: unknown;
    try {
      saved = (JSON.parse(copy) as { step?: unknown }).step;
    } catch {
      saved = undefined;
    }
    if (saved !== meta.step) {
      throw new CheckpointError(`${file}: records step ${meta.step} but its tensors ${path.basename(tensorsFile)} were saved at step ${String(saved)}; ` +
        `was the JSON edited? (a checkpoint's JSON must stay as flip wrote it)`);
    }
  }
  const state: HostState = { params: {}, mu: {}, nu: {} };
  for (const [name, t] of Object.entries(st.tensors)) {
    const g = STATE_GROUPS.find(([, prefix]) => name.startsWith(`${prefix}.`));
    if (g) state[g[0]][name.slice(g[1].length + 1)] = t;
  }
  return { meta, state, file };
}

const showLeaf = (t: { dtype: string; shape: readonly number[] }) => `${t.dtype}[${t.shape.join(', ')}]`;

/**
 * Checks that a checkpoint holds exactly the tensors of a model: `want` maps each param path to its dtype and shape
 * (the model's spec leaves); with `moments`, the AdamW moments must be there too. A mismatch is one CheckpointError
 * naming the checkpoint, the first leaf that differs (in the model's order) with both shapes, and how many differ.
 */
export function checkCheckpointFits(
  ck: LoadedCheckpoint,
  want: ReadonlyArray<readonly [string, { dtype: string; shape: readonly number[] }]>,
  opts: { moments: boolean; configName?: string },
): void {
  const groups: Array<[string, TensorMap]> = [['params', ck.state.params]];
  if (opts.moments) groups.push(['opt.mu', ck.state.mu], ['opt.nu', ck.state.nu]);
  const problems: string[] = [];
  for (const [group, map] of groups) {
    for (const [p, s] of want) {
      const t = map[p];
      if (!t) problems.push(`'${group}.${p}' (${showLeaf(s)} in this config's model) is not in the checkpoint`);
      else if (t.dtype !== s.dtype || t.shape.join() !== s.shape.join()) {
        problems.push(`'${group}.${p}' is ${showLeaf(t)} in the checkpoint but ${showLeaf(s)} in this config's model`);
      }
    }
    const known = new Set(want.map(([p]) => p));
    for (const [p, t] of Object.entries(map)) if (!known.has(p)) problems.push(`the checkpoint's '${group}.${p}' (${showLeaf(t)}) is not a parameter of this config's model`);
  }
  if (!problems.length) return;
  const theirs = (ck.meta.config as { name?: unknown } | null)?.name;
  const names = typeof theirs === 'string' && opts.configName && theirs !== opts.configName ? ` (it was written by config '${theirs}', this run is '${opts.configName}')` : '';
  throw new CheckpointError(
    `${ck.file} does not fit this config's model${names}: ${problems[0]}` +
      `${problems.length > 1 ? `; ${problems.length - 1} more tensor(s) differ` : ''}. Run with the config it was trained with (--config, and the same --config.model.* overrides)`,
  );
}
