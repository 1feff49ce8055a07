// A lowered Program (compiler/lower) compiled on a client: the compile options come from the program's data (its
// partition count, its mesh's device assignment, its per-device parameter types), never from reading the text back.
import { readFileSync } from 'node:fs';
import { FlipError } from '../compiler/ir/errors.ts';
import type { Func, PrimAttrs } from '../compiler/ir/index.ts';
import type { Program } from '../compiler/lower/index.ts';
import { showMesh, type Mesh } from '../compiler/passes/index.ts';
import type { EnvOverride } from '../compiler/proto/index.ts';
import { flatten, unflatten } from '../compiler/trace/index.ts';
import type { Buffer, Client, CompileOptions, Executable } from '../runtime-native/index.ts';
import { defaultCompileCache, dumpsFiles, loadedFromCache, type CompileCache } from './cache.ts';

export interface ProgramCompileOptions {
  /**
   * XLA's backend (LLVM) optimization level, 0-3; default XLA's own (3). Level 0 compiles several times faster and
   * runs elementwise code about half as fast: right for programs run once (state init) and for tests.
   */
  optLevel?: number;
  /** XLA debug options by name, e.g. a dump folder's. */
  envOverrides?: Readonly<Record<string, EnvOverride>>;
  /** Reuse an executable of the same module and options compiled earlier on this client (default true). */
  cache?: boolean;
  /**
   * The persistent compilation cache (programs/cache.ts): load the executable a compile of the same module, options
   * and plugin build stored earlier, in this process or another, instead of compiling; store it after compiling.
   * Default: {@link defaultCompileCache} (on, unless `FLIP_COMPILE_CACHE=0`); false: compile with XLA.
   */
  compileCache?: CompileCache | false;
}

/**
 * Compile options for a program partitioned over `m`: one partition per mesh position, SPMD on, and the device
 * assignment mapping partition p to the PJRT id of client device `m.devices[p]`. A one-device mesh compiles
 * unpartitioned, pinned to its device.
 */
export function meshCompileOptions(client: Client, m: Mesh): CompileOptions {
  for (const d of m.devices) if (!client.devices[d]) throw new FlipError(`mesh ${showMesh(m)} uses device ${d}, but the ${client.target} client has ${client.devices.length} devices`);
  return { numPartitions: m.size, numReplicas: 1, spmd: m.size > 1, portable: false, deviceIds: m.devices.map((d) => client.devices[d]!.id) };
}

let bf16Arithmetic: boolean | undefined;
/** Whether this machine's CPU has bf16 arithmetic (AVX512_BF16 or AMX-BF16 in /proc/cpuinfo's flags). */
export function cpuHasBf16(): boolean {
  if (bf16Arithmetic === undefined) {
    let flags = '';
    try {
      flags = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      // not Linux: assume the CPU has it (XLA's defaults)
      flags = 'avx512_bf16';
    }
    bf16Arithmetic = /\b(avx512_bf16|amx_bf16)\b/.test(flags);
  }
  return bf16Arithmetic;
}

/** Whether a program computes in bf16 anywhere (model.dtype = 'bfloat16'), from its ops' result types. */
export function computesInBf16(p: Program): boolean {
  const inBf16 = (f: Func): boolean =>
    f.ops.some((op) => op.results.some((r) => r.type.dtype === 'bf16') || (op.prim === 'scan' && inBf16((op.attrs as PrimAttrs['scan']).body)));
  return inBf16(p.func);
}

/**
 * XLA options that a program's data and the machine call for, beyond XLA's defaults. On a CPU without bf16 arithmetic,
 * a bf16 program compiles without YNNPACK fusions (`xla_cpu_experimental_ynn_fusion_type` empty): jaxlib 0.11.2's XLA
 * (the lammps build) hands bf16 elementwise work fused around dots to YNNPACK, whose kernels for it on such a CPU made
 * flip_small's bf16 step 8x slower than XLA's own loops (docs/performance.md, "bf16 on a CPU without it"). The
 * xla-cpu-pjrt build forms no YNNPACK fusion and accepts the option as it is.
 */
export function machineEnvOverrides(client: Client, p: Program): Record<string, EnvOverride> {
  if (client.target !== 'cpu' || cpuHasBf16() || !computesInBf16(p)) return {};
  return { xla_cpu_experimental_ynn_fusion_type: '' };
}

/** The compile options a program's own data implies (and the caller's XLA options). */
export function programCompileOptions(client: Client, p: Program, opts: ProgramCompileOptions = {}): CompileOptions {
  const env: Record<string, EnvOverride> = {
    ...machineEnvOverrides(client, p), ...opts.envOverrides, ...(opts.optLevel !== undefined ? { xla_backend_optimization_level: opts.optLevel } : {}),
  };
  return {
    ...(p.mesh ? meshCompileOptions(client, p.mesh) : { numPartitions: p.numPartitions, numReplicas: p.numReplicas }),
    parameters: p.params.map((a) => ({ dtype: a.type.dtype, shape: a.localShape })),
    ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
    ...(Object.keys(env).length ? { envOverrides: env } : {}),
  };
}

/**
 * Compile `p` on `client` (see {@link programCompileOptions}), through the persistent compilation cache unless
 * `opts.compileCache` is false or FLIP_COMPILE_CACHE=0 (and never for a compile asked to dump XLA's files).
 */
export async function compileProgram(client: Client, p: Program, opts: ProgramCompileOptions = {}): Promise<Executable> {
  const options = programCompileOptions(client, p, opts);
  const disk = opts.compileCache === undefined ? defaultCompileCache() : opts.compileCache;
  if (!disk || dumpsFiles(options)) return client.compile(p.mlir, options);
  return disk.compile(client, p.mlir, options, p.name);
}

export { loadedFromCache };

/** A one-device program with its executable: runs on pytrees of device Buffers in the traced arguments' structure. */
export interface LoadedProgram {
  readonly program: Program;
  readonly executable: Executable;
  /** Seconds from the start of compiling to the executable. */
  readonly compileSeconds: number;
  /** The executable was loaded from the persistent compilation cache (XLA did not compile). */
  readonly cached: boolean;
  /** Run on argument pytrees whose leaves are device Buffers (flatten order = the traced arguments' order). */
  run(args: readonly unknown[]): Promise<unknown>;
}

const isBuffer = (x: unknown): x is Buffer => typeof (x as Buffer | null)?.toHost === 'function';

/** Compile a one-device program and wrap it to run on pytrees of Buffers. */
export async function loadProgram(client: Client, p: Program, opts: ProgramCompileOptions = {}): Promise<LoadedProgram> {
  if (p.mesh && p.mesh.size > 1) throw new FlipError(`${p.name}: a program over mesh ${showMesh(p.mesh)} runs through programs/sharded.ts, not loadProgram`);
  const t0 = performance.now();
  const executable = await compileProgram(client, p, opts);
  const compileSeconds = (performance.now() - t0) / 1000;
  const n = p.params.length;
  return {
    program: p, executable, compileSeconds, cached: loadedFromCache(executable),
    async run(args) {
      const leaves = flatten<Buffer>(args, { isLeaf: isBuffer }).leaves;
      if (leaves.length !== n) throw new FlipError(`${p.name}: ${leaves.length} argument buffers for ${n} parameters`);
      return unflatten(p.outTree, await executable.run(leaves));
    },
  };
}
