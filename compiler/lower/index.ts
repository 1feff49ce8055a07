// compiler/lower: the one compile pipeline. A DSL function and its input specs → trace → simplify → (sharding) →
// (donation) → StableHLO, returned as a Program: the IR, the module text, and its signature and shardings as data.
// jit, sharded runs, the trainer and `flipc compile` all lower through here, so the module flipc prints is the one
// the runtime compiles; nothing downstream patches the text or parses it back.
import { FlipError } from '../ir/errors.ts';
import type { Func } from '../ir/func.ts';
import type { Loc, TensorType } from '../ir/types.ts';
import { donate as donatePass, localShape, shardFunc, simplify, type Mesh, type PartitionSpec, type ShardedFunc, type ShardingOptions } from '../passes/index.ts';
import { emitFunc } from '../stablehlo/index.ts';
import { flatten, traceFunc, type TreeDef } from '../trace/index.ts';

export interface LowerOptions extends Partial<Omit<ShardingOptions, 'mesh'>> {
  /** Name of the traced function and of the module (default: the function's name, else `main`). */
  name?: string;
  /**
   * Split the program over this mesh (SPMD): parameters by role and logical axes, `shard()` constraints by the rules
   * (see compiler/passes shardFunc). Absent: a one-device program.
   */
  mesh?: Mesh;
  /**
   * Positional arguments whose buffers are donated (JAX's `donate_argnums`). The function must return their new
   * values first, leaf for leaf (`(state, batch) => [newState, metrics]`): donated leaf k aliases result k.
   */
  donate?: readonly number[];
  /** Names of the positional arguments (default: read from the function's source), the roots of parameter names. */
  argNames?: readonly string[];
  /**
   * The function's location in the module (`func.func ... loc(...)`): its declaration, where the caller knows it
   * (compiler/load's declarationLoc). Default: where lower() was called from.
   */
  loc?: Loc;
  /** Progress output: called once tracing and simplification are done, before emitting (`<name>: lowering N ops`). */
  log?: (msg: string) => void;
}

/** One parameter or result of a program. */
export interface ProgramArg {
  /** Its pytree path (`state.params.img_encoder.cls`); results: the path in what the function returned. */
  readonly name?: string;
  /** The global type. */
  readonly type: TensorType;
  /** Mesh programs: how it is split over the mesh. */
  readonly spec?: PartitionSpec;
  /** The shape one device holds (the global shape on one device). */
  readonly localShape: readonly number[];
  /** Parameters: the result its buffer is donated to. */
  readonly aliasOutput?: number;
}

/** What lowering made: everything a runtime needs to compile and run it, as data. */
export interface Program {
  readonly name: string;
  /** The final IR (simplified, sharded, donation marked): what `mlir` prints. */
  readonly func: Func;
  /** The StableHLO module text. */
  readonly mlir: string;
  /** The structure of the argument list (its tensor leaves are `params`, in order). */
  readonly inTree: TreeDef;
  /** The structure of the result (its leaves are `results`, in order). */
  readonly outTree: TreeDef;
  readonly params: readonly ProgramArg[];
  readonly results: readonly ProgramArg[];
  /** Parameter leaves donated, in order (donated leaf k aliases result k). */
  readonly donated: readonly number[];
  /** The mesh a sharded program runs on; undefined: one device. */
  readonly mesh?: Mesh;
  /** `mhlo.num_partitions` and the compile options' partition count. */
  readonly numPartitions: number;
  readonly numReplicas: number;
  /** The sharding pass's result (leaf roles, notes) for mesh programs. */
  readonly sharding?: ShardedFunc;
  /** Wall seconds of tracing + the IR passes, and of emitting the StableHLO text (for benchmarks and logs). */
  readonly seconds: { readonly trace: number; readonly emit: number };
}

/** Trace `fn` on `args` (pytrees of TensorSpecs and static JS values) and lower it; see {@link Program}. */
export function lower(fn: (...args: never[]) => unknown, args: readonly unknown[], opts: LowerOptions = {}): Program {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  const t = traceFunc(fn, args, { ...(opts.name !== undefined ? { name: opts.name } : {}), ...(opts.argNames ? { argNames: opts.argNames } : {}) });
  const traced = opts.loc ? { ...t, func: { ...t.func, loc: opts.loc } } : t;
  const name = traced.func.name;
  if (traced.captured.length) throw new FlipError(`${name}: the traced function closed over tensors of another trace`);
  let func = simplify(traced.func, { dropStopGradient: true });

  // Donated positional arguments → their tensor leaves (the flat order is func.params' order).
  const leafArg = flatten(args).paths.map((p) => Number(p.split('.')[0]));
  const donated = leafArg.flatMap((a, i) => ((opts.donate ?? []).includes(a) ? [i] : []));

  let sharding: ShardedFunc | undefined;
  if (opts.mesh) {
    const { mesh, rules, partitionStates, roleOf } = opts;
    sharding = shardFunc(func, { mesh, ...(rules ? { rules } : {}), ...(partitionStates !== undefined ? { partitionStates } : {}), ...(roleOf ? { roleOf } : {}) });
    func = sharding.func;
  }
  func = donatePass(func, donated.map((leaf, k) => [leaf, k] as const), name);
  const numPartitions = sharding?.numPartitions ?? 1;
  log(`${name}: lowering ${func.ops.length} ops to StableHLO`);
  const t1 = performance.now();
  const mlir = emitFunc(func, { moduleName: name, numPartitions });
  const seconds = { trace: (t1 - t0) / 1000, emit: (performance.now() - t1) / 1000 };

  const arg = (i: number, kind: 'param' | 'result'): ProgramArg => {
    const v = kind === 'param' ? func.params[i]! : func.results[i]!;
    const info = (kind === 'param' ? func.paramInfo : func.resultInfo)[i] ?? {};
    const leaf = sharding ? (kind === 'param' ? sharding.params : sharding.results)[i] : undefined;
    return {
      ...(info.name !== undefined ? { name: info.name } : {}),
      type: v.type,
      ...(leaf ? { spec: leaf.spec } : {}),
      localShape: leaf && opts.mesh ? localShape(leaf.spec, opts.mesh, v.type.shape) : v.type.shape,
      ...(info.aliasOutput !== undefined ? { aliasOutput: info.aliasOutput } : {}),
    };
  };
  return {
    name, func, mlir, inTree: traced.inTree, outTree: traced.outTree,
    params: func.params.map((_, i) => arg(i, 'param')),
    results: func.results.map((_, i) => arg(i, 'result')),
    donated,
    ...(opts.mesh ? { mesh: opts.mesh } : {}),
    numPartitions, numReplicas: 1,
    ...(sharding ? { sharding } : {}),
    seconds,
  };
}
