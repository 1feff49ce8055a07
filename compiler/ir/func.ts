// Values, ops, functions and modules of the IR (typed SSA), and the builder that creates ops with checked types.
import { FlipError, ShapeError } from './errors.ts';
import type { Prim, PrimAttrs } from './prims.ts';
import { inferTypes } from './shape.ts';
import { showLoc, type Loc, type TensorType } from './types.ts';

/** An SSA value: a function parameter or one result of an op. */
export interface Value {
  readonly id: number;
  readonly type: TensorType;
  /** The op that defines it (undefined for parameters). */
  readonly def?: Op;
  /** Which result of `def` this is. */
  readonly index: number;
}

export interface Op<P extends Prim = Prim> {
  readonly prim: P;
  readonly attrs: PrimAttrs[P];
  readonly operands: readonly Value[];
  readonly results: readonly Value[];
  readonly loc?: Loc;
  /** Set on the ops of a `checkpoint` region: autodiff recomputes them in the backward pass instead of keeping them alive. */
  readonly remat?: RematTag;
}

/** Which forward values of a checkpointed region the backward pass may keep rather than recompute (JAX's names). */
export type RematPolicy = 'nothing_saveable' | 'everything_saveable' | 'dots_saveable' | 'dots_with_no_batch_dims_saveable';

/** Marks one `checkpoint` call's ops: `region` is unique per call. */
export interface RematTag {
  readonly region: number;
  readonly policy: RematPolicy;
}

/** Per-argument / per-result annotations that passes attach (sharding, donation, names from the pytree). */
export interface ArgInfo {
  /** Pytree path of this leaf, e.g. `params.encoder.block0.mlp.kernel`. */
  name?: string;
  /** HloSharding string set by the sharding pass. */
  sharding?: string;
  /**
   * Parameters only: the index of the result that this parameter's buffer is donated to (set by the donation pass;
   * the emitter writes it as `tf.aliasing_output`, which XLA reads as an input/output alias).
   */
  aliasOutput?: number;
}

export interface Func {
  readonly name: string;
  readonly params: readonly Value[];
  readonly ops: readonly Op[];
  readonly results: readonly Value[];
  readonly paramInfo: readonly ArgInfo[];
  readonly resultInfo: readonly ArgInfo[];
  readonly loc?: Loc;
}

export interface Module {
  readonly funcs: readonly Func[];
  /** Module attributes, e.g. `mhlo.num_partitions`. */
  readonly attrs: Readonly<Record<string, number | string | boolean>>;
}

let nextValueId = 0;
/** Fresh value ids are global so values from different builders never collide when functions are inlined. */
export function freshId(): number {
  return nextValueId++;
}

export type LocSource = () => Loc | undefined;

/**
 * Builds one Func. `emit` runs the primitive's shape rule; a ShapeError gains the op's source location,
 * so that a user sees `models/flip.ts:42:7` next to the shapes.
 */
export class FuncBuilder {
  private readonly ops: Op[] = [];
  private readonly params: Value[] = [];
  private readonly paramInfo: ArgInfo[] = [];
  private remat: RematTag | undefined;
  constructor(readonly name: string, private readonly locate: LocSource = () => undefined) {}

  param(type: TensorType, info: ArgInfo = {}): Value {
    const v: Value = { id: freshId(), type, index: this.params.length };
    this.params.push(v);
    this.paramInfo.push(info);
    return v;
  }

  emit<P extends Prim>(prim: P, operands: readonly Value[], attrs: PrimAttrs[P], loc: Loc | undefined = this.locate()): Value[] {
    let types: TensorType[];
    try {
      types = inferTypes(prim, operands.map((v) => v.type), attrs);
    } catch (e) {
      if (e instanceof ShapeError && loc) throw new ShapeError(`${showLoc(loc)}: ${e.message}`);
      throw e;
    }
    const results: Value[] = [];
    const op: Op<P> = { prim, attrs, operands, results, ...(loc ? { loc } : {}), ...(this.remat ? { remat: this.remat } : {}) };
    types.forEach((type, index) => results.push({ id: freshId(), type, def: op as Op, index }));
    this.ops.push(op as Op);
    return results;
  }

  /** Emit a one-result primitive. */
  emit1<P extends Prim>(prim: P, operands: readonly Value[], attrs: PrimAttrs[P], loc?: Loc): Value {
    const r = this.emit(prim, operands, attrs, loc ?? this.locate());
    if (r.length !== 1) throw new FlipError(`${prim} has ${r.length} results, expected one`);
    return r[0]!;
  }

  /** Tag every op emitted while `fn` runs as part of a checkpoint region (undefined: untagged). */
  withRemat<T>(tag: RematTag | undefined, fn: () => T): T {
    const saved = this.remat;
    this.remat = tag;
    try {
      return fn();
    } finally {
      this.remat = saved;
    }
  }

  /** Append an op built elsewhere (inlining, passes); its results keep their ids. */
  adopt(op: Op): void {
    this.ops.push(op);
  }

  finish(results: readonly Value[], resultInfo: readonly ArgInfo[] = results.map(() => ({})), loc?: Loc): Func {
    return { name: this.name, params: this.params, ops: this.ops, results, paramInfo: this.paramInfo, resultInfo, ...(loc ? { loc } : {}) };
  }
}

export function module(funcs: readonly Func[], attrs: Module['attrs'] = {}): Module {
  return { funcs, attrs };
}
