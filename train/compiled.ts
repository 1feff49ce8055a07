// A training program's compiled functions: trace a DSL function once on fixed input specs, simplify, lower to
// StableHLO, mark the donated inputs, compile through PJRT, and run it on pytrees of device buffers.
//
// Unlike runtime-native's `jit` (a cache keyed by input signature, host or device inputs), a train step has one
// signature for the whole run and donates its state: the state's input buffers are given to XLA to hold the new
// state, so params and optimizer moments are updated in place (JAX's `donate_argnums`). Donation is the module's
// `tf.aliasing_output` argument attribute, which the PJRT plugin reads at compile time; the emitter has no field for
// it yet, so it is added to the emitted text here.
import type { Func } from '../compiler/ir/index.ts';
import { simplify } from '../compiler/passes/index.ts';
import { emitFunc } from '../compiler/stablehlo/index.ts';
import { flatten, traceFunc, unflatten, type TensorSpec, type TreeDef } from '../compiler/trace/index.ts';
import type { Buffer, Client, Executable } from '../runtime-native/index.ts';
import { FlipError, showType } from '../compiler/ir/index.ts';

/** Add `tf.aliasing_output = out` to the entry's argument `arg` for each [arg, out] pair. */
export function withAliasing(mlir: string, pairs: ReadonlyArray<readonly [number, number]>): string {
  if (!pairs.length) return mlir;
  const alias = new Map(pairs);
  const start = mlir.indexOf('func.func public @main(');
  if (start < 0) throw new FlipError('withAliasing: no public @main in the module');
  const end = mlir.indexOf('\n', start);
  const line = mlir.slice(start, end);
  let out = '';
  let at = 0;
  const arg = /%arg(\d+): tensor<[^>]*>/g;
  for (let m = arg.exec(line); m; m = arg.exec(line)) {
    const k = alias.get(Number(m[1]));
    const after = m.index + m[0].length;
    if (k === undefined) continue;
    const attr = `tf.aliasing_output = ${k} : i32`;
    if (line.startsWith(' {', after)) {
      // An attribute dictionary already: add ours before its closing brace (strings may hold braces, e.g. shardings).
      let i = after + 2, depth = 1;
      for (; i < line.length && depth > 0; i++) {
        const ch = line[i];
        if (ch === '"') {
          for (i++; i < line.length && line[i] !== '"'; i++) {
            if (line[i] === '\\') i++;
          }
        } else if (ch === '{') depth++;
        else if (ch === '}') depth--;
      }
      const close = i - 1;
      out += line.slice(at, close) + `, ${attr}`;
      at = close;
      arg.lastIndex = close;
    } else {
      out += line.slice(at, after) + ` {${attr}}`;
      at = after;
    }
  }
  out += line.slice(at);
  return mlir.slice(0, start) + out + mlir.slice(end);
}

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
}

/** Trace `fn` on `specs` (pytrees of TensorSpecs), lower, compile; see {@link CompiledFunction}. */
export async function compileFunction(fn: (...args: never[]) => unknown, specs: readonly unknown[], opts: CompileFunctionOptions): Promise<CompiledFunction> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  log(`${opts.name}: tracing`);
  const traced = traceFunc(fn, specs, { name: opts.name });
  const func = simplify(traced.func, { dropStopGradient: true });
  if (traced.captured.length) throw new FlipError(`${opts.name}: the traced function closed over tensors of another trace`);
  const leafArg = flatten(specs).paths.map((p) => Number(p.split('.')[0]));
  const donated = leafArg.flatMap((a, i) => ((opts.donate ?? []).includes(a) ? [i] : []));
  // Donated leaf k (in order) aliases result k: the function returns the donated arguments' new values first.
  donated.forEach((leaf, k) => {
    const p = func.params[leaf]!.type, r = func.results[k]?.type;
    if (!r || showType(p) !== showType(r)) {
      throw new FlipError(`${opts.name}: donated input ${func.paramInfo[leaf]?.name ?? leaf} is ${showType(p)} but result ${k} is ${r ? showType(r) : 'missing'}: return the donated arguments' new values first, leaf for leaf`);
    }
  });
  log(`${opts.name}: lowering ${func.ops.length} ops to StableHLO`);
  const mlir = withAliasing(emitFunc(func), donated.map((leaf, k) => [leaf, k] as const));
  const t1 = performance.now();
  log(`${opts.name}: compiling with XLA (${opts.client.platform.name}), traced in ${((t1 - t0) / 1000).toFixed(1)}s`);
  // Cached by module text and options on the client: a second run in the same process (tests, resume) reuses it.
  const executable = await opts.client.compile(mlir, opts.optLevel === undefined ? {} : { envOverrides: { xla_backend_optimization_level: opts.optLevel } });
  const compileSeconds = (performance.now() - t0) / 1000;
  log(`${opts.name}: compiled in ${compileSeconds.toFixed(1)}s`);
  const nParams = func.params.length;
  return {
    name: opts.name, func, mlir, executable, inTree: traced.inTree, outTree: traced.outTree, donated, compileSeconds,
    async run(args: readonly unknown[]): Promise<unknown> {
      const leaves = flatten<Buffer>(args, { isLeaf: (x) => typeof (x as Buffer | null)?.toHost === 'function' }).leaves;
      if (leaves.length !== nParams) throw new FlipError(`${opts.name}: ${leaves.length} argument buffers for ${nParams} parameters`);
      const outs = await executable.run(leaves);
      return unflatten(traced.outTree, outs);
    },
  };
}

/** The leaves of a pytree of specs, as `[path, spec]`. */
export function specLeaves(tree: unknown): [string, TensorSpec][] {
  const f = flatten<TensorSpec>(tree);
  return f.leaves.map((s, i) => [f.paths[i]!, s]);
}
