// Each process's share of the training data, as the official FLIP input pipeline splits it (input_pipeline_laion.py
// create_split with t5x's DataLayout; for a data-parallel mesh whose `data` axis gives each process a contiguous
// block, shard_id = process index and num_shards = process count):
//   - files: the sorted list cut into `processCount` contiguous blocks of floor(n / processCount) files; process i
//     reads files [i·size, (i+1)·size). The n mod processCount last files are read by nobody (the official code drops
//     them too); `unused` lists them so the trainer can say so.
//   - batch: each process reads batch / processCount samples per step ("Batch size must be divisible by the number
//     of devices" otherwise), and its rows are [i·local, (i+1)·local) of the global batch (the `data` axis).
//   - shuffling: each process shuffles with seed + process index (official: tf.random.set_seed(seed_tf +
//     jax.process_index())), so two processes never draw the same permutation of their files.
// The shard list must be the same on every process (listShards sorts it); one process's data position
// (StreamPosition) is a position in its own share, so a checkpoint keeps one per process.
import { FlipError } from '../../compiler/ir/errors.ts';

export class DataShareError extends FlipError {
  override name = 'DataShareError';
}

export interface ShardShare {
  /** This process's shards, in dataset order. */
  shards: string[];
  /** Its block: shards [begin, end) of the full list. */
  begin: number;
  end: number;
  /** Shards no process reads (the last n mod processCount), in order; empty when the count divides evenly. */
  unused: string[];
}

function checkProcess(processIndex: number, processCount: number): void {
  if (!Number.isInteger(processCount) || processCount < 1) throw new DataShareError(`process count ${processCount} is not a positive integer`);
  if (!Number.isInteger(processIndex) || processIndex < 0 || processIndex >= processCount) {
    throw new DataShareError(`process index ${processIndex} is not in [0, ${processCount})`);
  }
}

/** The shards process `processIndex` of `processCount` reads (official contiguous split; see the file's head). */
export function processShardShare(shards: readonly string[], processIndex: number, processCount: number, source = 'the data'): ShardShare {
  checkProcess(processIndex, processCount);
  if (shards.length < processCount) {
    throw new DataShareError(`${source} has ${shards.length} shard(s) for ${processCount} processes: each process reads whole shards, so it needs at least ${processCount} (split the data into more shards or run fewer processes)`);
  }
  const size = Math.floor(shards.length / processCount);
  const begin = processIndex * size;
  const end = begin + size;
  return { shards: shards.slice(begin, end), begin, end, unused: shards.slice(size * processCount) };
}

export interface ProcessDataPlan extends ShardShare {
  /** Samples this process reads per step. */
  localBatch: number;
  /** Its rows of the global batch: [rowBegin, rowBegin + localBatch). */
  rowBegin: number;
  /** The shuffle seed of this process's loader. */
  seed: number;
  /** A line for the run's log when shards go unused; null otherwise. */
  note: string | null;
}

export interface ProcessDataOptions {
  shards: readonly string[];
  processIndex: number;
  processCount: number;
  /** The global batch (config batch_size). */
  batchSize: number;
  /** The run's data seed (before adding the process index). */
  seed: number;
  /** Name of the data in messages. */
  source?: string;
}

/** What process `processIndex`'s loader reads and how its batch fits into the global one. */
export function processDataPlan(o: ProcessDataOptions): ProcessDataPlan {
  checkProcess(o.processIndex, o.processCount);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new DataShareError(`batch size ${o.batchSize} is not a positive integer`);
  if (o.batchSize % o.processCount) {
    throw new DataShareError(`batch size ${o.batchSize} does not split evenly across ${o.processCount} processes (each reads batch / processes samples per step)`);
  }
  const share = processShardShare(o.shards, o.processIndex, o.processCount, o.source);
  const localBatch = o.batchSize / o.processCount;
  const note = share.unused.length
    ? `${o.source ?? 'the data'}: ${o.shards.length} shards over ${o.processCount} processes: ${share.end - share.begin} each; the last ${share.unused.length} (${share.unused[0]}${share.unused.length > 1 ? ' ..' : ''}) are read by no process, as in the official split`
    : null;
  return { ...share, localBatch, rowBegin: o.processIndex * localBatch, seed: o.seed + o.processIndex, note };
}
