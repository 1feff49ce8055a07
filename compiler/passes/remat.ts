// Rematerialization for autodiff: which forward values of a checkpoint region the backward may keep (policies), how it
// recomputes the rest, and a measure of what a VJP function keeps alive between its forward and backward parts.
import { DTYPE_INFO, numElements, type FuncBuilder, type Func, type Op, type PrimAttrs, type RematPolicy, type RematTag, type Value } from '../ir/index.ts';

/** Whether the backward may use `op`'s forward results as they are (a residual) rather than recompute them. */
export const SAVEABLE: Record<RematPolicy, (op: Op) => boolean> = {
  nothing_saveable: () => false,
  everything_saveable: () => true,
  dots_saveable: (op) => op.prim === 'dot_general',
  // FLIP's `remat_policy: 'minimal'`: keep weight matmuls (no batch dims), recompute attention's batched dots and the rest.
  dots_with_no_batch_dims_saveable: (op) => op.prim === 'dot_general' && (op.attrs as PrimAttrs['dot_general']).lhsBatch.length === 0,
};

export const REMAT_POLICIES = Object.keys(SAVEABLE) as RematPolicy[];

/**
 * Recomputes checkpointed forward values inside the backward pass, on demand and once per region.
 *
 * A value the region takes from outside, or saves under its policy, enters the recomputation through an
 * `optimization_barrier` together with an *anchor*: a cotangent that exists only once the backward has reached the
 * region. So XLA can neither CSE the recomputation with the forward (JAX's `prevent_cse`) nor schedule it early,
 * and only the barrier's inputs stay alive from forward to backward. (JAX's remat puts the outgoing cotangents in its
 * barrier too.) Measured with the CPU plugin (xla-cpu-pjrt 0.0.1): XLA CPU expands optimization barriers before its
 * CSE, so there the recomputation is merged back into the forward and saves nothing. JAX relies on the barriers
 * surviving on GPU/TPU; that is not verified here (no accelerator was available).
 */
export class Recompute {
  private readonly regions = new Map<number, { anchor: Value; memo: Map<number, Value> }>();

  /** `forward(v)`: the forward copy of old value `v`. */
  constructor(private readonly b: FuncBuilder, private readonly forward: (v: Value) => Value) {}

  /** The value of old `v` as the backward of an op in region `tag` sees it; `anchor` is used on the region's first request. */
  primal(tag: RematTag, v: Value, anchor: Value): Value {
    let region = this.regions.get(tag.region);
    if (!region) this.regions.set(tag.region, (region = { anchor, memo: new Map() }));
    return this.get(tag, region, v);
  }

  private get(tag: RematTag, region: { anchor: Value; memo: Map<number, Value> }, v: Value): Value {
    const hit = region.memo.get(v.id);
    if (hit) return hit;
    const op = v.def;
    const recompute = op && (op.operands.length === 0 || (op.remat?.region === tag.region && !SAVEABLE[tag.policy](op)));
    if (!recompute) {
      const [kept] = this.b.emit('optimization_barrier', [this.forward(v), region.anchor], {}, op?.loc);
      region.memo.set(v.id, kept!);
      return kept!;
    }
    const ins = op.operands.map((o) => this.get(tag, region, o));
    const outs = this.b.emit(op.prim, ins, op.attrs, op.loc);
    op.results.forEach((r, k) => region.memo.set(r.id, outs[k]!));
    return region.memo.get(v.id)!;
  }
}

export interface Residuals {
  /** Forward values (params included) that some backward op reads. */
  readonly values: readonly Value[];
  readonly bytes: number;
}

/**
 * What a VJP function (from `vjpFunc`) keeps alive between its two parts: values that do not depend on the cotangent
 * parameters (the last `numCotangents` params) and are read by ops that do. Constants and iotas are left out: XLA
 * materializes them where they are used. Measure after `simplify`, which removes recomputation nobody reads.
 */
export function residuals(f: Func, numCotangents: number): Residuals {
  const backward = new Set(f.params.slice(f.params.length - numCotangents).map((p) => p.id));
  const found = new Map<number, Value>();
  for (const op of f.ops) {
    if (!op.operands.some((v) => backward.has(v.id))) continue;
    for (const r of op.results) backward.add(r.id);
    for (const v of op.operands) {
      const cheap = v.def?.prim === 'constant' || v.def?.prim === 'iota';
      if (!backward.has(v.id) && !cheap) found.set(v.id, v);
    }
  }
  const values = [...found.values()];
  return { values, bytes: values.reduce((s, v) => s + numElements(v.type.shape) * DTYPE_INFO[v.type.dtype].bytes, 0) };
}
