// Parameters: a ParamSpec per weight (shape, axis names, t5x logical axes, initializer), pytrees of them, and `init`.
//
// A layer declares its weights as ParamSpecs (t5x's `param_with_axes`); a model's spec tree is the nested record of
// its layers' specs. A parameter's axis names ARE its t5x logical axis names (`embed`, `mlp`, `heads`, `kv`, `_null0`,
// …): they travel into the IR on the traced params, where the sharding pass maps them through the logical axis rules
// (`mlp → model`, `heads → model`, `_null* → replicated`, …). Layers never rename a parameter's axis (a same-shape
// reshape, which simplify may drop, so a gradient could come back under other names); they reshape or contract it as
// named (the patch kernel's `_null0.._null2` are merged into `patch`). From a spec tree come:
//   - `init(specs, key)`: the params pytree (f32 Tensors of the same structure), drawn on the device from one key:
//     the key is split into one key per leaf, in flatten order; every initializer reads only its own key.
//   - `logicalAxes(specs)`: `path → logical axis names` (t5x's `params_axes`);
//   - the spec tree itself: its leaves are TensorSpecs (dtype, shape, axes), so it is what `traceFunc` / `flipc`
//     take as the params' input shapes.
import { FlipError, numElements, type TensorType } from '../../compiler/ir/index.ts';
import { flatten, unflatten } from '../../compiler/trace/index.ts';
import type { Axes } from '../axes.ts';
import { cast, emit, fail, splat, userOp } from '../core.ts';
import { keyAt, normalFromBits, randomBits, randomBitsRows, splitKeys, uniformFromBits, type Key, type Keys, type RandomOptions } from '../random.ts';
import { Tensor } from '../tensor.ts';

/** Draws a parameter's initial value from its key (constant initializers ignore the key). */
export interface Initializer {
  (key: Key, spec: TensorType): Tensor<'f32', Axes>;
  /**
   * Random initializers also say how they turn u32 bits (the leaf's shape, with leading axes when several leaves are
   * drawn at once) into values, and which leaves draw alike (`group(spec)`): `init` then draws every leaf of one group
   * with one threefry in the program (`randomBitsRows`), with the same bits as drawing each from its own key.
   */
  readonly fromBits?: (bits: Tensor<'u32', Axes>, spec: TensorType) => Tensor<'f32', Axes>;
  readonly group?: (spec: TensorType) => string;
}

/** An initializer from its bits → values map: drawn alone from a key, or with its group by `init`. */
function randomInitializer(group: (spec: TensorType) => string, fromBits: (bits: Tensor<'u32', Axes>, spec: TensorType) => Tensor<'f32', Axes>): Initializer {
  const draw = (key: Key, spec: TensorType) => fromBits(randomBits(key, sizesOf(spec)), spec);
  return Object.assign(draw, { fromBits, group });
}

/** One weight: its f32 type, its axis names (= t5x logical axes), and its initializer. */
export interface ParamSpec<A extends Axes = Axes> {
  readonly dtype: 'f32';
  readonly shape: readonly number[];
  /** t5x logical axis names, one per axis (what `param_with_axes(..., axes=…)` gives the official parameter). */
  readonly axes: A;
  readonly init: Initializer;
}

/** The params a spec tree describes: each ParamSpec<A> becomes a `Tensor<'f32', A>`. */
export type Params<S> = S extends ParamSpec<infer A>
  ? Tensor<'f32', A>
  : S extends readonly unknown[] ? { -readonly [K in keyof S]: Params<S[K]> }
  : S extends object ? { -readonly [K in keyof S]: Params<S[K]> }
  : S;

/** `param({embed: 768, mlp: 3072}, xavierUniform())`: a ParamSpec; sizes by logical axis name, in axis order. */
export function param<const S extends Readonly<Record<string, number>>>(sizes: S, init: Initializer): ParamSpec<readonly (keyof S & string)[]> {
  const axes = Object.keys(sizes);
  const shape = axes.map((a) => sizes[a]!);
  for (const d of shape) if (!Number.isInteger(d) || d < 1) throw new FlipError(`param: bad size ${d} in {${axes.join(', ')}}`);
  return { dtype: 'f32', shape, axes: axes as (keyof S & string)[], init };
}

export function isParamSpec(x: unknown): x is ParamSpec {
  if (x === null || typeof x !== 'object') return false;
  const r = x as Record<string, unknown>;
  return r['dtype'] === 'f32' && Array.isArray(r['shape']) && Array.isArray(r['axes']) && typeof r['init'] === 'function';
}

function specLeaves(specs: unknown) {
  const flat = flatten<ParamSpec>(specs, { isLeaf: isParamSpec });
  flat.leaves.forEach((l, i) => {
    if (!isParamSpec(l)) throw new FlipError(`param tree: leaf '${flat.paths[i]}' is not a ParamSpec`);
  });
  return flat;
}

/**
 * The initial params of a spec tree, drawn from `key` (inside a trace: jit it). Leaf i (in flatten order) gets
 * `split(key, n)[i]`; each initializer is applied to its own key, so adding a layer changes only later leaves' keys.
 */
export function init<S>(specs: S, key: Key, opts: RandomOptions = {}): Params<S> {
  return userOp('init', () => {
    const flat = specLeaves(specs);
    const n = flat.leaves.length;
    const keys = n ? splitKeys(key, n, opts) : undefined;
    const types = flat.leaves.map((s): TensorType => ({ dtype: s.dtype, shape: s.shape, axes: s.axes }));
    const values: (Tensor<'f32', Axes> | undefined)[] = new Array(n);
    // Random leaves of one shape and distribution are drawn together: one hash for the group instead of one per leaf
    // (the program, and XLA's compile time, then grow with the number of distinct layers, not of parameters).
    const groups = new Map<string, number[]>();
    flat.leaves.forEach((s, i) => {
      if (!s.init.fromBits || !s.init.group) return;
      const g = `${s.init.group(types[i]!)}|${types[i]!.axes.map((a, k) => `${a}=${s.shape[k]}`).join(',')}`;
      groups.set(g, [...(groups.get(g) ?? []), i]);
    });
    for (const members of groups.values()) {
      const t = types[members[0]!]!;
      const rows = randomBitsRows(stackKeys(keys!, members), sizesOf(t), opts);
      const drawn = flat.leaves[members[0]!]!.init.fromBits!(rows, t);
      members.forEach((leaf, r) => {
        const row = emit('slice', [drawn], {
          start: [r, ...t.shape.map(() => 0)], limit: [r + 1, ...t.shape], strides: [1, ...t.shape.map(() => 1)],
        });
        values[leaf] = cast<Tensor<'f32', Axes>>(emit('reshape', [row], { shape: t.shape, axes: t.axes }));
      });
    }
    flat.leaves.forEach((s, i) => {
      if (values[i]) return;
      const v = s.init(keyAt(keys!, i), types[i]!);
      if (!(v instanceof Tensor) || v.dtype !== 'f32' || v.shape.join() !== s.shape.join() || v.axes.join() !== s.axes.join())
        fail(`the initializer of '${flat.paths[i]}' returned ${String(v)}, expected f32[${s.axes.map((a, k) => `${a}=${s.shape[k]}`).join(', ')}]`);
      values[i] = v;
    });
    return unflatten<Params<S>>(flat.treedef, values);
  });
}

/** Rows `members` of stacked keys, stacked (a slice when they are consecutive). */
function stackKeys(keys: Keys, members: readonly number[]): Keys {
  const first = members[0]!;
  if (members.every((m, i) => m === first + i))
    return cast(emit('slice', [keys], { start: [first, 0], limit: [first + members.length, 2], strides: [1, 1] }));
  const rows = members.map((m) => emit('slice', [keys], { start: [m, 0], limit: [m + 1, 2], strides: [1, 1] }));
  return cast(rows.length === 1 ? rows[0]! : emit('concatenate', rows, { dimension: 0 }));
}

/** `path → logical axes` of every param (paths as `traceFunc` names them below the argument: `img_encoder.cls`). */
export function logicalAxes(specs: unknown): Record<string, readonly string[]> {
  const flat = specLeaves(specs);
  return Object.fromEntries(flat.leaves.map((s, i) => [flat.paths[i]!, s.axes]));
}

/** The number of scalars in a spec tree. */
export function paramCount(specs: unknown): number {
  return specLeaves(specs).leaves.reduce((n, s) => n + numElements(s.shape), 0);
}

// ---- initializers (jax.nn.initializers / flax, as the official FLIP code uses them) ----------------------------------

/** All zeros (biases). */
export const zeros = (): Initializer => (_key, t) => cast(splat(0, t));
/** All ones (LayerNorm scales). */
export const ones = (): Initializer => (_key, t) => cast(splat(1, t));

/** A fixed value: a number, or row-major host data for the whole tensor (the sin-cos position table). */
export function constantInit(value: number | Float32Array | readonly number[]): Initializer {
  return (_key, t) => cast(userOp('constantInit', () => {
    if (typeof value === 'number') return splat(value, t);
    if (value.length !== numElements(t.shape)) fail(`constant initializer has ${value.length} values for ${t.shape.join('x')}`);
    return emit('constant', [], { dtype: 'f32', shape: t.shape, axes: t.axes, value: Array.from(value, Math.fround) });
  }));
}

/** `normal(0.02)`: N(0, stddev²), as `jax.nn.initializers.normal(stddev)` (`random.normal(key) * stddev`). */
export function normalInit(stddev: number): Initializer {
  return randomInitializer(() => `normal*${stddev}`, (bits) => cast(userOp('normalInit', () => {
    const z = normalFromBits(bits);
    return emit('multiply', [z, splat(stddev, z.type)], {});
  })));
}

export interface Fans {
  /** Fan-in and fan-out; default from a 2-D [in, out] shape (other ranks must give them: the official code views
   *  a [embed, heads, kv] projection as [embed, heads·kv] and a conv kernel [h, w, c, n] as [h·w·c, n]). */
  fanIn?: number;
  fanOut?: number;
}

function fans(t: TensorType, f: Fans): [number, number] {
  if (f.fanIn !== undefined && f.fanOut !== undefined) return [f.fanIn, f.fanOut];
  if (t.shape.length !== 2) throw new FlipError(`variance scaling on [${t.shape.join(', ')}] needs explicit fanIn/fanOut`);
  return [t.shape[0]!, t.shape[1]!];
}

/**
 * `varianceScaling(0.5, 'fan_avg', 'uniform')`: jax.nn.initializers.variance_scaling — variance = scale / fan (fan_in,
 * fan_out or their mean); 'uniform' draws U(−1, 1)·√(3·variance), 'normal' N(0, 1)·√variance, all in f32 as JAX does.
 */
export function varianceScaling(scale: number, mode: 'fan_in' | 'fan_out' | 'fan_avg', distribution: 'uniform' | 'normal', f: Fans = {}): Initializer {
  // The multiplier of the unit draw, in f32 as JAX computes it: √(3·variance) for U(−1, 1), √variance for N(0, 1).
  const multiplier = (t: TensorType) => {
    const [fanIn, fanOut] = fans(t, f);
    const denominator = mode === 'fan_in' ? fanIn : mode === 'fan_out' ? fanOut : (fanIn + fanOut) / 2;
    const variance = Math.fround(scale / denominator);
    return Math.fround(Math.sqrt(distribution === 'uniform' ? Math.fround(3 * variance) : variance));
  };
  return randomInitializer(
    (t) => `${distribution}*${multiplier(t)}`,
    (bits, t) => cast(userOp('varianceScaling', () => {
      const unit = distribution === 'uniform' ? uniformFromBits(bits, { min: -1, max: 1 }) : normalFromBits(bits);
      return emit('multiply', [unit, splat(multiplier(t), unit.type)], {});
    })),
  );
}

/** Glorot/Xavier uniform: `varianceScaling(1, 'fan_avg', 'uniform')` (MLP and attention-output kernels in FLIP). */
export const xavierUniform = (f: Fans = {}): Initializer => varianceScaling(1, 'fan_avg', 'uniform', f);

function sizesOf(t: TensorType): Record<string, number> {
  return Object.fromEntries(t.axes.map((a, i) => [a, t.shape[i]!]));
}
