// Where the train step runs: one device (the state as Buffers), or a mesh of devices (data parallel, and model
// parallel with partitioning.numPartitions > 1) through the sharding pass, the state as ShardedArrays. Both donate the
// state, take host batches, and give back host metrics.
import { FlipError } from '../compiler/ir/errors.ts';
import type { Loc } from '../compiler/ir/types.ts';
import { lower } from '../compiler/lower/index.ts';
import { axisSize, mesh as makeMesh, showMesh, type Mesh } from '../compiler/passes/index.ts';
import { flatten, unflatten, type TensorSpec } from '../compiler/trace/index.ts';
import { ShardedArray, meshProgram, type MeshInput } from '../programs/sharded.ts';
import { loadedFromCache } from '../programs/cache.ts';
import type { Buffer, Client } from '../runtime-native/index.ts';
import { compileFunction } from './compiled.ts';
import type { Batch } from './data/loader.ts';
import { checkSameProgram, programFingerprint } from './multiprocess/fingerprint.ts';
import type { ProcessGroup } from './multiprocess/group.ts';
import { globalMeshLayout, type GlobalMeshLayout } from './multiprocess/mesh.ts';

export interface StepMetricsHost {
  loss: number;
  tau: number;
  lr: number;
  gradNorm: number;
}

/** A leaf of the state on the device side: a Buffer (one device) or a ShardedArray (a mesh). */
export type StateLeaf = Buffer | ShardedArray;

export interface StepExecutor {
  /** `1 device` or the mesh, for the log. */
  readonly where: string;
  readonly compileSeconds: number;
  /** The StableHLO module it compiled (what `flipc compile train/step.ts --entry train_step` prints for the same config). */
  readonly mlir: string;
  /** One step: the state is donated; the new one comes back with the metrics. */
  run(state: unknown, batch: Batch, step: number): Promise<[unknown, StepMetricsHost]>;
}

export interface ExecutorOptions {
  client: Client;
  fn: (...args: never[]) => unknown;
  /** [state specs, batch specs, step spec, static arguments...]: the state is donated (argument 0). */
  specs: readonly unknown[];
  /** The step function's declaration (the module's function location). */
  loc?: Loc;
  /** Devices in the mesh; 1: a plain single-device program. */
  devices: number;
  /** Model-parallel partitions of the mesh (config.partitioning.numPartitions). */
  modelPartitions: number;
  partitionStates: boolean;
  /** A mesh to use instead of devices × modelPartitions (`flip run --mesh data=4,model=2`). */
  mesh?: Mesh;
  log: (msg: string) => void;
  optLevel?: number;
  /**
   * A run over several processes (processCount > 1): the mesh spans every process's devices (each a contiguous block
   * of `data`), every process checks through the group that all lowered the same program before compiling, and each
   * step's batch is this process's rows of the global batch (rows [rowBegin, rowBegin + batch rows)).
   */
  processes?: { group: ProcessGroup; rowBegin: number; timeoutMs: number };
}

/** The mesh's axis sizes as a record (`{data: 4, model: 2}`), major to minor. */
const sizesOf = (m: Mesh): Record<string, number> => Object.fromEntries(m.axes.map((a, i) => [a, m.shape[i]!]));

/**
 * A process's rows of a batch placed into a host array of the global batch (rows [rowBegin, rowBegin + rows)); the
 * other rows stay zero and are never uploaded: the process's mesh positions hold exactly its rows.
 */
export function globalBatchRows<T extends Float32Array | Int32Array>(local: T, localShape: readonly number[], globalRows: number, rowBegin: number): T {
  const row = localShape.slice(1).reduce((a, b) => a * b, 1);
  if (rowBegin < 0 || rowBegin + localShape[0]! > globalRows) throw new FlipError(`rows [${rowBegin}, ${rowBegin + localShape[0]!}) are not rows of a batch of ${globalRows}`);
  const out = new (local.constructor as new (n: number) => T)(globalRows * row);
  out.set(local, rowBegin * row);
  return out;
}

const METRICS = ['loss', 'tau', 'lr', 'gradNorm'] as const;

async function hostMetrics(m: Record<string, { toHost(): Promise<unknown>; dispose(): void }>): Promise<StepMetricsHost> {
  const out = {} as StepMetricsHost;
  await Promise.all(METRICS.map(async (k) => {
    const b = m[k];
    if (!b) throw new FlipError(`the train step returned no '${k}'`);
    out[k] = ((await b.toHost()) as Float32Array)[0]!;
    b.dispose();
  }));
  return out;
}

/** The mesh for `devices` devices: `data × model`, with model = the config's partitions. */
export function trainMesh(devices: number, modelPartitions: number): Mesh {
  if (devices % modelPartitions !== 0) {
    throw new FlipError(`--devices ${devices} is not a multiple of config.partitioning.numPartitions (${modelPartitions})`);
  }
  return modelPartitions > 1 ? makeMesh({ data: devices / modelPartitions, model: modelPartitions }) : makeMesh({ data: devices });
}

/**
 * Before compiling over several processes: every process puts the fingerprint of the train step it lowered (its
 * StableHLO text, the mesh and the device assignment) into the store and compares everyone's; a process that lowered
 * another program (another config or flip version) would hang the others in its first collective, so this throws one
 * line naming it instead (`tag`: which program, the same on every process).
 */
export async function checkSameStep(group: ProcessGroup, mlir: string, m: Mesh, deviceIds: readonly number[], timeoutMs: number, tag = 'train_step'): Promise<void> {
  await checkSameProgram(group, tag, programFingerprint(mlir, { mesh: showMesh(m), deviceIds: [...deviceIds] }), timeoutMs);
}

export async function stepExecutor(o: ExecutorOptions): Promise<StepExecutor> {
  const { client } = o;
  const multi = o.processes && o.processes.group.processCount > 1 ? o.processes : null;
  if (o.devices === 1 && !o.mesh && !multi) {
    const f = await compileFunction(o.fn, o.specs, { client, name: 'train_step', donate: [0], log: o.log, ...(o.loc ? { loc: o.loc } : {}), ...(o.optLevel !== undefined ? { optLevel: o.optLevel } : {}) });
    return {
      where: '1 device',
      compileSeconds: f.compileSeconds,
      mlir: f.mlir,
      async run(state, batch, step) {
        const inputs = {
          image: client.toDevice(batch.image, batch.imageShape, 'f32'),
          txt: client.toDevice(batch.txt, batch.txtShape, 'i32'),
          txtIsValid: client.toDevice(batch.txtIsValid, batch.txtShape, 'i32'),
        };
        const stepBuf = client.toDevice(new Int32Array([step]), [], 'i32');
        try {
          const [next, m] = (await f.run([state, inputs, stepBuf])) as [unknown, Record<string, Buffer>];
          return [next, await hostMetrics(m)];
        } finally {
          for (const b of [inputs.image, inputs.txt, inputs.txtIsValid, stepBuf]) b.dispose();
        }
      },
    };
  }
  let layout: GlobalMeshLayout | null = null;
  let m = o.mesh ?? trainMesh(multi ? client.globalDevices.length : o.devices, o.modelPartitions);
  if (multi) {
    layout = globalMeshLayout(client.globalDevices, sizesOf(m), multi.group.processIndex, multi.group.processCount);
    m = layout.mesh;
  } else if (client.devices.length < m.size) throw new FlipError(`${m.size} devices asked for, the ${client.target} client has ${client.devices.length}`);
  const batchSize = (o.specs[1] as { image: TensorSpec }).image.shape[0]!;
  const dataWays = axisSize(m, 'data');
  if (batchSize % dataWays !== 0) throw new FlipError(`the batch size ${batchSize} does not split over ${dataWays} data-parallel devices`);
  const t0 = performance.now();
  o.log(`train_step: tracing (sharded over mesh ${showMesh(m)})`);
  const lowered = lower(o.fn, o.specs, { name: 'train_step', mesh: m, partitionStates: o.partitionStates, donate: [0], ...(o.loc ? { loc: o.loc } : {}) });
  if (multi && layout) {
    await checkSameStep(multi.group, lowered.mlir, m, layout.deviceIds, multi.timeoutMs);
    o.log(`train_step: all ${multi.group.processCount} processes lowered the same program`);
  }
  o.log(`train_step: sharded and lowered ${lowered.func.ops.length} ops; compiling for ${m.size} devices${layout ? ` (${layout.positions.length} of them in this process)` : ''}`);
  const program = await meshProgram(client, lowered, layout ? { placement: { deviceIds: layout.deviceIds, addressable: layout.addressable } } : {});
  const compileSeconds = (performance.now() - t0) / 1000;
  o.log(`train_step: ${loadedFromCache(program.executable) ? 'loaded from the compilation cache' : 'compiled'} in ${compileSeconds.toFixed(1)}s`);
  const stepType = { dtype: 'i32' as const, shape: [], axes: [] };
  return {
    where: `mesh ${showMesh(m)}`,
    compileSeconds,
    mlir: program.mlir,
    async run(state, batch, step) {
      // Over several processes each reads its rows of the global batch; they are placed where its positions read them.
      const rows = <T extends Float32Array | Int32Array>(a: T, shape: readonly number[]) => (multi ? globalBatchRows(a, shape, batchSize, multi.rowBegin) : a);
      const imageShape = multi ? [batchSize, ...batch.imageShape.slice(1)] : batch.imageShape;
      const txtShape = multi ? [batchSize, ...batch.txtShape.slice(1)] : batch.txtShape;
      const leaves: MeshInput[] = [
        ...flatten<MeshInput>(state, { isLeaf: (x) => x instanceof ShardedArray }).leaves,
        { type: { dtype: 'f32', shape: imageShape, axes: ['batch', 'height', 'width', 'channels'] }, data: rows(batch.image, batch.imageShape) },
        { type: { dtype: 'i32', shape: txtShape, axes: ['batch', 'length'] }, data: rows(batch.txt, batch.txtShape) },
        { type: { dtype: 'i32', shape: txtShape, axes: ['batch', 'length'] }, data: rows(batch.txtIsValid, batch.txtShape) },
        { type: stepType, data: new Int32Array([step]) },
      ];
      const outs = await program.run(leaves);
      const [next, metrics] = unflatten<[unknown, Record<string, ShardedArray>]>(lowered.outTree, outs);
      return [next, await hostMetrics(metrics)];
    },
  };
}

/** The state's params as single-device Buffers on device 0 (for the zero-shot encoders), and how to let them go. */
export async function paramsOnOneDevice(client: Client, params: unknown): Promise<{ params: unknown; release(): void }> {
  const f = flatten<StateLeaf>(params, { isLeaf: (x) => x instanceof ShardedArray });
  if (!f.leaves.some((l) => l instanceof ShardedArray)) return { params, release() {} };
  const copies = await Promise.all(f.leaves.map(async (l) => client.toDevice((await l.toHost()) as Float32Array, [...l.shape], 'f32')));
  return { params: unflatten(f.treedef, copies), release: () => copies.forEach((b) => b.dispose()) };
}
