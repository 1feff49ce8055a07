// The typed face of the PJRT runtime: open a client on a target's plugin, compile StableHLO, move
// arrays to and from devices, run executables (one device or SPMD over many). Every PJRT event is a
// Promise; nothing here waits on the JS thread for device work.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { compileOptions, type CompileOptionsInit } from '../compiler/proto/index.ts';
import { addon, type ClientOptionValue, type NamedValue, type NativeBuffer, type NativeClient, type NativeExecutable } from './addon.ts';
import { DTYPE_INFO, isDType, isHostArrayOf, toHostArray, viewHostArray, type DType, type HostArrayOf, type HostData } from './dtype.ts';
import { CoordinationError, PjrtError, PluginError } from './errors.ts';
import type { Coordination } from './coordinator.ts';
import type * as HostStart from './host_start.mjs';
import { deviceLikelyPresent, loadPlugin, resolvePlugin, TARGETS, type InstalledPlugin, type ResolvedPlugin, type Target } from './plugins.ts';

export type { DType, HostArray, HostArrayOf, HostData } from './dtype.ts';
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, DTYPES } from './dtype.ts';
export { CoordinationError, PjrtError, PluginError, type PjrtCode } from './errors.ts';
export {
  agreeOn, COORDINATION_DEFAULTS, connect, joinProcessGroup, parseAddress, startCoordinator,
  type AgreeOptions, type ConnectOptions, type Coordination, type Coordinator, type CoordinatorOptions, type HeartbeatOptions, type JoinOptions, type ProcessPlan,
} from './coordinator.ts';
export type { ClientOptionValue, NamedValue } from './addon.ts';
export {
  cacheDir, cpuBuilds, defaultCpuBuild, deviceLikelyPresent, hasNvidiaGpu, hasTpuDevice, installPlugin, installedPlugins, pluginsDir, resolvePlugin,
  selectedCpuBuild, TARGETS, type CpuBuild, type CudaVersion, type InstalledPlugin, type InstallOptions, type ResolvedPlugin, type Target,
} from './plugins.ts';

// Finalizers for handles nobody disposed: the native object releases its PJRT resources (device
// memory is also reported to V8 as external memory, so forgotten buffers are collected under pressure).
const finalizer = new FinalizationRegistry<{ dispose(): void }>((native) => {
  try {
    native.dispose();
  } catch {
    // already gone with its client
  }
});

export interface OpenClientOptions {
  /** Which installed plugin to use. Default 'cpu'. */
  target?: Target;
  /** Path of a PJRT plugin .so; overrides the target's installed plugin and $PJRT_PLUGIN_PATH. */
  plugin?: string;
  /** cpu only: the number of CPU devices (the plugin's `cpu_device_count`). */
  devices?: number;
  /** Named options for PJRT_Client_Create, passed through as they are (integers as int64). */
  options?: Readonly<Record<string, ClientOptionValue>>;
  /**
   * A multi-process run: the coordination store this process joined (connect / joinProcessGroup). The plugin gets it
   * as its key-value callbacks (keys prefixed `keyPrefix`) and the create options its platform takes for the process's
   * place: `node_id`/`num_nodes` on gpu, none on tpu (libtpu finds its slice itself), `process_id` on a CPU plugin
   * that takes it (`processIdOption`); xla-cpu-pjrt runs one process only and is refused with one line.
   */
  store?: Coordination;
  /** gpu with `store`: the local GPUs this process drives (the plugin's `visible_devices`), e.g. [2, 3]. */
  visibleDevices?: readonly number[];
  /** With `store`: the key prefix (default as JAX: the platform's name and a colon, "cuda:", "tpu:", "cpu:"). */
  keyPrefix?: string;
  /** With `store` on a CPU plugin: it takes a `process_id` create option (lammps-jax-pjrt-cpu does). */
  processIdOption?: boolean;
}

/** What each platform's plugin is told about this process's place in a multi-process run. */
export function multiProcessCreateOptions(target: Target, store: Pick<Coordination, 'processIndex' | 'processCount'>, opts: Pick<OpenClientOptions, 'visibleDevices' | 'processIdOption'> = {}): Record<string, ClientOptionValue> {
  if (target === 'gpu') {
    return { node_id: store.processIndex, num_nodes: store.processCount, ...(opts.visibleDevices ? { visible_devices: [...opts.visibleDevices] } : {}) };
  }
  if (opts.visibleDevices) throw new PluginError(`visibleDevices is a gpu option; a ${target} client sees its host's devices`, 'INVALID_ARGUMENT');
  if (target === 'cpu' && opts.processIdOption) return { process_id: store.processIndex };
  return {};
}

/** The one line for a CPU plugin asked to run one program across processes. */
export function cpuMultiProcessRefusal(plugin: string, processes: number): string {
  return `the CPU plugin (${plugin}) runs one process only: it cannot run one program across ${processes} processes ` +
    `(XLA's CPU client does that with Gloo, outside any PJRT plugin); on CPU, run one process with --devices N ` +
    `(or --mesh data=N,...) for N virtual devices instead`;
}

/** The plugin a client runs on, with the attributes it reports about itself. */
export interface PluginInfo {
  target: Target;
  path: string;
  source: ResolvedPlugin['source'];
  package?: string;
  version?: string;
  /** PJRT C API version the plugin implements, e.g. "0.81". */
  apiVersion: string;
  /** `xla_version`, `stablehlo_current_version`, `stablehlo_minimum_version`, ... */
  attributes: Readonly<Record<string, NamedValue>>;
}

export interface Device {
  /** Position in `client.devices`; what `toDevice`, `RunOptions.device` and `buffer.device` use. */
  index: number;
  /** PJRT's global device id (what compile options' `deviceIds` use). */
  id: number;
  kind: string;
  description: string;
  processIndex?: number;
  /** This process drives it (then `index` is its place in `client.devices`; -1 otherwise). */
  addressable: boolean;
  localHardwareId?: number;
  attributes: Readonly<Record<string, NamedValue>>;
}

export interface DeviceMemoryStats {
  bytesInUse: number;
  peakBytesInUse?: number;
  numAllocs?: number;
  largestAllocSize?: number;
  bytesLimit?: number;
  bytesReserved?: number;
  peakBytesReserved?: number;
  bytesReservableLimit?: number;
  largestFreeBlockBytes?: number;
  poolBytes?: number;
  peakPoolBytes?: number;
}

export interface CompiledMemoryStats {
  generatedCodeSizeInBytes: number;
  argumentSizeInBytes: number;
  outputSizeInBytes: number;
  aliasSizeInBytes: number;
  tempSizeInBytes: number;
  hostGeneratedCodeSizeInBytes: number;
  hostArgumentSizeInBytes: number;
  hostOutputSizeInBytes: number;
  hostAliasSizeInBytes: number;
  hostTempSizeInBytes: number;
  peakMemoryInBytes?: number;
}

/** An element type and shape: what one device's argument buffer must be. */
export interface ArrayType {
  dtype: DType;
  shape: readonly number[];
}

export interface CompileOptions extends CompileOptionsInit {
  /** Reuse an executable compiled from the same module text and options (default true). */
  cache?: boolean;
  /**
   * The entry's parameters as one device holds them (the compiler's signature, as data). The plugin does not
   * check argument types and shapes (a wrong one would be read as if it were right, or past its end), so run()
   * checks them against this; without it arguments are passed unchecked.
   */
  parameters?: readonly ArrayType[];
}

export interface RunOptions {
  /** Single-device executables: the device to run on (default: the first argument's device, else device 0). */
  device?: number;
  /**
   * Inputs that may be donated (their memory reused for outputs the module aliases with them, via
   * `tf.aliasing_output` / `jax.buffer_donor`). Default: every input the module aliases. A donated
   * input buffer is unusable afterwards (`buffer.donated` becomes true).
   */
  donate?: readonly number[];
}

export interface OutputInfo {
  dtype: string;
  shape: readonly number[];
}

function disposedClient(): PjrtError {
  return new PjrtError('this PJRT client was disposed; open a new one with openClient()', 'FAILED_PRECONDITION');
}

// Checked before loading (libtpu spends minutes looking for a TPU that is not there), for the
// plugins flip knows: installed ones, or libtpu / the CUDA plugin given by path.
function deviceCheckPasses(resolved: ResolvedPlugin): boolean {
  const known = resolved.source === 'cache' || /^(libtpu.*|xla_cuda_plugin)\.so/.test(path.basename(resolved.library));
  return !known || deviceLikelyPresent(resolved.target);
}

/**
 * How the process's host memory behaves for a CPU client (docs/runtime.md, "Host memory"): 'keep' (the default) has
 * glibc malloc keep freed memory instead of unmapping it, so that blocks freed after one step are reused by the next
 * rather than faulted in and zeroed again (the plugin's per-execution temporary buffer too, when the process started
 * with one malloc arena: runtime-native/host_start.mjs); 'system' leaves glibc's defaults (`FLIP_HOST_MALLOC=system`).
 * Returns whether glibc took the setting.
 */
export function setHostMemory(mode: 'keep' | 'system'): boolean {
  return addon().keepHostMemory(mode === 'keep');
}

/**
 * FLIP_HOST_MALLOC's mode by host_start.mjs's rule (the one the start-up restart reads), refused by name when it is
 * neither mode. host_start.mjs is plain JS beside this file in the checkout and dist/ compiles only .ts, so it is
 * imported by URL from this module's source location: `import.meta.url` is the source file's in dist/ too
 * (scripts/build_js.mjs).
 */
async function hostMemoryMode(): Promise<'keep' | 'system'> {
  const { hostMallocMode } = (await import(new URL('./host_start.mjs', import.meta.url).href)) as typeof HostStart;
  const mode = hostMallocMode(process.env);
  if (mode) return mode;
  throw new PluginError(`FLIP_HOST_MALLOC=${process.env.FLIP_HOST_MALLOC}: use keep (the default) or system`, 'INVALID_ARGUMENT');
}

/** Open a PJRT client on `target`'s plugin (or an explicit plugin path). */
export async function openClient(opts: OpenClientOptions = {}): Promise<Client> {
  return openResolved(resolvePlugin(opts.target ?? 'cpu', opts.plugin), opts);
}

async function openResolved(resolved: ResolvedPlugin, opts: OpenClientOptions): Promise<Client> {
  const target = resolved.target;
  const name = resolved.installed ? `${resolved.installed.package} ${resolved.installed.version}` : resolved.library;
  const noDevice = (detail: string): PluginError =>
    new PluginError(`the ${target} plugin (${name}) is installed but found no ${target.toUpperCase()} device on this machine${detail}`, 'UNAVAILABLE');
  if (!deviceCheckPasses(resolved)) throw noDevice(target === 'tpu' ? ' (no Google TPU on its PCI bus)' : ' (no NVIDIA GPU device node or driver)');
  const plugin = loadPlugin(resolved);
  if (target === 'cpu') setHostMemory(await hostMemoryMode());
  const createOptions: Record<string, ClientOptionValue> = { ...opts.options };
  const store = opts.store;
  if (store) {
    if (store.failure()) throw new CoordinationError(store.failure()!, 'UNAVAILABLE');
    if (target === 'cpu' && store.processCount > 1 && !opts.processIdOption) throw new CoordinationError(cpuMultiProcessRefusal(name, store.processCount), 'UNIMPLEMENTED');
    Object.assign(createOptions, multiProcessCreateOptions(target, store, opts));
  }
  if (opts.devices !== undefined) {
    if (target !== 'cpu') {
      throw new PluginError(`the devices option sets the CPU plugin's device count; a ${target} client sees the machine's devices (pick them per buffer and run)`, 'INVALID_ARGUMENT');
    }
    if (!Number.isInteger(opts.devices) || opts.devices < 1) throw new PluginError(`devices must be a positive integer, got ${opts.devices}`, 'INVALID_ARGUMENT');
    createOptions.cpu_device_count = opts.devices;
  }
  let native: NativeClient;
  try {
    native = store
      ? await plugin.createClient(createOptions, store.native, opts.keyPrefix ?? `${target === 'gpu' ? 'cuda' : target}:`)
      : await plugin.createClient(createOptions);
  } catch (e) {
    // Accelerator plugins fail client creation when the machine has none of their devices.
    if (store && store.failure()) throw new CoordinationError(store.failure()!, 'UNAVAILABLE');
    if (target !== 'cpu' && e instanceof PjrtError && !store) throw Object.assign(noDevice(` (${e.message.split('\n')[0]})`), { cause: e });
    throw e;
  }
  const devices = native.devices();
  if (devices.length === 0) {
    native.dispose();
    throw noDevice('');
  }
  const v = plugin.apiVersion;
  const info: PluginInfo = {
    target,
    path: plugin.path,
    source: resolved.source,
    package: resolved.installed?.package,
    version: resolved.installed?.version,
    apiVersion: `${v.major}.${v.minor}`,
    attributes: plugin.attributes(),
  };
  return new Client(native, info, devices, native.globalDevices());
}

/** A connection to one plugin's devices. Dispose it last: its buffers and executables go with it. */
export class Client {
  readonly platform: { readonly name: string; readonly version: string };
  #native: NativeClient | undefined;
  #cache = new Map<string, Promise<Executable>>();

  /** @internal use openClient() */
  constructor(native: NativeClient, readonly plugin: PluginInfo, nativeDevices: ReturnType<NativeClient['devices']>, globalDevices?: ReturnType<NativeClient['devices']>) {
    this.#native = native;
    this.platform = native.platform();
    this.devices = nativeDevices;
    this.globalDevices = globalDevices ?? nativeDevices;
    this.processIndex = nativeDevices[0]?.processIndex ?? 0;
    finalizer.register(this, native, this);
  }

  /** This process's devices (the addressable ones): what buffers and runs use. */
  readonly devices: readonly Device[];
  /** Every process's devices, in PJRT's order (this process's among them with `addressable: true`). */
  readonly globalDevices: readonly Device[];
  /** This process's index (its devices' `processIndex`; 0 in a single-process run). */
  readonly processIndex: number;

  get target(): Target {
    return this.plugin.target;
  }

  get disposed(): boolean {
    return !this.#native || this.#native.disposed;
  }

  /** @internal */
  native(): NativeClient {
    if (!this.#native || this.#native.disposed) throw disposedClient();
    return this.#native;
  }

  /** Allocator statistics of a device, or null where the plugin does not report them (CPU). */
  memoryStats(device = 0): DeviceMemoryStats | null {
    return this.native().memoryStats(device) as DeviceMemoryStats | null;
  }

  /** Device ids the plugin assigns to (replica, partition), flattened replica-major. */
  defaultDeviceAssignment(numReplicas: number, numPartitions: number): number[] {
    return this.native().defaultDeviceAssignment(numReplicas, numPartitions);
  }

  /**
   * Compile a StableHLO module (MLIR text or bytecode). Partition and replica counts default to
   * the module's `mhlo.num_partitions` / `mhlo.num_replicas`. Executables are cached by module
   * and options: the same call twice returns the same Executable (pass `cache: false` to opt out).
   */
  async compile(module: string | Uint8Array, options: CompileOptions = {}): Promise<Executable> {
    const native = this.native();
    const { cache = true, parameters, ...init } = options;
    const key = cache ? cacheKey(module, { ...init, ...(parameters ? { parameters: parameters.map((p) => `${p.dtype}[${p.shape.join(",")}]`).join(";") } : {}) }) : undefined;
    const hit = key ? this.#cache.get(key) : undefined;
    if (hit) {
      return hit.then((exe) => (exe.disposed ? (this.#cache.delete(key!), this.compile(module, options)) : exe));
    }
    const portable = init.portable ?? (!init.deviceIds && (init.numPartitions ?? 1) * (init.numReplicas ?? 1) === 1);
    let bytes: Uint8Array;
    try {
      bytes = compileOptions(init);
    } catch (e) {
      throw new PjrtError((e as Error).message, 'INVALID_ARGUMENT');
    }
    const p = native.compile(module, bytes).then((exe) => new Executable(this, exe, portable, parameters ?? null));
    if (key) {
      this.#cache.set(key, p);
      p.catch(() => this.#cache.delete(key));
    }
    return p;
  }

  /**
   * Load an executable from `executable.serialize()`'s bytes (PJRT_Executable_DeserializeAndLoad): no XLA compile.
   * The bytes must come from the same plugin build (PJRT does not promise more); `options` are the ones the module
   * was compiled with (they give the loaded executable its partitioning, device assignment and argument checks).
   */
  async loadSerialized(bytes: Uint8Array, options: CompileOptions = {}): Promise<Executable> {
    const native = this.native();
    const { cache: _cache, parameters, ...init } = options;
    const portable = init.portable ?? (!init.deviceIds && (init.numPartitions ?? 1) * (init.numReplicas ?? 1) === 1);
    let opts: Uint8Array;
    try {
      opts = compileOptions(init);
    } catch (e) {
      throw new PjrtError((e as Error).message, 'INVALID_ARGUMENT');
    }
    return new Executable(this, await native.loadSerialized(bytes, opts), portable, parameters ?? null);
  }

  /** Copy a host array to a device (default device 0). The data is copied before this returns. */
  toDevice<D extends DType>(data: HostData<D>, shape: readonly number[], dtype: D, device = 0): Buffer<D> {
    const native = this.native();
    if (!isDType(dtype)) throw new PjrtError(`unknown dtype '${String(dtype)}'`, 'INVALID_ARGUMENT');
    if (ArrayBuffer.isView(data) && !isHostArrayOf(dtype, data)) {
      throw new PjrtError(`toDevice: a ${dtype} buffer takes a ${DTYPE_INFO[dtype].arrayText}, got a ${data.constructor.name}`, 'INVALID_ARGUMENT');
    }
    const array = toHostArray(dtype, data);
    const count = shape.reduce((a, b) => a * b, 1);
    if (array.length !== count * DTYPE_INFO[dtype].lanes) {
      const want = DTYPE_INFO[dtype].lanes === 2 ? `${count} complex elements: ${count * 2} numbers, (real, imaginary) pairs` : `${count} elements`;
      throw new PjrtError(`toDevice: ${array.length} ${DTYPE_INFO[dtype].lanes === 2 ? 'numbers' : 'elements'} given for shape [${shape.join(', ')}] (${want})`, 'INVALID_ARGUMENT');
    }
    return new Buffer<D>(this, native.bufferFromHost(array, dtype, shape, device));
  }

  /** Forget cached executables (they stay usable by whoever holds them). */
  clearCache(): void {
    this.#cache.clear();
  }

  /**
   * Release the client: every buffer and executable made from it is released too (PJRT objects
   * still used by work in flight go when that work completes, the PJRT client after them).
   */
  dispose(): void {
    if (!this.#native) return;
    this.#cache.clear();
    finalizer.unregister(this);
    this.#native.dispose();
    this.#native = undefined;
  }
}

function cacheKey(module: string | Uint8Array, init: CompileOptionsInit): string {
  const h = createHash('sha256').update(module).digest('hex');
  const sorted = (o: object): unknown =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v && typeof v === 'object' && !Array.isArray(v) ? sorted(v) : v]));
  return `${h}:${JSON.stringify(sorted(init), (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`;
}

/** A compiled program, loaded on its client's devices. */
export class Executable {
  readonly numOutputs: number;
  /** Client device indices it runs on, in the order SPMD argument lists follow. */
  readonly devices: readonly number[];
  readonly numReplicas: number;
  readonly numPartitions: number;
  /** Output element types and shapes (per device), or null where the plugin does not report them. */
  readonly outputs: readonly OutputInfo[] | null;
  readonly #native: NativeExecutable;
  readonly #portable: boolean;
  readonly #params: readonly ArrayType[] | null;

  /** @internal use client.compile() */
  constructor(readonly client: Client, native: NativeExecutable, portable: boolean, params: readonly ArrayType[] | null) {
    this.#native = native;
    this.#portable = portable;
    this.#params = params;
    this.numOutputs = native.numOutputs;
    this.devices = native.devices;
    const p = native.partitioning();
    this.numReplicas = p.numReplicas;
    this.numPartitions = p.numPartitions;
    const types = native.outputTypes();
    const dims = native.outputDims();
    this.outputs = types && dims && types.length === dims.length ? types.map((dtype, i) => ({ dtype, shape: dims[i]! })) : null;
    finalizer.register(this, native, this);
  }

  get disposed(): boolean {
    return this.#native.disposed;
  }

  /**
   * Run on one device (`args` a list of buffers) or SPMD on every device of the executable
   * (`args[d]` the shards for `devices[d]`). Resolves with the outputs once the devices are done.
   */
  run(args: readonly Buffer[], opts?: RunOptions): Promise<Buffer[]>;
  run(args: readonly (readonly Buffer[])[], opts?: RunOptions): Promise<Buffer[][]>;
  async run(args: readonly Buffer[] | readonly (readonly Buffer[])[], opts: RunOptions = {}): Promise<Buffer[] | Buffer[][]> {
    this.client.native();
    const perDevice = args.length > 0 && Array.isArray(args[0]);
    if (!perDevice && this.devices.length > 1) {
      throw new PjrtError(`this executable runs SPMD on ${this.devices.length} devices: pass one argument list per device (args[d] for device ${this.devices.join(', ')})`, 'INVALID_ARGUMENT');
    }
    const lists = (perDevice ? args : [args]) as readonly (readonly Buffer[])[];
    if (perDevice && lists.length !== Math.max(1, this.devices.length)) {
      throw new PjrtError(`this executable runs on ${this.devices.length} device(s) but ${lists.length} argument lists were given`, 'INVALID_ARGUMENT');
    }
    if (perDevice && this.devices.length > 1) {
      lists.forEach((list, d) =>
        list.forEach((b, i) => {
          if (b.device !== this.devices[d]) {
            throw new PjrtError(`argument ${i} of list ${d} is on device ${b.device}, but list ${d} runs on device ${this.devices[d]}: upload shard d with toDevice(..., devices[d])`, 'INVALID_ARGUMENT');
          }
        }),
      );
    }
    this.#checkArguments(lists);
    const nativeLists = lists.map((l) => l.map((b) => b.native()));
    let device: number | undefined;
    if (lists.length === 1 && this.#portable) device = opts.device ?? lists[0]![0]?.device ?? this.devices[0] ?? 0;
    const out = await this.#native.execute(nativeLists, device, opts.donate);
    const wrapped = out.map((l) => l.map((b) => new Buffer(this.client, b)));
    return perDevice ? wrapped : wrapped[0]!;
  }

  // The plugin does not check argument types and shapes against the program: check them against the signature the
  // compile was given. A wrong count is left to PJRT, which reports it.
  #checkArguments(lists: readonly (readonly Buffer[])[]): void {
    const params = this.#params;
    if (!params) return;
    lists.forEach((list, d) => {
      if (list.length !== params.length) return;
      list.forEach((b, i) => {
        const want = params[i];
        if (!want) return;
        if (b.dtype !== want.dtype || b.shape.length !== want.shape.length || b.shape.some((n, k) => n !== want.shape[k])) {
          const where = lists.length > 1 ? ` for device ${this.devices[d]}` : '';
          throw new PjrtError(
            `argument ${i}${where} is ${b.dtype}[${b.shape.join(',')}] but the program expects ${want.dtype}[${want.shape.join(',')}]` +
              (lists.length > 1 ? ' (the shard one device holds)' : ''),
            'INVALID_ARGUMENT',
          );
        }
      });
    });
  }

  /** The executable's name (from the module). */
  name(): string {
    return this.#native.name();
  }

  /** The optimized program as the plugin returns it: a serialized HloModuleProto (`format` "hlo" or "hlo_with_config"). */
  optimizedProgram(): { format: string; code: Uint8Array } {
    return this.#native.optimizedProgram();
  }

  /** XLA's cost analysis (flops, transcendentals, bytes accessed, ...), or null where unsupported. */
  costAnalysis(): Record<string, number> | null {
    const c = this.#native.costAnalysis();
    return c && (Object.fromEntries(Object.entries(c).filter(([, v]) => typeof v === 'number')) as Record<string, number>);
  }

  /** Compiled memory use (arguments, outputs, temporaries, code), or null where unsupported. */
  memoryStats(): CompiledMemoryStats | null {
    return this.#native.memoryStats() as CompiledMemoryStats | null;
  }

  fingerprint(): string | null {
    return this.#native.fingerprint();
  }

  /**
   * The plugin's serialization of this executable (PJRT_Executable_Serialize), for `client.loadSerialized` on a client
   * of the same plugin build. Throws a PjrtError (UNIMPLEMENTED) where the plugin cannot serialize.
   */
  serialize(): Uint8Array {
    return this.#native.serialize();
  }

  dispose(): void {
    finalizer.unregister(this);
    this.#native.dispose();
  }
}

/** An array on one device. */
export class Buffer<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  /** Index of its device in `client.devices`. */
  readonly device: number;
  readonly #native: NativeBuffer;

  /** @internal use client.toDevice() or executable.run() */
  constructor(readonly client: Client, native: NativeBuffer) {
    this.#native = native;
    this.dtype = native.dtype as D;
    this.shape = native.dims;
    this.device = native.device;
    finalizer.register(this, native, this);
  }

  get disposed(): boolean {
    return this.#native.disposed;
  }

  /** True once an execution consumed it as a donated input. */
  get donated(): boolean {
    return this.#native.donated;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** @internal */
  native(): NativeBuffer {
    return this.#native;
  }

  /** This buffer typed as holding `dtype` (outputs of run() are typed by any dtype); throws if it does not. */
  as<E extends DType>(dtype: E): Buffer<E> {
    if ((this.dtype as DType) !== dtype) throw new PjrtError(`this buffer holds ${this.dtype}, not ${dtype}`, 'INVALID_ARGUMENT');
    return this as unknown as Buffer<E>;
  }

  /** Copy to the host: a fresh typed array of the dtype's kind, row-major. */
  async toHost(): Promise<HostArrayOf[D]> {
    const bytes = await this.#native.toHost();
    if (!isDType(this.dtype)) throw new PjrtError(`no host array type for element type ${this.dtype}`, 'UNIMPLEMENTED');
    if (bytes.byteLength !== this.size * DTYPE_INFO[this.dtype].bytes) throw new PjrtError(`device returned ${bytes.byteLength} bytes for ${this.dtype}[${this.shape.join(',')}]`, 'INTERNAL');
    return viewHostArray(this.dtype, bytes);
  }

  /** Resolves when the buffer's value has been computed; rejects with the computation's error. */
  ready(): Promise<void> {
    return this.#native.ready();
  }

  /** Bytes the buffer occupies on its device. */
  onDeviceSizeInBytes(): number {
    return this.#native.onDeviceSizeInBytes();
  }

  dispose(): void {
    finalizer.unregister(this);
    this.#native.dispose();
  }
}

/** What `flip plugins` shows about one target's plugin. */
export interface PluginReport {
  target: Target;
  /** The cache entry (absent for a plugin given by path, or one not installed). */
  installed?: InstalledPlugin;
  path?: string;
  source?: ResolvedPlugin['source'];
  /** PJRT C API version the plugin implements. */
  apiVersion?: string;
  /** The plugin's own attributes: xla_version, stablehlo_current_version, stablehlo_minimum_version, ... */
  attributes?: Readonly<Record<string, NamedValue>>;
  platform?: { readonly name: string; readonly version: string };
  devices?: readonly Device[];
  /** Why it cannot run here, in one sentence (not installed, no device, failed to load). */
  error?: string;
}

/**
 * Installed plugins with their attributes and the devices they see: every target, or only the
 * plugin at `plugin` / $PJRT_PLUGIN_PATH when one is given.
 */
export async function pluginReport(opts: { plugin?: string; target?: Target } = {}): Promise<PluginReport[]> {
  const explicit = opts.plugin ?? process.env.PJRT_PLUGIN_PATH;
  const targets = explicit ? [opts.target ?? 'cpu'] : opts.target ? [opts.target] : TARGETS;
  const reports: PluginReport[] = [];
  for (const target of targets) {
    const report: PluginReport = { target };
    reports.push(report);
    let resolved: ResolvedPlugin;
    try {
      resolved = resolvePlugin(target, opts.plugin);
    } catch (e) {
      report.error = (e as Error).message;
      continue;
    }
    Object.assign(report, { installed: resolved.installed, path: resolved.library, source: resolved.source });
    if (!deviceCheckPasses(resolved)) {
      report.error = `no ${target.toUpperCase()} device on this machine, so the plugin was not loaded`;
      continue;
    }
    try {
      const plugin = loadPlugin(resolved);
      report.apiVersion = `${plugin.apiVersion.major}.${plugin.apiVersion.minor}`;
      report.attributes = plugin.attributes();
      const client = await openResolved(resolved, {});
      report.platform = client.platform;
      report.devices = client.devices;
      client.dispose();
    } catch (e) {
      report.error = (e as Error).message;
    }
  }
  return reports;
}
