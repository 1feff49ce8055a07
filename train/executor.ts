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

export async function stepExecutor(o: ExecutorOptions): Promise<StepExecutor> {
  const { client } = o;
  if (o.devices === 1 && !o.mesh) {
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
  const m = o.mesh ?? trainMesh(o.devices, o.modelPartitions);
  if (client.devices.length < m.size) throw new FlipError(`${m.size} devices asked for, the ${client.target} client has ${client.devices.length}`);
  const batchSize = (o.specs[1] as { image: TensorSpec }).image.shape[0]!;
  const dataWays = axisSize(m, 'data');
  if (batchSize % dataWays !== 0) throw new FlipError(`the batch size ${batchSize} does not split over ${dataWays} data-parallel devices`);
  const t0 = performance.now();
  o.log(`train_step: tracing (sharded over mesh ${showMesh(m)})`);
  const lowered = lower(o.fn, o.specs, { name: 'train_step', mesh: m, partitionStates: o.partitionStates, donate: [0], ...(o.loc ? { loc: o.loc } : {}) });
  o.log(`train_step: sharded and lowered ${lowered.func.ops.length} ops; compiling for ${o.devices} devices`);
  const program = await meshProgram(client, lowered);
  const compileSeconds = (performance.now() - t0) / 1000;
  o.log(`train_step: ${loadedFromCache(program.executable) ? 'loaded from the compilation cache' : 'compiled'} in ${compileSeconds.toFixed(1)}s`);
  const stepType = { dtype: 'i32' as const, shape: [], axes: [] };
  return {
    where: `mesh ${showMesh(m)}`,
    compileSeconds,
    mlir: program.mlir,
    async run(state, batch, step) {
      const leaves: MeshInput[] = [
        ...flatten<MeshInput>(state, { isLeaf: (x) => x instanceof ShardedArray }).leaves,
        { type: { dtype: 'f32', shape: batch.imageShape, axes: ['batch', 'height', 'width', 'channels'] }, data: batch.image },
        { type: { dtype: 'i32', shape: batch.txtShape, axes: ['batch', 'length'] }, data: batch.txt },
        { type: { dtype: 'i32', shape: batch.txtShape, axes: ['batch', 'length'] }, data: batch.txtIsValid },
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
