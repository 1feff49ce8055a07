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
import { readSafetensors, writeSafetensors, type TensorMap } from './safetensors.ts';
import { writeFileAtomic } from './atomic.ts';

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
}

/** Host copies of the train state, by dotted path. */
export interface HostState {
  params: TensorMap;
  mu: TensorMap;
  nu: TensorMap;
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  state: HostState;
  /** The JSON file it was read from. */
  file: string;
}


const NAME = /^checkpoint_(\d+)\.json$/;
const stem = (step: number) => `checkpoint_${String(step).padStart(8, '0')}`;

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
 * Load a checkpoint: `where` is a checkpoint JSON, its safetensors file, or a folder (a workdir or its
 * `checkpoints/` folder), in which case the newest complete checkpoint there.
 */
export function loadCheckpoint(where: string): LoadedCheckpoint {
  let file = where;
  if (!existsSync(where)) throw new CheckpointError(`no checkpoint at ${where}: the path does not exist`);
  if (where.endsWith('.safetensors')) file = where.replace(/\.safetensors$/, '.json');
  else if (!where.endsWith('.json')) {
    const found = [...listCheckpoints(path.join(where, 'checkpoints')), ...listCheckpoints(where)].sort((a, b) => a.step - b.step);
    if (!found.length) throw new CheckpointError(`no checkpoint in ${where} (looked for checkpoint_*.json there and in ${path.join(where, 'checkpoints')})`);
    file = found[found.length - 1]!.file;
  }
  const meta = readMeta(file);
  if (!meta || meta.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${file}: not a flip checkpoint (expected "format": "${CHECKPOINT_FORMAT}")`);
  const st = readSafetensors(path.join(path.dirname(file), meta.tensors));
  const state: HostState = { params: {}, mu: {}, nu: {} };
  for (const [name, t] of Object.entries(st.tensors)) {
    if (name.startsWith('params.')) state.params[name.slice(7)] = t;
    else if (name.startsWith('opt.mu.')) state.mu[name.slice(7)] = t;
    else if (name.startsWith('opt.nu.')) state.nu[name.slice(7)] = t;
  }
  return { meta, state, file };
}
