// A training program's compiled functions: lower a DSL function on fixed input specs (compiler/lower: trace, simplify,
// donation, StableHLO), compile it (programs/compile.ts), and run it on pytrees of device buffers.
//
// Unlike programs/jit (a cache keyed by input signature, host or device inputs), a train step has one signature for
// the whole run and donates its state: the state's input buffers are given to XLA to hold the new state, so params
// and optimizer moments are updated in place (JAX's `donate_argnums`, an argument attribute the emitter writes).
import type { Func, Loc } from '../compiler/ir/index.ts';
import { lower } from '../compiler/lower/index.ts';
import { flatten, type TensorSpec, type TreeDef } from '../compiler/trace/index.ts';
import { loadProgram } from '../programs/compile.ts';
import type { Client, Executable } from '../runtime-native/index.ts';

export interface CompiledFunction {
  readonly name: string;
  readonly func: Func;
  readonly mlir: string;
  readonly executable: Executable;
  readonly inTree: TreeDef;
  readonly outTree: TreeDef;
  /** Argument leaves donated (their buffers are consumed by a run). */
  readonly donated: readonly number[];
  readonly compileSeconds: number;
  /** Where compileSeconds went: tracing + IR passes, emitting StableHLO, XLA's compile (or the cache's load). */
  readonly phases: { readonly traceSeconds: number; readonly lowerSeconds: number; readonly xlaSeconds: number };
  /** Run on argument pytrees whose leaves are device Buffers (flatten order = the traced arguments' order). */
  run(args: readonly unknown[]): Promise<unknown>;
}

export interface CompileFunctionOptions {
  client: Client;
  name: string;
  /**
   * Positional arguments whose buffers are donated. The function must return their new values first, as one
   * pytree per donated argument with the same leaves and types (`(state, batch) => [newState, metrics]`).
   */
  donate?: readonly number[];
  /** Called with what is happening (tracing, lowering, compiling), for progress output. */
  log?: (msg: string) => void;
  /**
   * XLA's backend (LLVM) optimization level, 0-3; default XLA's own (3). Level 0 compiles several times faster and
   * runs elementwise code about half as fast: right for programs run once (state init) and for tests.
   */
  optLevel?: number;
  /** The function's declaration, for the module's function location (compiler/lower's `loc`). */
  loc?: Loc;
}

/** Lower `fn` on `specs` (pytrees of TensorSpecs), compile; see {@link CompiledFunction}. */
export async function compileFunction(fn: (...args: never[]) => unknown, specs: readonly unknown[], opts: CompileFunctionOptions): Promise<CompiledFunction> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  log(`${opts.name}: tracing`);
  const program = lower(fn, specs, { name: opts.name, ...(opts.donate ? { donate: opts.donate } : {}), ...(opts.loc ? { loc: opts.loc } : {}), log });
  const t1 = performance.now();
  log(`${opts.name}: compiling with XLA (${opts.client.platform.name}) unless the compilation cache has it; traced in ${((t1 - t0) / 1000).toFixed(1)}s`);
  // Cached by module text and options on the client: a second run in the same process (tests, resume) reuses it.
  const loaded = await loadProgram(opts.client, program, opts.optLevel === undefined ? {} : { optLevel: opts.optLevel });
  const t2 = performance.now();
  const compileSeconds = (t2 - t0) / 1000;
  const phases = { traceSeconds: program.seconds.trace, lowerSeconds: program.seconds.emit, xlaSeconds: (t2 - t1) / 1000 };
  log(`${opts.name}: ${loaded.cached ? 'loaded from the compilation cache' : 'compiled'} in ${compileSeconds.toFixed(1)}s`);
  return {
    name: opts.name, func: program.func, mlir: program.mlir, executable: loaded.executable, inTree: program.inTree, outTree: program.outTree,
    donated: program.donated, compileSeconds, phases, run: loaded.run,
  };
}

/** The leaves of a pytree of specs, as `[path, spec]`. */
export function specLeaves(tree: unknown): [string, TensorSpec][] {
  const f = flatten<TensorSpec>(tree);
  return f.leaves.map((s, i) => [f.paths[i]!, s]);
}
