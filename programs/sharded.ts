// Sharded arrays (a global type, a mesh and spec, one buffer per mesh position), moving them between host and
// devices, and running SPMD executables on them; `shardedJit` is `jit` over a mesh.
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { FlipError, numElements, showType, type DType, type TensorType } from '../compiler/ir/index.ts';
import { lower, type Program } from '../compiler/lower/index.ts';
import {
  hloSharding, localShape, replicaIndex, sameMesh, shardOrigin, showMesh, showSpec,
  type Mesh, type PartitionSpec, type ShardedFunc, type ShardingOptions,
} from '../compiler/passes/index.ts';
import { flatten, isTracing, showTreeDef, unflatten, type MapLeaves, type TreeDef } from '../compiler/trace/index.ts';
import type { AnyTensor } from '../dsl/core.ts';
import { newHostArray as newArray, toHostArray, type HostArrayOf, type HostData } from '../compiler/ir/dtype.ts';
import { openClient, type Buffer, type Client, type Executable } from '../runtime-native/index.ts';
import { compileProgram, programCompileOptions, type ProgramCompileOptions } from './compile.ts';
import { DeviceTensor, HostTensor } from './jit.ts';

/** Where an array lives: a mesh and, per dimension, the mesh axes it is split over. */
export interface ArraySharding {
  readonly mesh: Mesh;
  readonly spec: PartitionSpec;
}

export function sameSharding(a: ArraySharding, b: ArraySharding): boolean {
  return sameMesh(a.mesh, b.mesh) && a.spec.length === b.spec.length && a.spec.every((x, i) => x.join() === b.spec[i]!.join());
}

/**
 * An array split over the devices of a mesh: `shards[p]` is the block mesh position p holds, on client device
 * `sharding.mesh.devices[p]`. Positions along mesh axes the spec does not use hold copies of the same block; a
 * replicated array is one whose spec splits nothing (every device has all of it). In a run over several processes
 * the mesh spans every process's devices and `shards` has holes (no entry) at the positions other processes drive
 * (train/multiprocess/mesh.ts); `toHost` then works only when this process holds a copy of every block.
 */
export class ShardedArray<D extends DType = DType> {
  constructor(readonly type: TensorType, readonly sharding: ArraySharding, readonly shards: readonly Buffer<D>[]) {
    const m = sharding.mesh;
    if (shards.length !== m.size) throw new FlipError(`ShardedArray: ${shards.length} shards for mesh ${showMesh(m)} (${m.size} devices)`);
    const local = localShape(sharding.spec, m, type.shape);
    shards.forEach((b, p) => { // skips the holes of a process's part of a multi-process array
      if (b.device !== m.devices[p]) throw new FlipError(`ShardedArray: shard ${p} is on device ${b.device}, the mesh puts position ${p} on ${m.devices[p]}`);
      if (b.shape.join() !== local.join()) throw new FlipError(`ShardedArray: shard ${p} is [${b.shape.join(', ')}], ${showType(type)} split ${showSpec(sharding.spec)} gives [${local.join(', ')}]`);
    });
  }

  get dtype(): D {
    return this.type.dtype as D;
  }
  /** The global shape (a Buffer's `shape` is its own). */
  get shape(): readonly number[] {
    return this.type.shape;
  }
  /** The shape each device holds. */
  get localShape(): readonly number[] {
    return localShape(this.sharding.spec, this.sharding.mesh, this.type.shape);
  }
  /** Positions whose shard this process holds (all of them in a one-process run). */
  get held(): number[] {
    return this.sharding.mesh.devices.map((_, p) => p).filter((p) => this.shards[p] !== undefined);
  }
  /** The HloSharding string of this layout. */
  get hlo(): string {
    return hloSharding(this.sharding.spec, this.sharding.mesh);
  }
  get disposed(): boolean {
    return this.shards.some((b) => b.disposed);
  }

  /**
   * The whole array on the host, assembled from one copy of each block (the first replica held here; in a one-process
   * run, replica 0). A process that holds no copy of some block (another process's part of the array) cannot.
   */
  async toHost(): Promise<HostArrayOf[D]> {
    const { mesh: m, spec } = this.sharding;
    const out = newArray(this.dtype, numElements(this.type.shape));
    const local = this.localShape;
    const from = new Map<string, { p: number; origin: number[] }>();
    for (let p = 0; p < m.size; p++) {
      const origin = shardOrigin(spec, m, this.type.shape, p);
      const key = origin.join();
      const have = from.get(key);
      if (!have) from.set(key, { p, origin });
      else if (this.shards[have.p] === undefined && this.shards[p] !== undefined) from.set(key, { p, origin });
    }
    const missing = [...from.values()].find(({ p }) => this.shards[p] === undefined);
    if (missing) throw new FlipError(`${this}: the block at [${missing.origin.join(', ')}] is held by other processes only; read this process's blocks (train/multiprocess/checkpoint.ts), not the whole array`);
    await Promise.all([...from.values()].map(async ({ p, origin }) => {
      copyBlock(await this.shards[p]!.toHost(), local, out, this.type.shape, origin, true);
    }));
    return out;
  }

  toString(): string {
    return `ShardedArray(${showType(this.type)} ${showSpec(this.sharding.spec)} on ${showMesh(this.sharding.mesh)})`;
  }

  dispose(): void {
    for (const b of this.shards) b?.dispose();
  }
}

/**
 * Copy between a row-major block and a row-major array: the block of `blockShape` at `origin` of `full` (of
 * `fullShape`). `into` true writes the block into `full`, false reads it out of `full` into `block`.
 */
function copyBlock(block: HostArrayOf[DType], blockShape: readonly number[], full: HostArrayOf[DType], fullShape: readonly number[], origin: readonly number[], into: boolean): void {
  const rank = fullShape.length;
  type Arr = { set(a: ArrayLike<unknown>, o: number): void; subarray(a: number, b: number): ArrayLike<unknown> };
  const b = block as unknown as Arr;
  const f = full as unknown as Arr;
  if (rank === 0) {
    if (into) f.set(b.subarray(0, 1), 0);
    else b.set(f.subarray(0, 1), 0);
    return;
  }
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * fullShape[i + 1]!;
  const run = blockShape[rank - 1]!;
  const rows = numElements(blockShape) / Math.max(run, 1);
  for (let r = 0; r < rows; r++) {
    let off = origin[rank - 1]!;
    let rem = r;
    for (let k = rank - 2; k >= 0; k--) {
      off += (origin[k]! + (rem % blockShape[k]!)) * strides[k]!;
      rem = Math.floor(rem / blockShape[k]!);
    }
    if (into) f.set(b.subarray(r * run, r * run + run), off);
    else b.set(f.subarray(off, off + run), r * run);
  }
}

/**
 * Split a host array by `sharding` and copy each block to its device (one copy per block, then device to device).
 * `only[p]` false leaves position p out (another process's device in a multi-process mesh): the array has a hole there.
 */
export function putSharded<D extends DType>(client: Client, data: HostData<D>, type: TensorType, sharding: ArraySharding, only?: readonly boolean[]): ShardedArray<D> {
  const dtype = type.dtype as D;
  const full = toHostArray(dtype, data) as HostArrayOf[DType];
  const n = numElements(type.shape);
  if (full.length !== n) throw new FlipError(`putSharded: ${full.length} elements for ${showType(type)} (${n} elements)`);
  const { mesh: m, spec } = sharding;
  if (spec.length !== type.shape.length) throw new FlipError(`putSharded: spec ${showSpec(spec)} has rank ${spec.length}, ${showType(type)} has ${type.shape.length}`);
  const local = localShape(spec, m, type.shape);
  const blocks = new Map<string, HostArrayOf[DType]>();
  const shards = new Array<Buffer<D>>(m.size);
  m.devices.forEach((device, p) => {
    if (only && !only[p]) return;
    const origin = shardOrigin(spec, m, type.shape, p);
    const key = origin.join();
    let block = blocks.get(key);
    if (!block) {
      block = local.join() === type.shape.join() ? full : newArray(dtype, numElements(local));
      if (block !== full) copyBlock(block, local, full, type.shape, origin, false);
      blocks.set(key, block);
    }
    shards[p] = client.toDevice(block as HostArrayOf[D], local, dtype, device);
  });
  return new ShardedArray<D>(type, sharding, shards);
}

/** A full copy of a host array on every device of the mesh. */
export function putReplicated<D extends DType>(client: Client, data: HostData<D>, type: TensorType, m: Mesh): ShardedArray<D> {
  return putSharded(client, data, type, { mesh: m, spec: type.shape.map(() => []) });
}

/** The same array in another layout (through the host: for setup and tests, not for a training loop). */
export async function reshard<D extends DType>(a: ShardedArray<D>, sharding: ArraySharding): Promise<ShardedArray<D>> {
  const client = a.shards[0]!.client;
  return putSharded(client, (await a.toHost()) as HostData<D>, a.type, sharding);
}

/** XLA debug options that dump the HLO module after the SPMD partitioner (and after all optimizations) into `dir`. */
export function dumpOverrides(dir: string): Record<string, string | boolean> {
  return { xla_dump_to: dir, xla_dump_hlo_as_text: true, xla_dump_hlo_pass_re: 'spmd-partitioning' };
}

/** The partitioned-HLO files XLA dumped into `dir` (post SPMD partitioner, then post optimization), newest module last. */
export function partitionedDumps(dir: string): string[] {
  const files = readdirSync(dir).filter((f) => /after_spmd-partitioning.*\.txt$|after_optimizations\.txt$/.test(f)).sort();
  return files.map((f) => path.join(dir, f));
}

/**
 * Compile a lowered program on the CPU plugin (one CPU device per partition) and have XLA dump its HLO after SPMD
 * partitioning into `dir`; returns the dumped files (what `flipc compile --dump-partitioned` shows).
 */
export async function dumpPartitioned(program: Program, dir: string): Promise<string[]> {
  const abs = path.resolve(dir);
  mkdirSync(abs, { recursive: true });
  const client = await openClient({ target: 'cpu', devices: program.numPartitions });
  try {
    const exe = await compileProgram(client, program, { cache: false, envOverrides: dumpOverrides(abs) });
    exe.dispose();
  } finally {
    client.dispose();
  }
  const files = partitionedDumps(abs);
  if (!files.length) throw new FlipError(`XLA wrote no partitioned HLO into ${abs}`);
  return files;
}

export interface MeshProgramOptions extends ProgramCompileOptions {
  /** Dump the partitioned HLO into this folder. */
  dumpTo?: string;
  /**
   * A mesh over several processes' devices (train/multiprocess/mesh.ts's globalMeshLayout): the PJRT device id of
   * each position (the device assignment) and which positions this process drives. Inputs are then uploaded to, and
   * results come back from, this process's positions only (the arrays have holes at the others').
   */
  placement?: MeshPlacement;
}

export interface MeshPlacement {
  deviceIds: readonly number[];
  addressable: readonly boolean[];
}

/** A host array with its tensor type (jit's HostTensor, or anything shaped like it). */
export interface HostLeaf {
  readonly type: TensorType;
  readonly data: HostData<DType>;
}

/** What a program on a mesh takes for a parameter: a ShardedArray, a single-device Buffer or DeviceTensor, or a host array. */
export type MeshInput = ShardedArray | Buffer | DeviceTensor | HostLeaf;

/** A program lowered over a mesh and compiled, runnable on its parameters' leaves. */
export interface MeshProgram {
  readonly program: Program;
  readonly sharded: ShardedFunc;
  readonly mlir: string;
  readonly executable: Executable;
  /**
   * Run on one input per parameter of the program, in order. ShardedArrays already in the parameter's layout pass
   * through; anything else is split by the parameter's sharding (through the host: the first step's state, each
   * step's batch). Returns one ShardedArray per result. `onUpload` counts the inputs that took the host path.
   */
  run(inputs: readonly MeshInput[], onUpload?: (param: number) => void): Promise<ShardedArray[]>;
}

/**
 * Compile a program that compiler/lower lowered over a mesh (`lower(fn, specs, {mesh, ...})`) and return it runnable
 * on its parameters' leaves: what a trainer needs in place of a single-device compile, then `program.run(leaves)`
 * every step; `ShardedArray.toHost()` for checkpoints and metrics.
 */
export async function meshProgram(client: Client, program: Program, opts: MeshProgramOptions = {}): Promise<MeshProgram> {
  const { dumpTo, ...compile } = opts;
  const m = program.mesh, sharded = program.sharding;
  if (!m || !sharded) throw new FlipError(`${program.name}: meshProgram needs a program lowered over a mesh (lower(..., {mesh}))`);
  const { placement, ...rest } = compile;
  const envOverrides = { ...rest.envOverrides, ...(dumpTo ? dumpOverrides(dumpTo) : {}) };
  const copts = { cache: false, ...rest, ...(Object.keys(envOverrides).length ? { envOverrides } : {}) };
  if (placement && (placement.deviceIds.length !== m.size || placement.addressable.length !== m.size)) {
    throw new FlipError(`${program.name}: a placement of ${placement.deviceIds.length} devices for mesh ${showMesh(m)} (${m.size} positions)`);
  }
  // Over several processes the device assignment names global device ids, which this client's devices do not all
  // have: the options are the program's own with that assignment (and no persistent cache: its key is one client's).
  const executable = placement
    ? await client.compile(program.mlir, { ...programCompileOptions(client, { ...program, mesh: undefined }, copts), numPartitions: m.size, numReplicas: 1, spmd: m.size > 1, portable: false, deviceIds: [...placement.deviceIds] })
    : await compileProgram(client, program, copts);
  const results = program.results.map((r) => ({ type: r.type, spec: r.spec! }));
  return {
    program, sharded, mlir: program.mlir, executable,
    async run(inputs, onUpload) {
      if (inputs.length !== program.params.length) throw new FlipError(`${program.name}: ${inputs.length} inputs for ${program.params.length} parameters`);
      const temporary: ShardedArray[] = [];
      const args = await Promise.all(inputs.map(async (l, i) => {
        const p = program.params[i]!;
        const want: ArraySharding = { mesh: m, spec: p.spec! };
        if (l instanceof ShardedArray && sameSharding(l.sharding, want)) return l;
        onUpload?.(i);
        const given = 'type' in l ? l.type : { ...p.type, dtype: l.dtype, shape: l.shape };
        if (given.dtype !== p.type.dtype || given.shape.join() !== p.type.shape.join())
          throw new FlipError(`${program.name}: input ${i} (${p.name ?? '?'}) is ${showType(given)}, the program takes ${showType(p.type)}`);
        const host = 'data' in l ? l.data : await l.toHost();
        const a = putSharded(client, host as HostData<DType>, p.type, want, placement?.addressable);
        temporary.push(a);
        return a;
      }));
      try {
        return await runSharded(executable, m, args, results, placement?.addressable);
      } finally {
        // Donated shards are gone already; the rest of the temporary copies go now.
        for (const a of temporary) for (const b of a.shards) if (b && !b.donated) b.dispose();
      }
    },
  };
}

/**
 * Run an SPMD executable compiled for `m` on sharded arguments: each device gets its shard of every argument, in
 * the executable's device order (its device assignment); each output comes back as the ShardedArray that
 * `results[i]` describes.
 */
export async function runSharded(exe: Executable, m: Mesh, args: readonly ShardedArray[], results: readonly { type: TensorType; spec: PartitionSpec }[], addressable?: readonly boolean[]): Promise<ShardedArray[]> {
  const devices = exe.devices.length ? exe.devices : [m.devices[0]!];
  const mine = addressable ? addressable.filter(Boolean).length : m.size;
  if (addressable && devices.length !== mine) throw new FlipError(`the executable runs on ${devices.length} devices of this process, the mesh ${showMesh(m)} puts ${mine} here`);
  if (!addressable && devices.length !== m.size) throw new FlipError(`the executable runs on ${devices.length} devices, the mesh ${showMesh(m)} has ${m.size}`);
  const positions = devices.map((d) => {
    const p = m.devices.indexOf(d);
    if (p < 0) throw new FlipError(`the executable runs on device ${d}, which is not in the mesh ${showMesh(m)} (devices ${m.devices.join(', ')})`);
    return p;
  });
  args.forEach((a, i) => {
    if (!sameMesh(a.sharding.mesh, m)) throw new FlipError(`argument ${i} (${a}) is on another mesh than ${showMesh(m)}`);
  });
  const lists = positions.map((p) => args.map((a) => a.shards[p]!));
  const outs = await exe.run(lists);
  if (outs[0] && outs[0].length !== results.length) throw new FlipError(`the executable returned ${outs[0].length} outputs, expected ${results.length}`);
  return results.map((r, i) => {
    const shards = new Array<Buffer>(m.size);
    outs.forEach((list, k) => (shards[positions[k]!] = list[i]!));
    return new ShardedArray(r.type, { mesh: m, spec: r.spec }, shards);
  });
}

// ---- shardedJit ----------------------------------------------------------------------------------------------

/** What a sharded jitted function takes where the traced function takes a Tensor. */
export type ShardedInput = HostTensor | DeviceTensor | ShardedArray;

export interface ShardedJitOptions extends Omit<ShardingOptions, 'mesh'> {
  client: Client | Promise<Client>;
  mesh: Mesh;
  /** Name of the traced function and module (default: the function's name). */
  name?: string;
  /** Dump the partitioned HLO of each compiled signature into this folder (XLA's `xla_dump_to`). */
  dumpTo?: string;
}

export interface ShardedJitStats {
  traces: number;
  compiles: number;
  calls: number;
  /** Arguments uploaded from the host (HostTensor, DeviceTensor) or moved to another layout through it. */
  uploads: number;
}

export interface ShardedJitted<A extends readonly unknown[], R> {
  (...args: { [K in keyof A]: MapLeaves<A[K], AnyTensor, ShardedInput> }): Promise<MapLeaves<R, AnyTensor, ShardedArray>>;
  readonly stats: Readonly<ShardedJitStats>;
  /** The sharded IR, the StableHLO text and the executable for these arguments' signature (traced and compiled if new). */
  lower(...args: { [K in keyof A]: MapLeaves<A[K], AnyTensor, ShardedInput> }): Promise<{ sharded: ShardedFunc; mlir: string; executable: Executable }>;
}

interface Compiled {
  program: MeshProgram;
  outTree: TreeDef;
}

const isInput = (x: unknown): x is ShardedInput => x instanceof HostTensor || x instanceof DeviceTensor || x instanceof ShardedArray;

/**
 * `jit` over a mesh: trace `fn` once per input signature, simplify, run the sharding pass (parameters by role and
 * logical axes, `shard()` constraints by the rules), compile SPMD with the mesh's device assignment, and run.
 * Host arguments are split by the parameter's sharding; ShardedArrays already in that layout are passed as they
 * are (a train step's outputs, fed back, are). Results come back as ShardedArrays in `fn`'s output structure.
 */
export function shardedJit<A extends readonly unknown[], R>(fn: (...args: A) => R, opts: ShardedJitOptions): ShardedJitted<A, R> {
  const stats: ShardedJitStats = { traces: 0, compiles: 0, calls: 0, uploads: 0 };
  const cache = new Map<string, Promise<Compiled>>();
  const name = opts.name ?? (fn.name || 'main');
  const client = () => Promise.resolve(opts.client);
  const { client: _c, name: _n, dumpTo, ...sharding } = opts;

  const compiled = (args: readonly unknown[]) => {
    if (isTracing()) throw new FlipError(`shardedJit(${name}) was called while tracing; inside traced code call the function itself`);
    const flat = flatten(args, { isLeaf: isInput });
    flat.leaves.forEach((l, i) => {
      if (!isInput(l)) throw new FlipError(`shardedJit(${name}): argument leaf '${flat.paths[i]}' must be a HostTensor, DeviceTensor or ShardedArray, got ${typeof l}`);
    });
    const leaves = flat.leaves as ShardedInput[];
    const types = leaves.map((l) => l.type);
    const key = `${showTreeDef(flat.treedef)}|${types.map(showType).join(';')}`;
    let entry = cache.get(key);
    if (!entry) {
      stats.traces++;
      const lowered = lower(fn as (...a: never[]) => unknown, unflatten<unknown[]>(flat.treedef, types), { ...sharding, name });
      stats.compiles++;
      entry = client()
        .then((c) => meshProgram(c, lowered, dumpTo ? { dumpTo } : {}))
        .then((program) => ({ program, outTree: lowered.outTree }));
      cache.set(key, entry);
      entry.catch(() => cache.delete(key));
    }
    return { leaves, entry };
  };

  const execute = async (leaves: readonly ShardedInput[], entry: Promise<Compiled>) => {
    const { program, outTree } = await entry;
    return unflatten(outTree, await program.run(leaves, () => stats.uploads++));
  };

  const call = (...args: readonly unknown[]) => {
    stats.calls++;
    const { leaves, entry } = compiled(args);
    return execute(leaves, entry);
  };
  const lowerFor = async (...args: readonly unknown[]) => {
    const { sharded, mlir, executable } = (await compiled(args).entry).program;
    return { sharded, mlir, executable };
  };
  return Object.assign(call, { stats, lower: lowerFor }) as unknown as ShardedJitted<A, R>;
}
