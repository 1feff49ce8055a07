// Function transforms for model authors: grad, valueAndGrad, stopGradient, checkpoint (remat). Each traces the user's
// function into a sub-Func, runs an IR pass on it (compiler/passes), and inlines the result into the active trace.
import { FlipError, isFloat, showLoc, showType, type Func, type RematPolicy, type RematTag } from '../compiler/ir/index.ts';
import { REMAT_POLICIES, vjpFunc } from '../compiler/passes/index.ts';
import {
  currentBuilder, currentLoc, flatten, inlineFunc, showTreeDef, traceFunc, treeMap, unboxValue, unflatten, type TreeDef,
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
  return treeMap((t: AnyTensor) => {
    if (!(t instanceof Tensor)) return t;
    const [v] = currentBuilder().emit('optimization_barrier', [t.value], { stopGradient: true });
    return new Tensor(v!);
  }, x) as T;
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
