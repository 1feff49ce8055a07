// The calls train/run makes for a run over several processes, each a few lines there: the run's group and writer
// role, each process's share of the training shards, the writer-only steps (the synthetic set) with the others
// waiting at a barrier, and the state saved as per-process pieces with one index (train/checkpoint.ts loadCheckpoint
// reads such a checkpoint back whole, for any process count). A one-process run never calls the last two: its files
// stay as they were.
import path from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import { mesh as makeMesh, type Mesh } from '../../compiler/passes/index.ts';
import { flatten } from '../../compiler/trace/index.ts';
import type { TensorData } from '../../io/safetensors.ts';
import type { Coordination, ProcessPlan } from '../../runtime-native/index.ts';
import { STATE_GROUPS } from '../checkpoint.ts';
import { listShards, type StreamPosition } from '../data/webdataset.ts';
import {
  latestProcessCheckpoint, pruneProcessCheckpoints, saveProcessCheckpoint,
  processHolding, type ArrayLayout, type Piece,
} from './checkpoint.ts';
import { processDataPlan, type ProcessDataPlan } from './data.ts';
import { ProcessGroupError, singleProcess, storeGroup, type ProcessGroup } from './group.ts';
import { writerRole, type WriterRole } from './writer.ts';

/** How long a process waits for the others at a barrier or for their program fingerprint (they may be compiling). */
export const PROCESS_WAIT_MS = 600_000;

export interface RunProcesses {
  group: ProcessGroup;
  role: WriterRole;
  /** processCount > 1. */
  multi: boolean;
}

/** The group and role of a run: its coordination store's, or the one-process group. */
export function runProcesses(o: { processes?: ProcessPlan; group?: Coordination }): RunProcesses {
  const n = o.processes?.numProcesses ?? o.group?.processCount ?? 1;
  if (n > 1 && !o.group) throw new ProcessGroupError(`process ${o.processes?.processId} of ${n}: no coordination store was joined (joinProcessGroup(processes) gives RunOptions.group)`);
  if (o.processes && o.group && (o.group.processIndex !== o.processes.processId || o.group.processCount !== o.processes.numProcesses)) {
    throw new ProcessGroupError(`the store's process ${o.group.processIndex} of ${o.group.processCount} is not the plan's ${o.processes.processId} of ${o.processes.numProcesses}`);
  }
  const group = o.group && o.group.processCount > 1 ? storeGroup(o.group) : singleProcess();
  return { group, role: writerRole(group), multi: group.processCount > 1 };
}

/** This process's training shards, rows of the global batch and shuffle seed (train/multiprocess/data.ts). */
export async function trainShare(source: string, group: ProcessGroup, batchSize: number, seed: number): Promise<ProcessDataPlan> {
  return processDataPlan({ shards: await listShards(source), processIndex: group.processIndex, processCount: group.processCount, batchSize, seed, source });
}

/** `write` on the writer (process 0), then a barrier every process passes once it is done (`name` once per run). */
export async function writerFirst<T>(p: RunProcesses, name: string, write: () => Promise<T>): Promise<T | null> {
  const out = p.role.isWriter ? await write() : null;
  if (p.multi) await p.group.barrier(`writer/${name}`, PROCESS_WAIT_MS);
  return out;
}

/** A state leaf as the trainer holds it: a ShardedArray (a mesh) or a single-device Buffer. */
interface LeafLike {
  readonly shape: readonly number[];
  toHost(): Promise<unknown>;
  readonly sharding?: { mesh: Mesh; spec: readonly (readonly string[])[] };
  readonly shards?: readonly ({ toHost(): Promise<unknown> } | undefined)[];
}

/** The state's arrays with the names a one-process checkpoint gives them (params.*, opt.mu.*, opt.nu.*). */
function stateLeaves(state: { params: unknown; mu: unknown; nu: unknown }): { name: string; leaf: LeafLike }[] {
  return STATE_GROUPS.flatMap(([k, prefix]) => {
    const f = flatten<LeafLike>(state[k], { isLeaf: (x) => typeof (x as LeafLike | null)?.toHost === 'function' });
    return f.leaves.map((leaf, i) => ({ name: `${prefix}.${f.paths[i]}`, leaf }));
  });
}

export interface ProcessSave {
  dir: string;
  step: number;
  samples: number;
  position: StreamPosition | null;
  config: unknown;
  /** The run's id (train/checkpoint.ts CheckpointMeta.run), kept so a resume continues the same run. */
  run?: string;
  /** Complete checkpoints kept (as a one-process run keeps 2). */
  keep?: number;
}

/**
 * Every process: the blocks of the state it writes (those whose first replica it holds) into its piece file, then
 * process 0's index after a barrier (train/multiprocess/checkpoint.ts); process 0 prunes older ones. A block holding
 * NaN or inf is refused before anything is written. Returns the checkpoint's folder.
 */
export async function saveStatePieces(p: RunProcesses, state: { params: unknown; mu: unknown; nu: unknown }, s: ProcessSave): Promise<string> {
  const leaves = stateLeaves(state);
  const m = leaves.find((l) => l.leaf.sharding)?.leaf.sharding!.mesh ?? makeMesh({ data: p.group.processCount });
  const arrays: ArrayLayout[] = leaves.map(({ name, leaf }) => ({
    name, dtype: 'f32', shape: [...leaf.shape], spec: leaf.sharding ? leaf.sharding.spec.map((a) => [...a]) : leaf.shape.map(() => []),
  }));
  const held = processHolding(m, p.group.processCount, p.group.processIndex, arrays);
  const pieces: Piece[] = [];
  for (const { name, leaf } of leaves) {
    for (const box of held[name]!.filter((b) => b.writes)) {
      const src = leaf.sharding ? leaf.shards![box.replica0!] : leaf;
      if (!src) throw new FlipError(`${name}: this process holds no buffer at mesh position ${box.replica0}`);
      const data = (await src.toHost()) as Float32Array;
      if (!data.every(Number.isFinite)) throw new FlipError(`${name} holds NaN or inf after step ${s.step}: training stopped, the model diverged; not saved`);
      pieces.push({ name, start: box.start, data: { dtype: 'f32', shape: box.shape, data } as TensorData });
    }
  }
  const index = await saveProcessCheckpoint(p.group, {
    dir: s.dir, step: s.step, mesh: m, arrays, pieces, timeoutMs: PROCESS_WAIT_MS,
    processMeta: JSON.stringify({ position: s.position }),
    run: { step: s.step, samples: s.samples, config: s.config, ...(s.run ? { run: s.run } : {}) },
  });
  if (p.role.isWriter) pruneProcessCheckpoints(s.dir, s.keep ?? 2);
  return path.dirname(index);
}

export { latestProcessCheckpoint };
