// The PRNG: threefry2x32 keys and samplers written in DSL primitives, with the same bits as jax.random for the same key.
//
// A key is a u32 tensor [key=2], as JAX's raw (legacy `PRNGKey`) keys. Everything is a pure function of the key:
// `split` and `foldIn` derive new keys, samplers never advance state. Bits follow jax/_src/random/threefry2x32.py:
//
//   - default (`partitionable: false`, JAX's `jax_threefry_partitionable=False`): the counts 0..n−1 are hashed as
//     pairs (i, i + ⌈n/2⌉) — first half against second half, the last count paired with a 0 when n is odd — and the
//     two output halves are concatenated. `split(key, n)` hashes 0..2n−1 and reads the result as n pairs.
//   - `partitionable: true` (JAX ≥ 0.5's default): count i is hashed as the pair (0, i) and the two outputs are
//     xored (bits) or stacked (split); every element depends on its own index only, so XLA can shard it freely.
//
// `foldIn` is the same in both modes: the hash of the pair (0, data). `foldInPath` folds in a name path (strings and
// small integers) as Flax folds a module path into its rngs: one foldIn of a SHA-1 of the path. Float samplers follow jax/_src/random/core.py:
// uniform keeps 23 random mantissa bits of a float in [1, 2), normal is √2·erfinv(uniform(−1⁺, 1)), truncated normal
// draws uniform between erf(lower/√2) and erf(upper/√2). f32 only.
import { createHash } from 'node:crypto';
import { FlipError, numElements, showType, type DType } from '../compiler/ir/index.ts';
import type { AxisSizes } from '../compiler/trace/index.ts';
import type { Axes, AxesOf } from './axes.ts';
import { cast, emit, fail, splat, userOp, type AnyTensor } from './core.ts';
import { erfInv } from './ops_extra.ts';
import { Tensor } from './tensor.ts';

/** A PRNG key: two u32 words, axis `key`. */
export type Key = Tensor<'u32', readonly ['key']>;
/** n keys stacked: `[keys=n, key=2]` (what `jax.random.split` returns). */
export type Keys = Tensor<'u32', readonly ['keys', 'key']>;

export interface RandomOptions {
  /** JAX's `jax_threefry_partitionable` (default false: the classic bits, as `jax.config.update('jax_threefry_partitionable', False)`). */
  partitionable?: boolean;
}

const U32 = (shape: readonly number[], axes: readonly string[]) => ({ dtype: 'u32' as const, shape, axes });
const SCALAR = U32([], []);
const MAX_COUNT = 2 ** 32 - 1; // JAX splits bigger draws into blocks; we refuse them (a 16 GiB tensor of u32)

const add = (a: AnyTensor, b: AnyTensor) => emit('add', [a, b], {});
const xorT = (a: AnyTensor, b: AnyTensor) => emit('xor', [a, b], {});
const konst = (v: number, like: AnyTensor) => splat(v, like.type);

function checkKey(key: AnyTensor): void {
  if (!(key instanceof Tensor)) fail(`a key must be a u32 tensor [key=2], got ${typeof key}`);
  if (key.dtype !== 'u32' || key.rank !== 1 || key.shape[0] !== 2)
    fail(`a key must be a u32 tensor [key=2] (from key(), split() or foldIn()), got ${showType(key.type)}`);
}

/** The two words of a key as u32 scalars. */
function words(key: AnyTensor): [AnyTensor, AnyTensor] {
  checkKey(key);
  const word = (i: number) => emit('reshape', [emit('slice', [key], { start: [i], limit: [i + 1], strides: [1] })], { shape: [], axes: [] });
  return [word(0), word(1)];
}

/** Two u32 scalars as a key. */
function keyOf(k0: AnyTensor, k1: AnyTensor): AnyTensor {
  const one = (w: AnyTensor) => emit('reshape', [w], { shape: [1], axes: ['key'] });
  return emit('concatenate', [one(k0), one(k1)], { dimension: 0 });
}

const ROTATIONS = [[13, 15, 26, 6], [17, 29, 16, 24]] as const;

/**
 * The Threefry-2x32 block cipher (20 rounds; Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) of
 * the counter pairs (x0[i], x1[i]) under the key (k0, k1), as JAX's `threefry2x32_p`. k0/k1 are u32 scalars (or
 * per-element keys shaped like the counts); x0 and x1 u32 tensors of one shape. Returns the two output words, shaped
 * like x0.
 */
export function threefry2x32(k0: AnyTensor, k1: AnyTensor, x0: AnyTensor, x1: AnyTensor): [AnyTensor, AnyTensor] {
  return userOp('threefry2x32', () => {
    for (const w of [k0, k1])
      if (w.dtype !== 'u32' || (w.rank !== 0 && w.shape.join() !== x0.shape.join())) fail(`key words must be u32 scalars or shaped like the counts, got ${showType(w.type)}`);
    if (x0.dtype !== 'u32' || x1.dtype !== 'u32' || x0.shape.join() !== x1.shape.join())
      fail(`counts must be two u32 tensors of one shape, got ${showType(x0.type)} and ${showType(x1.type)}`);
    const bcast = (s: AnyTensor) => (s.rank === x0.rank ? s : emit('broadcast_in_dim', [s], { shape: x0.shape, axes: x0.axes, dims: [] }));
    const k2 = xorT(xorT(k0, k1), splat(0x1bd11bda, k0.type));
    const ks = [bcast(k0), bcast(k1), bcast(k2)];
    // One constant per distinct amount (a big draw has thousands of these ops; fewer ops keep XLA's compile short).
    const consts = new Map<number, AnyTensor>();
    const c = (v: number) => consts.get(v) ?? (consts.set(v, konst(v, x0)), consts.get(v)!);
    const rotateLeft = (v: AnyTensor, r: number) =>
      emit('or', [emit('shift_left', [v, c(r)], {}), emit('shift_right_logical', [v, c(32 - r)], {})], {});
    let a = add(x0, ks[0]!);
    let b = add(x1, ks[1]!);
    for (let block = 0; block < 5; block++) {
      for (const r of ROTATIONS[block % 2]!) {
        a = add(a, b);
        b = xorT(a, rotateLeft(b, r));
      }
      // After block j (1-based): x0 += ks[j mod 3], x1 += ks[(j+1) mod 3] + j.
      const j = block + 1;
      a = add(a, ks[j % 3]!);
      b = add(add(b, ks[(j + 1) % 3]!), c(j));
    }
    return [a, b];
  });
}

/** u32 iota [n] on axis `count`. */
const iotaU32 = (n: number) => emit('iota', [], { ...U32([n], ['count']), dimension: 0 });

/**
 * JAX's `threefry_2x32(key, iota(n))` (non-partitionable bits): counts 0..n−1 split into halves hashed against each
 * other, an odd count padded with a 0, outputs concatenated and trimmed. A u32 tensor [count=n].
 */
function hashIota(key: AnyTensor, n: number): AnyTensor {
  if (n > MAX_COUNT) fail(`cannot draw ${n} values in one call (at most ${MAX_COUNT}); split the key and draw in blocks`);
  const [k0, k1] = words(key);
  const half = Math.ceil(n / 2);
  const lo = iotaU32(half);
  let hi = add(lo, konst(half, lo));
  if (n % 2 === 1) {
    // The second half's last count is the padding 0 (jnp.concatenate([flat_count, [0]])).
    const last = emit('compare', [lo, konst(half - 1, lo)], { direction: 'EQ' });
    hi = emit('select', [last, konst(0, lo), hi], {});
  }
  const [y0, y1] = threefry2x32(k0, k1, lo, hi);
  const both = emit('concatenate', [y0, y1], { dimension: 0 });
  return n % 2 === 1 ? emit('slice', [both], { start: [0], limit: [n], strides: [1] }) : both;
}

/** The partitionable counts: (hi, lo) words of the flat index, hi = 0 for fewer than 2³² elements. */
function hashIndex(key: AnyTensor, n: number): [AnyTensor, AnyTensor] {
  if (n > MAX_COUNT) fail(`cannot draw ${n} values in one call (at most ${MAX_COUNT})`);
  const [k0, k1] = words(key);
  const lo = iotaU32(n);
  return threefry2x32(k0, k1, konst(0, lo), lo);
}

function sizesType(dtype: DType, sizes: AxisSizes) {
  const axes = Object.keys(sizes);
  const shape = axes.map((a) => sizes[a]!);
  for (const d of shape) if (!Number.isInteger(d) || d < 0) fail(`bad size ${d} in {${axes.map((a) => `${a}: ${sizes[a]}`).join(', ')}}`);
  return { dtype, shape, axes };
}

/** A JS seed as the two key words: the high and low 32 bits (JAX: `PRNGKey(seed)`, 64-bit seeds need jax_enable_x64). */
function seedWords(seed: number | bigint): [number, number] {
  const s = BigInt(seed);
  if (s < 0n || s >= 2n ** 64n) throw new FlipError(`key(${seed}): a seed is an integer in [0, 2^64)`);
  return [Number(s >> 32n), Number(s & 0xffffffffn)];
}

/**
 * `key(0)`: a key from an integer seed, as `jax.random.PRNGKey(seed)` ([seed >> 32, seed & 0xFFFFFFFF]). The seed may
 * be a JS number/bigint (a constant) or an i32/u32 scalar tensor (its bits are the low word; the high word is 0).
 * Shape rule: `u32[key=2]`.
 */
export function key(seed: number | bigint | Tensor<'i32' | 'u32', readonly []>): Key {
  return cast(userOp('key', () => {
    if (seed instanceof Tensor) {
      if ((seed.dtype !== 'i32' && seed.dtype !== 'u32') || seed.rank !== 0) fail(`a seed tensor must be an i32 or u32 scalar, got ${showType(seed.type)}`);
      const lo = seed.dtype === 'u32' ? seed : emit('bitcast_convert', [seed], { dtype: 'u32' });
      return keyOf(splat(0, SCALAR), lo);
    }
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) fail(`key(${seed}): a seed is an integer in [0, 2^64)`);
    const [hi, lo] = seedWords(seed);
    return emit('constant', [], { ...U32([2], ['key']), value: [hi, lo] });
  }));
}

/**
 * `split(key, n)`: n new keys as a stacked tensor `[keys=n, key=2]`, bit for bit `jax.random.split(key, n)`.
 * Shape rule: `u32[keys=n, key=2]`.
 */
export function splitKeys(key: Key, n = 2, opts: RandomOptions = {}): Keys {
  return cast(userOp('splitKeys', () => {
    if (!Number.isInteger(n) || n < 0) fail(`n must be a non-negative integer, got ${n}`);
    if (opts.partitionable) {
      const [y0, y1] = hashIndex(key, n);
      const col = (y: AnyTensor) => emit('reshape', [y], { shape: [n, 1], axes: ['keys', 'key'] });
      return emit('concatenate', [col(y0), col(y1)], { dimension: 1 });
    }
    return emit('reshape', [hashIota(key, 2 * n)], { shape: [n, 2], axes: ['keys', 'key'] });
  }));
}

/** Row i of stacked keys. */
export function keyAt(keys: Keys, i: number): Key {
  return cast(userOp('keyAt', () => {
    const n = keys.shape[0]!;
    if (!Number.isInteger(i) || i < 0 || i >= n) fail(`key index ${i} out of range for ${showType(keys.type)}`);
    const row = emit('slice', [keys], { start: [i, 0], limit: [i + 1, 2], strides: [1, 1] });
    return emit('reshape', [row], { shape: [2], axes: ['key'] });
  }));
}

/** `const [a, b] = split(key)`: n new keys (default 2) as a JS array, `jax.random.split(key, n)[i]` each. */
export function split(key: Key, n = 2, opts: RandomOptions = {}): Key[] {
  return userOp('split', () => {
    const keys = splitKeys(key, n, opts);
    return Array.from({ length: n }, (_, i) => keyAt(keys, i));
  });
}

/**
 * `foldIn(key, step)`: a new key from a key and a 32-bit integer (a JS number in [0, 2^32) or an i32/u32 scalar
 * tensor), `jax.random.fold_in(key, data)`: the threefry hash of the counter pair (0, data). Shape rule: `u32[key=2]`.
 */
export function foldIn(key: Key, data: number | Tensor<'i32' | 'u32', readonly []>): Key {
  return cast(userOp('foldIn', () => {
    const [k0, k1] = words(key);
    let d: AnyTensor;
    if (data instanceof Tensor) {
      if ((data.dtype !== 'i32' && data.dtype !== 'u32') || data.rank !== 0) fail(`data must be an i32 or u32 scalar, got ${showType(data.type)}`);
      d = data.dtype === 'u32' ? data : emit('bitcast_convert', [data], { dtype: 'u32' });
    } else {
      if (!Number.isInteger(data) || data < 0 || data > MAX_COUNT) fail(`data must be an integer in [0, 2^32), got ${data}`);
      d = splat(data, SCALAR);
    }
    const [y0, y1] = threefry2x32(k0, k1, splat(0, SCALAR), d);
    return keyOf(y0, y1);
  }));
}

/**
 * `foldInPath(key, ['img_encoder', 'Transformer', 1])`: a key named by a path, Flax's fold of static data into an rng
 * (flax/core/scope.py `LazyRng.as_jax_rng`, with `flax_fix_rng_separator` off, its default): the bytes of every segment
 * concatenated in order (a string as UTF-8, an integer big-endian in as few bytes as it needs, 0 in none), SHA-1 of
 * them, the digest's first 4 bytes read big-endian as a u32, and one `foldIn` of that. So the key depends on the names
 * only, never on the order in which keys are derived. An empty path is the key itself (as Flax). The segments are
 * joined without a separator, so ['ab', 'c'] and ['a', 'bc'] name the same key: choose names that cannot collide.
 */
export function foldInPath(key: Key, path: readonly (string | number)[]): Key {
  if (path.length === 0) return key;
  return cast(userOp('foldInPath', () => {
    const h = createHash('sha1');
    for (const seg of path) {
      if (typeof seg === 'string') h.update(Buffer.from(seg, 'utf8'));
      else {
        if (!Number.isSafeInteger(seg) || seg < 0) fail(`a path segment is a string or an integer ≥ 0, got ${seg}`);
        const bytes: number[] = [];
        for (let v = BigInt(seg); v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
        h.update(Uint8Array.from(bytes));
      }
    }
    return foldIn(key, h.digest().readUInt32BE(0));
  }));
}

/**
 * `randomBits(key, {batch: 4, length: 16})`: uniform u32 bits, `jax.random.bits(key, shape, 'uint32')`. Shape rule:
 * the record's axes in its order.
 */
export function randomBits<const S extends AxisSizes>(key: Key, sizes: S, opts: RandomOptions = {}): Tensor<'u32', AxesOf<S>> {
  return cast(userOp('randomBits', () => {
    const t = sizesType('u32', sizes);
    const n = numElements(t.shape);
    let flat: AnyTensor;
    if (opts.partitionable) {
      const [y0, y1] = hashIndex(key, n);
      flat = xorT(y0, y1);
    } else flat = hashIota(key, n);
    return emit('reshape', [flat], { shape: t.shape, axes: t.axes });
  }));
}

/**
 * `randomBitsRows(keys, {embed: 64, mlp: 256})`: for stacked keys `[keys=n, key=2]`, u32 bits `[keys=n, embed, mlp]`
 * whose row i is `randomBits(keyAt(keys, i), sizes)`, from one threefry over all rows (each element hashed under its
 * row's key). What `init` uses to draw many same-shaped parameters with one hash in the program.
 */
export function randomBitsRows<const S extends AxisSizes>(keys: Keys, sizes: S, opts: RandomOptions = {}): Tensor<'u32', readonly ['keys', ...(keyof S & string)[]]> {
  return cast(userOp('randomBitsRows', () => {
    if (keys.dtype !== 'u32' || keys.rank !== 2 || keys.shape[1] !== 2) fail(`keys must be u32 [keys, key=2], got ${showType(keys.type)}`);
    const rows = keys.shape[0]!;
    const t = sizesType('u32', sizes);
    if (t.axes.includes('keys')) fail("sizes may not name an axis 'keys'");
    const n = numElements(t.shape);
    if (n > MAX_COUNT) fail(`cannot draw ${n} values per key (at most ${MAX_COUNT})`);
    const word = (i: number, width: number) => {
      const w = emit('reshape', [emit('slice', [keys], { start: [0, i], limit: [rows, i + 1], strides: [1, 1] })], { shape: [rows], axes: ['keys'] });
      return emit('broadcast_in_dim', [w], { shape: [rows, width], axes: ['keys', 'count'], dims: [0] });
    };
    const iota = (width: number) => emit('iota', [], { ...U32([rows, width], ['keys', 'count']), dimension: 1 });
    let flat: AnyTensor;
    if (opts.partitionable) {
      const lo = iota(n);
      const [y0, y1] = threefry2x32(word(0, n), word(1, n), konst(0, lo), lo);
      flat = xorT(y0, y1);
    } else {
      const half = Math.ceil(n / 2);
      const lo = iota(half);
      let hi = add(lo, konst(half, lo));
      if (n % 2 === 1) hi = emit('select', [emit('compare', [lo, konst(half - 1, lo)], { direction: 'EQ' }), konst(0, lo), hi], {});
      const [y0, y1] = threefry2x32(word(0, half), word(1, half), lo, hi);
      const both = emit('concatenate', [y0, y1], { dimension: 1 });
      flat = n % 2 === 1 ? emit('slice', [both], { start: [0, 0], limit: [rows, n], strides: [1, 1] }) : both;
    }
    return emit('reshape', [flat], { shape: [rows, ...t.shape], axes: ['keys', ...t.axes] });
  }));
}

/** A bound: a JS number (an f32 constant) or an f32 scalar tensor. */
export type Bound = number | Tensor<'f32', readonly []>;

export interface UniformOptions extends RandomOptions {
  /** Inclusive lower bound (default 0). */
  min?: Bound;
  /** Exclusive upper bound (default 1). */
  max?: Bound;
  /** Only f32 is supported (JAX draws 8/16-bit floats from differently sized bits). */
  dtype?: 'f32';
}

function scalarOf(b: Bound): AnyTensor {
  if (b instanceof Tensor) {
    if (b.dtype !== 'f32' || b.rank !== 0) fail(`a bound must be a number or an f32 scalar tensor, got ${showType(b.type)}`);
    return b;
  }
  return splat(b, { dtype: 'f32', shape: [], axes: [] });
}

/**
 * Uniform f32 samples from u32 bits of any shape (elementwise), as jax.random.uniform turns bits into floats: 23 random
 * mantissa bits under the exponent of 1.0 give a float in [1, 2); minus 1, scaled and shifted into [min, max).
 */
export function uniformFromBits<A extends Axes>(bits: Tensor<'u32', A>, bounds: { min?: Bound; max?: Bound } = {}): Tensor<'f32', A> {
  return cast(userOp('uniformFromBits', () => {
    if (bits.dtype !== 'u32') fail(`needs u32 bits, got ${showType(bits.type)}`);
    const t = bits.type;
    const f = { ...t, dtype: 'f32' as const };
    const mantissa = emit('or', [emit('shift_right_logical', [bits, splat(32 - 23, t)], {}), splat(0x3f800000, t)], {});
    const floats = emit('subtract', [emit('bitcast_convert', [mantissa], { dtype: 'f32' }), splat(1, f)], {});
    const min = bounds.min ?? 0, max = bounds.max ?? 1;
    const lo = scalarOf(min);
    const b = (s: AnyTensor) => (f.shape.length ? emit('broadcast_in_dim', [s], { shape: f.shape, axes: f.axes, dims: [] }) : s);
    // max − min in f32, as XLA computes (or folds) it; on the host when both bounds are numbers.
    const range = typeof min === 'number' && typeof max === 'number'
      ? splat(Math.fround(Math.fround(max) - Math.fround(min)), f)
      : b(emit('subtract', [scalarOf(max), lo], {}));
    const scaled = emit('add', [emit('multiply', [floats, range], {}), b(lo)], {});
    return emit('maximum', [b(lo), scaled], {});
  }));
}

/** Standard normal f32 samples from u32 bits of any shape (elementwise), as jax.random.normal: √2·erfinv(uniform(−1⁺, 1)). */
export function normalFromBits<A extends Axes>(bits: Tensor<'u32', A>): Tensor<'f32', A> {
  return cast(userOp('normalFromBits', () => {
    const u = uniformFromBits(bits, { min: nextAfterF32(-1, 0), max: 1 });
    return emit('multiply', [splat(Math.fround(Math.SQRT2), u.type), erfInv(u)], {});
  }));
}

function uniformImpl(key: Key, sizes: AxisSizes, opts: UniformOptions): AnyTensor {
  if ((opts.dtype ?? 'f32') !== 'f32') fail(`only f32 samples are supported, got ${opts.dtype}`);
  return uniformFromBits(randomBits(key, sizes, opts), opts);
}

/**
 * `uniform(key, {batch: 4, length: 196})`: f32 samples in [min, max) (default [0, 1)), bit for bit
 * `jax.random.uniform(key, shape, jnp.float32, min, max)`. Shape rule: the record's axes in its order.
 */
export function uniform<const S extends AxisSizes>(key: Key, sizes: S, opts: UniformOptions = {}): Tensor<'f32', AxesOf<S>> {
  return cast(userOp('uniform', () => uniformImpl(key, sizes, opts)));
}

/** The next f32 after x toward `to` (numpy's nextafter on float32). */
export function nextAfterF32(x: number, to: number): number {
  const xf = Math.fround(x);
  if (Number.isNaN(xf) || Number.isNaN(to)) return NaN;
  if (xf === to) return to;
  if (xf === 0) return Math.fround(to > 0 ? 2 ** -149 : -(2 ** -149));
  const buf = new DataView(new ArrayBuffer(4));
  buf.setFloat32(0, xf);
  const bits = buf.getUint32(0);
  const away = (to > xf) === (xf > 0);
  buf.setUint32(0, away ? bits + 1 : bits - 1);
  return buf.getFloat32(0);
}

/**
 * `normal(key, {embed: 64, mlp: 256})`: standard normal f32 samples, `jax.random.normal` (√2·erfinv of a uniform in
 * (−1, 1)); equal to JAX's up to the last ulp of erfinv. Shape rule: the record's axes in its order.
 */
export function normal<const S extends AxisSizes>(key: Key, sizes: S, opts: RandomOptions = {}): Tensor<'f32', AxesOf<S>> {
  return cast(userOp('normal', () => {
    return normalFromBits(randomBits(key, sizes, opts));
  }));
}

/**
 * erf in double precision (Taylor series below 3, Lentz's continued fraction for erfc above), for the bounds of
 * `truncatedNormal`: JAX computes erf(lower/√2) on constants, which XLA folds with the C library's erff, so the
 * correctly rounded value is what matches (a device polynomial is a few ulps off).
 */
export function erfF64(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x, sum = x;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (ax > 6) return Math.sign(x);
  // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) (continued fraction, modified Lentz).
  const tiny = 1e-300;
  let f = ax, c = ax, d = 0;
  for (let k = 1; k < 300; k++) {
    const a = k / 2;
    d = ax + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = ax + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/**
 * `truncatedNormal(key, -2, 2, {embed: 64})`: standard normal samples conditioned on lower < x < upper,
 * `jax.random.truncated_normal` (erfinv of a uniform between erf(lower/√2) and erf(upper/√2), clipped into the open
 * interval). Shape rule: the record's axes in its order.
 */
export function truncatedNormal<const S extends AxisSizes>(key: Key, lower: number, upper: number, sizes: S, opts: RandomOptions = {}): Tensor<'f32', AxesOf<S>> {
  return cast(userOp('truncatedNormal', () => {
    if (!(lower < upper)) fail(`lower (${lower}) must be below upper (${upper})`);
    const sqrt2 = Math.fround(Math.SQRT2);
    // erf of the f32 quotient, rounded to f32 (what XLA's constant folding gives JAX).
    const bound = (v: number) => Math.fround(erfF64(Math.fround(Math.fround(v) / sqrt2)));
    const u = uniformImpl(key, sizes, { ...opts, min: bound(lower), max: bound(upper) });
    const out = emit('multiply', [splat(sqrt2, u.type), erfInv(cast<Tensor<'f32', Axes>>(u))], {});
    const lo = splat(nextAfterF32(lower, Infinity), u.type);
    const hi = splat(nextAfterF32(upper, -Infinity), u.type);
    return emit('minimum', [emit('maximum', [out, lo], {}), hi], {});
  }));
}

/**
 * `bernoulli(key, 0.9, {batch: 8})`: i1 samples, true with probability p, `jax.random.bernoulli(key, p, shape)`
 * (uniform < p). Shape rule: the record's axes in its order.
 */
export function bernoulli<const S extends AxisSizes>(key: Key, p: number, sizes: S, opts: RandomOptions = {}): Tensor<'i1', AxesOf<S>> {
  return cast(userOp('bernoulli', () => {
    const u = uniformImpl(key, sizes, opts);
    return emit('compare', [u, splat(p, u.type)], { direction: 'LT' });
  }));
}
