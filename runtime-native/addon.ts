// Loads build/flip_pjrt.node and types what it exports; index.ts is the face users see.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { CoordinationError, PjrtError, PluginError, type PjrtCode } from './errors.ts';

export type NamedValue = string | number | boolean | number[];
export type ClientOptionValue = string | number | bigint | boolean | readonly number[];

export interface NativeDevice {
  index: number;
  id: number;
  kind: string;
  description: string;
  processIndex?: number;
  /** Whether this process drives it (then `index` is its place among the addressable devices, else -1). */
  addressable: boolean;
  localHardwareId?: number;
  attributes: Record<string, NamedValue>;
}

export interface NativeBuffer {
  readonly dtype: string;
  readonly dims: number[];
  readonly device: number;
  readonly disposed: boolean;
  readonly donated: boolean;
  onDeviceSizeInBytes(): number;
  toHost(): Promise<ArrayBuffer>;
  ready(): Promise<void>;
  dispose(): void;
}

export interface NativeExecutable {
  readonly numOutputs: number;
  readonly devices: number[];
  readonly disposed: boolean;
  execute(argLists: NativeBuffer[][], device: number | undefined, donate: readonly number[] | undefined): Promise<NativeBuffer[][]>;
  name(): string;
  partitioning(): { numReplicas: number; numPartitions: number };
  outputTypes(): string[] | null;
  outputDims(): number[][] | null;
  optimizedProgram(): { format: string; code: Uint8Array };
  costAnalysis(): Record<string, NamedValue> | null;
  memoryStats(): Record<string, number> | null;
  fingerprint(): string | null;
  /** PJRT_Executable_Serialize: the plugin's own bytes for the compiled executable. */
  serialize(): Uint8Array;
  dispose(): void;
}

export interface NativeClient {
  readonly disposed: boolean;
  platform(): { name: string; version: string };
  devices(): NativeDevice[];
  /** Every process's devices (PJRT_Client_Devices). */
  globalDevices(): NativeDevice[];
  memoryStats(device: number): Record<string, number> | null;
  defaultDeviceAssignment(numReplicas: number, numPartitions: number): number[];
  compile(code: string | Uint8Array, options: Uint8Array): Promise<NativeExecutable>;
  /** PJRT_Executable_DeserializeAndLoad of serialize()'s bytes (same plugin build), with optional compile options. */
  loadSerialized(bytes: Uint8Array, options?: Uint8Array): Promise<NativeExecutable>;
  bufferFromHost(data: ArrayBufferView, dtype: string, dims: readonly number[], device: number): NativeBuffer;
  dispose(): void;
}

export interface NativePlugin {
  readonly path: string;
  readonly apiVersion: { major: number; minor: number };
  attributes(): Record<string, NamedValue>;
  /** With `store`, the PJRT key-value callbacks read and write it, keys prefixed by `keyPrefix` (e.g. "cuda:"). */
  createClient(options: Record<string, ClientOptionValue>, store?: NativeCoordClient, keyPrefix?: string): Promise<NativeClient>;
}

/** The coordination store's client in this process (runtime-native/src/coord.h). */
export interface NativeCoordClient {
  readonly processId: number;
  readonly numProcesses: number;
  put(key: string | Uint8Array, value: string | Uint8Array): Promise<void>;
  get(key: string | Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  tryGet(key: string | Uint8Array): Promise<Uint8Array | null>;
  barrier(name: string, timeoutMs: number): Promise<void>;
  shutdown(timeoutMs: number): Promise<void>;
  failure(): string | null;
  abort(): void;
}

export interface NativeCoordServer {
  readonly port: number;
  /** drain (default true): send what is queued and give the peers 2 s to close first. */
  stop(drain?: boolean): void;
}

export interface NativeAddon {
  Plugin: new (path: string) => NativePlugin;
  CoordServer: new (bind: string, port: number, numProcesses: number, heartbeatIntervalMs?: number, heartbeatTimeoutMs?: number) => NativeCoordServer;
  connectCoordinator(host: string, port: number, processId: number, numProcesses: number, timeoutMs: number,
    heartbeatIntervalMs?: number, heartbeatTimeoutMs?: number): Promise<NativeCoordClient>;
  preload(path: string): string | null;
  setErrorFactory(f: (message: string, code: PjrtCode, kind: 'pjrt' | 'plugin' | 'usage' | 'coordination') => Error): void;
  /** Asynchronous work (executions, transfers, compiles) started and not yet delivered, in all threads. */
  inFlight(): number;
  /** Ends the process now with `code`, skipping exit handlers and static destructors (stdio flushed). */
  exitNow(code: number): never;
  /** glibc malloc keeps freed memory (no mmap for large blocks, no trimming): true on success. */
  keepHostMemory(on: boolean): boolean;
  /** The PJRT C API version of the header the addon was built against. */
  headerApiVersion: string;
  /** The oldest plugin API version it accepts. */
  minApiVersion: string;
}

// Exiting (process.exit(), e.g. on a second Ctrl-C, or the end of the program) while PJRT still
// runs work on its threads would run the plugin's static destructors under them: a segfault. With
// work in flight, the process ends here instead, after the 'exit' listeners registered after this
// one, with the same status.
function exitGuard(this: unknown, code: number): void {
  if (!loaded || loaded.inFlight() === 0) return;
  const listeners = process.listeners('exit');
  for (const l of listeners.slice(listeners.indexOf(exitGuard) + 1)) {
    try {
      (l as (code: number) => void).call(process, code);
    } catch {
      // an exit listener's error does not change the status
    }
  }
  loaded.exitNow(typeof process.exitCode === 'number' ? process.exitCode : code);
}

export const addonPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'flip_pjrt.node');

let loaded: NativeAddon | undefined;

export function addon(): NativeAddon {
  if (loaded) return loaded;
  if (!fs.existsSync(addonPath)) {
    throw new PluginError(`the flip native addon is not built (${addonPath} is missing): run \`npm run build:addon\` (or \`npm install\`)`, 'NOT_FOUND');
  }
  const a = createRequire(import.meta.url)(addonPath) as NativeAddon;
  a.setErrorFactory((message, code, kind) =>
    kind === 'plugin' ? new PluginError(message, code) : kind === 'coordination' ? new CoordinationError(message, code) : new PjrtError(message, code));
  if (isMainThread) process.on('exit', exitGuard);
  loaded = a;
  return a;
}
