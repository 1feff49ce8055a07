// Function transforms for model authors: grad, valueAndGrad, stopGradient, checkpoint (remat), scan (a loop). Each traces the user's
// function into a sub-Func, runs an IR pass on it (compiler/passes), and inlines the result into the active trace.
import { FlipError, isFloat, showLoc, showType, type Func, type PrimAttrs, type RematPolicy, type RematTag } from '../compiler/ir/index.ts';
import { REMAT_POLICIES, vjpFunc } from '../compiler/passes/index.ts';
import {
  currentBuilder, currentLoc, flatten, inlineFunc, sameTreeDef, showTreeDef, traceFunc, treeMap, unboxValue, unflatten, type TreeDef,
} from '../compiler/trace/index.ts';
import type { AnyTensor } from './core.ts';
import { Tensor } from './tensor.ts';

/** The grads of `argnums`: the same pytree (and tensor types) as those arguments. */
export type GradsOf<A extends readonly unknown[], N> = N extends number
  ? A[N]
  : { -readonly [K in keyof N]: N[K] extends number ? A[N[K]] : never };

export interface GradOptions<N extends number | readonly number[]> {
  /** Which positional arguments to differentiate with respect to (default 0). A list returns a tuple of grads. */
  argnums?: N;
}

export interface ValueAndGradOptions<N extends number | readonly number[]> extends GradOptions<N> {
  /** `fn` returns `[loss, aux]`: aux (any pytree) is returned alongside, not differentiated. */
  hasAux?: boolean;
}

const fnName = (fn: { name: string }) => fn.name || 'anonymous function';
const where = () => showLoc(currentLoc());

/**
 * ∂fn/∂args[argnums] of a function returning a scalar float tensor. Call the result inside a trace (`jit`,
 * `traceFunc`, or another transform): it traces `fn` on the arguments' types, runs the VJP pass on that Func, and
 * inlines the backward into the current trace, so `grad(grad(f))` and `jit(grad(f))` work.
 *
 * ```ts
 * const dLoss = grad((params: {w: Tensor<'f32', ['embed', 'mlp']>}, x: Tensor<'f32', ['batch', 'embed']>) =>
 *   x.dot(params.w, { contract: ['embed'] }).tanh().sum());
 * const g = dLoss(params, x); // {w: Tensor<'f32', ['embed', 'mlp']>}
 * ```
 */
export function grad<A extends readonly unknown[], const N extends number | readonly number[] = 0>(
  fn: (...args: A) => AnyTensor, opts: GradOptions<N> = {},
): (...args: A) => GradsOf<A, N> {
  const vg = valueAndGrad(fn, opts);
  return (...args: A) => vg(...args)[1];
}

/** `[fn(...args), grad(fn)(...args)]` from one forward pass. With `hasAux`, `fn` returns `[loss, aux]` and so does the value. */
export function valueAndGrad<A extends readonly unknown[], L extends AnyTensor, const N extends number | readonly number[] = 0>(
  fn: (...args: A) => L, opts?: ValueAndGradOptions<N> & { hasAux?: false },
): (...args: A) => [L, GradsOf<A, N>];
export function valueAndGrad<A extends readonly unknown[], L extends AnyTensor, Aux, const N extends number | readonly number[] = 0>(
  fn: (...args: A) => readonly [L, Aux], opts: ValueAndGradOptions<N> & { hasAux: true },
): (...args: A) => [[L, Aux], GradsOf<A, N>];
export function valueAndGrad(fn: (...args: never[]) => unknown, opts: ValueAndGradOptions<number | readonly number[]> = {}) {
  const argnums = opts.argnums ?? 0;
  const nums = typeof argnums === 'number' ? [argnums] : [...argnums];
  return (...args: unknown[]) => {
    const name = fnName(fn);
    for (const n of nums)
      if (!Number.isInteger(n) || n < 0 || n >= args.length)
        throw new FlipError(`${where()}: grad(${name}): argnums ${n} is out of range for ${args.length} argument(s)`);
    if (new Set(nums).size !== nums.length) throw new FlipError(`${where()}: grad(${name}): argnums [${nums.join(', ')}] repeats an argument`);
    const traced = traceFunc(fn, args, { name: fn.name || 'grad_fn' });
    checkLoss(name, traced.func, traced.outTree, opts.hasAux === true);
    // The Func's params are the argument leaves in flatten order; a leaf's path starts with its argument's index.
    const { leaves, paths } = flatten(args);
    const argOf = paths.map((p) => Number(p.split('.')[0]));
    const wrt = leaves.flatMap((_, i) => (nums.includes(argOf[i]!) ? [i] : []));
    for (const i of wrt) {
      const p = traced.func.params[i]!;
      if (!isFloat(p.type.dtype))
        throw new FlipError(`${where()}: grad(${name}): cannot differentiate with respect to argument '${traced.func.paramInfo[i]?.name ?? paths[i]}', ` +
          `a ${showType(p.type)} tensor: gradients exist only for float tensors (move it to an argument outside argnums)`);
    }
    // The loss is the first result; aux results (if any) get no cotangent. Seeding with 1 gives the gradient.
    const vjp = vjpFunc(traced.func, { wrt, seeds: [0] });
    const one = currentBuilder().emit1('constant', [], { dtype: traced.func.results[0]!.type.dtype, shape: [], axes: [], value: 1 });
    const argValues = leaves.map((l) => unboxValue(l)!);
    const outs = inlineFunc(vjp, [...argValues, ...traced.captured, one]).map((v) => new Tensor(v));
    const nOut = traced.func.results.length;
    const value = unflatten<unknown>(traced.outTree, outs.slice(0, nOut));
    const gradOf = new Map(wrt.map((leaf, k) => [leaf, outs[nOut + k]!]));
    const perArg = nums.map((n) => {
      const mine = wrt.filter((i) => argOf[i] === n);
      let next = 0;
      return treeMap(() => gradOf.get(mine[next++]!), args[n]);
    });
    return [value, typeof argnums === 'number' ? perArg[0] : perArg];
  };
}

/** Throws unless fn returned a scalar float tensor (with hasAux: `[loss, aux]`), which makes the loss its first result. */
function checkLoss(name: string, f: Func, outTree: TreeDef, hasAux: boolean): void {
  if (hasAux && !(outTree.kind === 'array' && outTree.items.length === 2 && outTree.items[0]!.kind === 'leaf'))
    throw new FlipError(`${where()}: valueAndGrad(${name}, {hasAux: true}): the function must return [loss, aux], got ${showTreeDef(outTree)}`);
  if (!hasAux && outTree.kind !== 'leaf')
    throw new FlipError(`${where()}: grad(${name}): the function must return one scalar float tensor, got ${showTreeDef(outTree)} ` +
      `(${f.results.map((r) => showType(r.type)).join(', ') || 'no tensors'}); use valueAndGrad with hasAux for extra outputs`);
  const loss = f.results[0]!;
  if (!isFloat(loss.type.dtype) || loss.type.shape.length !== 0)
    throw new FlipError(`${where()}: grad(${name}): the function must return a scalar float tensor, but it returned ${showType(loss.type)}` +
      (loss.type.shape.length ? ' (reduce it to a scalar, e.g. with .mean())' : ''));
}

/**
 * The identity on a tensor (or a pytree of them) that autodiff treats as a constant: no gradient flows through it.
 * It is an `optimization_barrier {stopGradient}` in the IR, which `jit` removes before lowering.
 */
export function stopGradient<T>(x: T): T {
  return markedIdentity(x, { stopGradient: true });
}

/** Each tensor of `x` through an `optimization_barrier` of its own with `attrs` (an identity autodiff reads). */
function markedIdentity<T>(x: T, attrs: PrimAttrs['optimization_barrier']): T {
  return treeMap((t: AnyTensor) => {
    if (!(t instanceof Tensor)) return t;
    const [v] = currentBuilder().emit('optimization_barrier', [t.value], attrs);
    return new Tensor(v!);
  }, x) as T;
}

/**
 * The identity on a tensor (or a pytree of them) whose gradient is computed once and kept: autodiff puts the
 * cotangent that reaches x, complete, behind an `optimization_barrier`, so that XLA materialises it once instead of
 * fusing the sum that makes it into each of its consumers. What it is for: a residual stream. Its gradient at each
 * block is the previous block's plus the block's own branches, a chain of elementwise adds that XLA otherwise
 * duplicates into every consumer (the weight-gradient dots' operands, the bias gradient, the next LayerNorm's
 * backward), each re-reading every later block's terms: quadratic in depth (docs/performance.md, "One malloc arena
 * and gradient barriers"). Values and gradients are unchanged; the forward identity is removed before lowering.
 */
export function gradientBarrier<T>(x: T): T {
  return markedIdentity(x, { gradientBarrier: true });
}

export interface CheckpointOptions {
  /**
   * Which of the region's forward values the backward may keep; the rest it recomputes (JAX's policy names).
   * Default 'nothing_saveable'. FLIP's `remat_policy: 'minimal'` is 'dots_with_no_batch_dims_saveable'.
   */
  policy?: RematPolicy;
}

let nextRegion = 1;

/**
 * `fn` with rematerialization: under `grad`, the values it computes are not kept from the forward to the backward
 * pass but recomputed there (except those the policy saves), trading compute for memory. Outside `grad` it is `fn`.
 *
 * It runs `fn` in the current trace with every op it emits tagged as one region (no sub-trace is needed: the VJP
 * pass reads the tags). A checkpoint nested inside another is a region of its own.
 */
export function checkpoint<A extends readonly unknown[], R>(fn: (...args: A) => R, opts: CheckpointOptions = {}): (...args: A) => R {
  const policy = opts.policy ?? 'nothing_saveable';
  if (!REMAT_POLICIES.includes(policy))
    throw new FlipError(`checkpoint(${fnName(fn)}): unknown policy '${String(policy)}'; one of ${REMAT_POLICIES.join(', ')}`);
  return (...args: A) => {
    const tag: RematTag = { region: nextRegion++, policy };
    return currentBuilder().withRemat(tag, () => fn(...args));
  };
}

/** A pytree of tensors with one more leading axis `L` on each tensor (what `scan` stacks its ys into). */
export type Stacked<T, L extends string> = T extends Tensor<infer D, infer A>
  ? Tensor<D, readonly [L, ...A]>
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: Stacked<T[K], L> }
  : T extends object ? { -readonly [K in keyof T]: Stacked<T[K], L> } : T;

/** A pytree of stacked tensors with the leading axis removed (what `scan`'s body gets of its xs). */
export type Unstacked<T> = T extends Tensor<infer D, readonly [string, ...infer A extends readonly string[]]>
  ? Tensor<D, A>
  : T extends Tensor<infer D, infer A> ? Tensor<D, A>
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: Unstacked<T[K]> }
  : T extends object ? { -readonly [K in keyof T]: Unstacked<T[K]> } : T;

export interface ScanOptions<L extends string> {
  /** Iterations; default: the leading size of the xs (required when there are none). */
  length?: number;
  /** Run from the last index down to the first (the body still gets the index it works on). */
  reverse?: boolean;
  /** The name of the new leading axis of the stacked ys (default 'scan'). */
  axis?: L;
}

/** The body's index argument: which slice of the xs this iteration works on. */
export type ScanIndex = Tensor<'i32', readonly []>;

/**
 * JAX's `lax.scan`: `fn(carry, x_i, i) → [carry, y_i]` for i = 0 … length − 1, where x_i is the i-th slice of each
 * tensor of `xs` along its leading axis; returns the final carry and the y_i stacked along a new leading axis. The body
 * is traced once into a sub-Func and runs as one loop (`stablehlo.while`), so XLA compiles it once however long the
 * loop is. Tensors the body closes over are loop-invariant operands. Under `grad`, the forward keeps the body's
 * residuals per iteration and the backward is a reverse loop; a `checkpoint` inside the body recomputes what its
 * policy does not save.
 *
 * ```ts
 * const [h, hs] = scan((h: Tensor<'f32', ['embed']>, w: Tensor<'f32', ['embed', 'mlp']>) => { ... return [h2, h2]; }, h0, ws);
 * ```
 */
export function scan<C, X, Y, const L extends string = 'scan'>(
  fn: (carry: C, x: Unstacked<X>, index: ScanIndex) => readonly [C, Y], init: C, xs: X, opts: ScanOptions<L> = {},
): [C, Stacked<Y, L>] {
  const name = fnName(fn);
  const carry = flatten(init), xsFlat = flatten(xs);
  const tensorsOf = (flat: typeof carry, what: string) => flat.leaves.map((l, i) => {
    const v = unboxValue(l);
    if (!v) throw new FlipError(`${where()}: scan(${name}): ${what} leaf '${flat.paths[i] || '<root>'}' is not a tensor`);
    return v;
  });
  const carryVals = tensorsOf(carry, 'carry'), xsVals = tensorsOf(xsFlat, 'xs');
  const length = opts.length ?? xsVals[0]?.type.shape[0];
  if (length === undefined) throw new FlipError(`${where()}: scan(${name}): no xs to scan over; give opts.length`);
  if (!Number.isInteger(length) || length < 1) throw new FlipError(`${where()}: scan(${name}): length must be a positive integer, got ${length}`);
  xsVals.forEach((v, i) => {
    if (v.type.shape[0] !== length)
      throw new FlipError(`${where()}: scan(${name}): xs leaf '${xsFlat.paths[i] || '<root>'}' is ${showType(v.type)}, but the loop has ${length} iterations (leading dimension)`);
  });
  const spec = (t: { dtype: string; shape: readonly number[]; axes: readonly string[] }) => ({ dtype: t.dtype, shape: [...t.shape], axes: [...t.axes] });
  const carrySpecs = unflatten<unknown>(carry.treedef, carryVals.map((v) => spec(v.type)));
  const xSpecs = unflatten<unknown>(xsFlat.treedef, xsVals.map((v) => spec({ ...v.type, shape: v.type.shape.slice(1), axes: v.type.axes.slice(1) })));
  const indexSpec = { dtype: 'i32', shape: [], axes: [] };
  const traced = traceFunc((index: unknown, c: unknown, x: unknown) => fn(c as C, x as Unstacked<X>, index as ScanIndex), [indexSpec, carrySpecs, xSpecs], {
    name: fn.name && /^[A-Za-z_]\w*$/.test(fn.name) ? fn.name : 'scan_body', argNames: ['index', 'carry', 'x'],
  });
  const out = traced.outTree;
  if (out.kind !== 'array' || out.items.length !== 2 || !sameTreeDef(out.items[0]!, carry.treedef))
    throw new FlipError(`${where()}: scan(${name}): the body must return [carry, y] with the carry shaped as the init (${showTreeDef(carry.treedef)}), got ${showTreeDef(out)}`);
  const nC = carryVals.length;
  traced.func.results.slice(0, nC).forEach((r, i) => {
    const c = carryVals[i]!;
    if (r.type.dtype !== c.type.dtype || r.type.shape.join() !== c.type.shape.join())
      throw new FlipError(`${where()}: scan(${name}): carry leaf '${carry.paths[i] || '<root>'}' comes back as ${showType(r.type)}, but it went in as ${showType(c.type)}`);
  });
  const outs = currentBuilder().emit('scan', [...carryVals, ...xsVals, ...traced.captured], {
    body: traced.func, length, numCarry: nC, numXs: xsVals.length, axis: opts.axis ?? 'scan', ...(opts.reverse ? { reverse: true } : {}),
  });
  return unflatten<[C, Stacked<Y, L>]>(out, outs.map((v) => new Tensor(v)));
}
