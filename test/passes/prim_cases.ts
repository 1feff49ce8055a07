// One random test function per primitive, for the VJP tests: fast-check picks shapes and attributes, a seeded PRNG
// the input values (inside each primitive's smooth domain, so central differences are meaningful).
import fc from 'fast-check';
import { FuncBuilder, numElements, tensorType, type Func, type Prim, type TensorType, type Value } from '../../compiler/ir/index.ts';

export interface CaseParam {
  readonly type: TensorType;
  readonly values: Float64Array | Int32Array;
}

/** A function of float64 (and some int32) params whose VJP is checked with respect to `wrt`. */
export interface PrimCase {
  readonly name: string;
  readonly func: Func;
  readonly params: readonly CaseParam[];
  readonly wrt: readonly number[];
  /** Finite-difference step and relative tolerance (defaults suit f64: 1e-5 and 1e-6). */
  readonly eps?: number;
  readonly tol?: number;
}

/** mulberry32: a small seeded PRNG, so a failing fast-check case replays with the same values. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Init = (r: () => number, i: number) => number;
const uniform = (lo: number, hi: number): Init => (r) => lo + (hi - lo) * r();
/** |x| in [lo, hi] with a random sign: keeps abs/sign/divide away from their kink or pole. */
const awayFromZero = (lo: number, hi: number): Init => (r) => (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r());
/** Distinct values a permutation apart by at least 0.1: no ties for sort/max/min, even after a small step. */
const distinct = (n: number): Init => {
  const order = [...Array(n).keys()];
  let perm: number[] | undefined;
  return (r, i) => {
    if (!perm) {
      perm = order.slice();
      for (let k = n - 1; k > 0; k--) {
        const j = Math.floor(r() * (k + 1));
        [perm[k], perm[j]] = [perm[j]!, perm[k]!];
      }
    }
    return perm[i]! * 0.37 - n * 0.15 + 0.1 * r();
  };
};

const axesOf = (rank: number) => Array.from({ length: rank }, (_, i) => `a${i}`);
const f64 = (shape: readonly number[], axes = axesOf(shape.length)) => tensorType('f64', shape, axes);

function param(type: TensorType, seed: number, init: Init): CaseParam {
  const r = rng(seed);
  const n = numElements(type.shape);
  const values = type.dtype === 'i32' ? new Int32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = init(r, i);
  return { type, values };
}

function make(name: string, params: CaseParam[], wrt: number[], build: (b: FuncBuilder, ps: Value[]) => Value[]): PrimCase {
  const b = new FuncBuilder(name);
  const ps = params.map((p) => b.param(p.type));
  return { name, func: b.finish(build(b, ps)), params, wrt };
}

const dim = fc.integer({ min: 1, max: 4 });
const shapeArb = (minRank = 0, maxRank = 3) => fc.array(dim, { minLength: minRank, maxLength: maxRank });
const seedArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });

const unaryCase = (prim: Prim, init: Init) =>
  fc.tuple(shapeArb(), seedArb).map(([shape, seed]) =>
    make(prim, [param(f64(shape), seed, init)], [0], (b, [x]) => [b.emit1(prim, [x!], {} as never)]));

const binaryCase = (prim: Prim, initA: Init, initB: Init) =>
  fc.tuple(shapeArb(), seedArb).map(([shape, seed]) =>
    make(prim, [param(f64(shape), seed, initA), param(f64(shape), seed + 1, initB)], [0, 1], (b, [x, y]) => [b.emit1(prim, [x!, y!], {} as never)]));

/** max/min: b = a ± an offset of at least 0.1, so neither ties nor crosses under a small step. */
const chooserCase = (prim: 'maximum' | 'minimum') =>
  fc.tuple(shapeArb(), seedArb).map(([shape, seed]) => {
    const a = param(f64(shape), seed, uniform(-2, 2));
    const off = param(f64(shape), seed + 1, awayFromZero(0.1, 1));
    const bv = new Float64Array(a.values.length).map((_, i) => a.values[i]! + off.values[i]!);
    return make(prim, [a, { type: a.type, values: bv }], [0, 1], (b, [x, y]) => [b.emit1(prim, [x!, y!], {})]);
  });

function randomPerm(r: () => number, n: number): number[] {
  const p = [...Array(n).keys()];
  for (let k = n - 1; k > 0; k--) {
    const j = Math.floor(r() * (k + 1));
    [p[k], p[j]] = [p[j]!, p[k]!];
  }
  return p;
}

/** The random case for every differentiable primitive; 'nondiff' where the VJP table says so (checked by a test). */
export const PRIM_CASES: Record<Prim, fc.Arbitrary<PrimCase> | 'nondiff'> = {
  neg: unaryCase('neg', uniform(-2, 2)),
  exp: unaryCase('exp', uniform(-2, 2)),
  expm1: unaryCase('expm1', uniform(-2, 2)),
  log: unaryCase('log', uniform(0.2, 3)),
  log1p: unaryCase('log1p', uniform(-0.5, 3)),
  sqrt: unaryCase('sqrt', uniform(0.2, 3)),
  rsqrt: unaryCase('rsqrt', uniform(0.2, 3)),
  tanh: unaryCase('tanh', uniform(-2, 2)),
  logistic: unaryCase('logistic', uniform(-3, 3)),
  abs: unaryCase('abs', awayFromZero(0.1, 2)),
  sine: unaryCase('sine', uniform(-3, 3)),
  cosine: unaryCase('cosine', uniform(-3, 3)),
  sign: 'nondiff', floor: 'nondiff', ceil: 'nondiff', round_nearest_even: 'nondiff', not: 'nondiff',

  add: binaryCase('add', uniform(-2, 2), uniform(-2, 2)),
  subtract: binaryCase('subtract', uniform(-2, 2), uniform(-2, 2)),
  multiply: binaryCase('multiply', uniform(-2, 2), uniform(-2, 2)),
  divide: binaryCase('divide', uniform(-2, 2), awayFromZero(0.3, 2)),
  maximum: chooserCase('maximum'),
  minimum: chooserCase('minimum'),
  power: binaryCase('power', uniform(0.3, 2), uniform(-1.5, 1.5)),
  // x/y in (1.29, 1.87): trunc(x/y) = 1 in a neighbourhood, so rem is smooth there.
  remainder: binaryCase('remainder', awayFromZero(2.2, 2.8), uniform(1.5, 1.7)),
  atan2: binaryCase('atan2', awayFromZero(0.2, 2), awayFromZero(0.2, 2)),
  and: 'nondiff', or: 'nondiff', xor: 'nondiff', shift_left: 'nondiff', shift_right_logical: 'nondiff',
  compare: 'nondiff',

  // pred = (c > 0) from a third, non-differentiated param.
  select: fc.tuple(shapeArb(), seedArb).map(([shape, seed]) =>
    make('select', [param(f64(shape), seed, uniform(-1, 1)), param(f64(shape), seed + 1, uniform(-2, 2)), param(f64(shape), seed + 2, uniform(-2, 2))],
      [1, 2], (b, [c, x, y]) => [b.emit1('select', [b.emit1('compare', [c!, b.emit1('constant', [], { dtype: 'f64', shape: c!.type.shape, axes: c!.type.axes, value: 0 })], { direction: 'GT' }), x!, y!], {})])),
  // f64 → f32 → f64 (a smooth round trip; the test steps by a size f32 resolves).
  convert: fc.tuple(shapeArb(), seedArb).map(([shape, seed]) => ({
    ...make('convert', [param(f64(shape), seed, uniform(-2, 2))], [0], (b, [x]) => {
      const y = b.emit1('convert', [x!], { dtype: 'f32' });
      return [b.emit1('convert', [b.emit1('multiply', [y, y], {})], { dtype: 'f64' })];
    }),
    eps: 1e-2, tol: 1e-3,
  })),
  bitcast_convert: 'nondiff',
  constant: 'nondiff',
  iota: 'nondiff',

  broadcast_in_dim: fc.tuple(shapeArb(0, 3), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.array(dim, { minLength: 0, maxLength: 2 }), seedArb)
    .map(([shape, stretch, extra, seed]) => {
      // operand dims go (in order) to random result positions among extra new dims; some operand dims are 1 and stretched.
      const r = rng(seed);
      const rank = shape.length + extra.length;
      const positions = randomPerm(r, rank).slice(0, shape.length).sort((a, b) => a - b);
      const out: number[] = Array(rank).fill(0);
      positions.forEach((p, i) => { out[p] = shape[i]!; });
      let e = 0;
      for (let d = 0; d < rank; d++) if (!positions.includes(d)) out[d] = extra[e++]!;
      const opShape = shape.map((s, i) => (stretch[i] ? 1 : s));
      return make('broadcast_in_dim', [param(f64(opShape), seed, uniform(-2, 2))], [0], (b, [x]) =>
        [b.emit1('broadcast_in_dim', [x!], { shape: out, axes: axesOf(rank), dims: positions })]);
    }),
  reshape: fc.tuple(shapeArb(0, 3), seedArb).map(([shape, seed]) => {
    const n = numElements(shape);
    const r = rng(seed);
    const out: number[] = [];
    let rest = n;
    for (let d = 2; d <= rest; d++) while (rest % d === 0 && r() < 0.7) { out.push(d); rest /= d; }
    if (rest > 1) out.push(rest);
    return make('reshape', [param(f64(shape), seed, uniform(-2, 2))], [0], (b, [x]) => [b.emit1('reshape', [x!], { shape: out, axes: axesOf(out.length) })]);
  }),
  transpose: fc.tuple(shapeArb(1, 4), seedArb).map(([shape, seed]) =>
    make('transpose', [param(f64(shape), seed, uniform(-2, 2))], [0], (b, [x]) => [b.emit1('transpose', [x!], { permutation: randomPerm(rng(seed), shape.length) })])),
  concatenate: fc.tuple(shapeArb(1, 3), fc.array(dim, { minLength: 1, maxLength: 3 }), seedArb).map(([shape, sizes, seed]) => {
    const d = seed % shape.length;
    const ps = sizes.map((s, i) => param(f64(shape.map((x, k) => (k === d ? s : x))), seed + i, uniform(-2, 2)));
    return make('concatenate', ps, ps.map((_, i) => i), (b, xs) => [b.emit1('concatenate', xs, { dimension: d })]);
  }),
  slice: fc.tuple(shapeArb(1, 3), seedArb).map(([shape, seed]) => {
    const r = rng(seed);
    const big = shape.map((s) => s + 3);
    const start = big.map((s) => Math.floor(r() * (s - 1)));
    const limit = big.map((s, i) => start[i]! + 1 + Math.floor(r() * (s - start[i]!)));
    const strides = big.map(() => 1 + Math.floor(r() * 3));
    return make('slice', [param(f64(big), seed, uniform(-2, 2))], [0], (b, [x]) => [b.emit1('slice', [x!], { start, limit, strides })]);
  }),
  dynamic_slice: fc.tuple(shapeArb(1, 3), seedArb).map(([shape, seed]) => {
    const r = rng(seed);
    const big = shape.map((s) => s + 2);
    const starts = big.map((s, i) => Math.floor(r() * (s - shape[i]! + 1)));
    return make('dynamic_slice', [param(f64(big), seed, uniform(-2, 2))], [0], (b, [x]) => {
      const idx = starts.map((s) => b.emit1('constant', [], { dtype: 'i32', shape: [], axes: [], value: s }));
      return [b.emit1('dynamic_slice', [x!, ...idx], { sizes: shape })];
    });
  }),
  dynamic_update_slice: fc.tuple(shapeArb(1, 3), seedArb).map(([shape, seed]) => {
    const r = rng(seed);
    const big = shape.map((s) => s + 2);
    const starts = big.map((s, i) => Math.floor(r() * (s - shape[i]! + 1)));
    return make('dynamic_update_slice', [param(f64(big), seed, uniform(-2, 2)), param(f64(shape), seed + 1, uniform(-2, 2))], [0, 1], (b, [x, u]) => {
      const idx = starts.map((s) => b.emit1('constant', [], { dtype: 'i32', shape: [], axes: [], value: s }));
      return [b.emit1('dynamic_update_slice', [x!, u!, ...idx], {})];
    });
  }),
  pad: fc.tuple(shapeArb(1, 3), seedArb).map(([shape, seed]) => {
    const r = rng(seed);
    const interior = shape.map(() => Math.floor(r() * 3));
    // low/high in [-1, 2], never cropping the whole dim.
    const low = shape.map((s) => Math.floor(r() * 4) - (s > 1 ? 1 : 0));
    const high = shape.map((s) => Math.floor(r() * 4) - (s > 2 ? 1 : 0));
    return make('pad', [param(f64(shape), seed, uniform(-2, 2)), param(f64([]), seed + 1, uniform(-2, 2))], [0, 1], (b, [x, v]) =>
      [b.emit1('pad', [x!, v!], { low, high, interior })]);
  }),
  // Random batch / free / contracting sizes, each operand's dims in a random order.
  dot_general: fc.tuple(fc.array(dim, { maxLength: 2 }), fc.array(dim, { maxLength: 2 }), fc.array(dim, { maxLength: 2 }), fc.array(dim, { maxLength: 2 }), seedArb)
    .map(([batch, lFree, contract, rFree, seed]) => {
      const r = rng(seed);
      const lKinds = [...batch.map((s, i) => ['b', i, s] as const), ...lFree.map((s, i) => ['f', i, s] as const), ...contract.map((s, i) => ['c', i, s] as const)];
      const rKinds = [...batch.map((s, i) => ['b', i, s] as const), ...rFree.map((s, i) => ['f', i, s] as const), ...contract.map((s, i) => ['c', i, s] as const)];
      const lOrder = randomPerm(r, lKinds.length).map((i) => lKinds[i]!);
      const rOrder = randomPerm(r, rKinds.length).map((i) => rKinds[i]!);
      const find = (order: typeof lOrder, kind: 'b' | 'c', i: number) => order.findIndex(([k, j]) => k === kind && j === i);
      const attrs = {
        lhsBatch: batch.map((_, i) => find(lOrder, 'b', i)), rhsBatch: batch.map((_, i) => find(rOrder, 'b', i)),
        lhsContract: contract.map((_, i) => find(lOrder, 'c', i)), rhsContract: contract.map((_, i) => find(rOrder, 'c', i)),
      };
      const lt = f64(lOrder.map(([, , s]) => s), lOrder.map(([k, i]) => `${k}${i}`));
      const rt = f64(rOrder.map(([, , s]) => s), rOrder.map(([k, i]) => (k === 'f' ? `g${i}` : `${k}${i}`)));
      return make('dot_general', [param(lt, seed, uniform(-2, 2)), param(rt, seed + 1, uniform(-2, 2))], [0, 1], (b, [x, y]) =>
        [b.emit1('dot_general', [x!, y!], attrs)]);
    }),
  reduce: fc.tuple(shapeArb(1, 3), fc.constantFrom('sum' as const, 'max' as const, 'min' as const), seedArb).map(([shape, kind, seed]) => {
    const r = rng(seed);
    const dims = shape.map((_, i) => i).filter(() => r() < 0.6);
    return make(`reduce_${kind}`, [param(f64(shape), seed, distinct(numElements(shape)))], [0], (b, [x]) => [b.emit1('reduce', [x!], { dims, kind })]);
  }),
  sort: fc.tuple(shapeArb(1, 3), fc.boolean(), seedArb).map(([shape, descending, seed]) => {
    const dimension = seed % shape.length;
    return make('sort', [param(f64(shape), seed, distinct(numElements(shape))), param(f64(shape), seed + 1, uniform(-2, 2))], [0, 1], (b, [k, v]) =>
      b.emit('sort', [k!, v!], { dimension, descending }));
  }),
  // Embedding-style lookup with repeated rows (so scatter-add has to add).
  gather: fc.tuple(dim, dim, fc.array(dim, { minLength: 1, maxLength: 2 }), seedArb).map(([vocab, width, idxShape, seed]) => {
    const r = rng(seed);
    const ids = param(tensorType('i32', [...idxShape, 1], [...axesOf(idxShape.length), 'idx']), seed, () => Math.floor(r() * vocab));
    return make('gather', [param(f64([vocab, width], ['vocab', 'embed']), seed, uniform(-2, 2)), ids], [0], (b, [t, i]) =>
      [b.emit1('gather', [t!, i!], {
        offsetDims: [idxShape.length], collapsedSliceDims: [0], startIndexMap: [0], indexVectorDim: idxShape.length, sliceSizes: [1, width],
        axes: [...axesOf(idxShape.length), 'embed'],
      })]);
  }),
  // Row updates into a table; 'replace' gets unique rows (its transpose assumes that, as JAX's does).
  scatter: fc.tuple(fc.integer({ min: 2, max: 5 }), dim, fc.integer({ min: 1, max: 4 }), fc.constantFrom('add' as const, 'replace' as const), seedArb)
    .map(([rows, width, n0, kind, seed]) => {
      const r = rng(seed);
      const n = kind === 'replace' ? Math.min(n0, rows) : n0;
      const perm = randomPerm(r, rows);
      const ids = param(tensorType('i32', [n, 1], ['upd', 'idx']), seed, (_r, i) => (kind === 'replace' ? perm[i]! : Math.floor(r() * rows)));
      return make(`scatter_${kind}`, [param(f64([rows, width], ['rows', 'embed']), seed, uniform(-2, 2)), ids, param(f64([n, width], ['upd', 'embed']), seed + 1, uniform(-2, 2))],
        [0, 2], (b, [t, i, u]) => [b.emit1('scatter', [t!, i!, u!], {
          updateWindowDims: [1], insertedWindowDims: [0], scatterDimsToOperandDims: [0], indexVectorDim: 1, kind,
        })]);
    }),
  optimization_barrier: fc.tuple(shapeArb(), seedArb).map(([shape, seed]) =>
    make('optimization_barrier', [param(f64(shape), seed, uniform(-2, 2)), param(f64(shape), seed + 1, uniform(-2, 2))], [0, 1], (b, [x, y]) => {
      const [p, q] = b.emit('optimization_barrier', [x!, y!], {});
      return [b.emit1('multiply', [p!, q!], {})];
    })),
  sharding_constraint: fc.tuple(shapeArb(1, 2), seedArb).map(([shape, seed]) =>
    make('sharding_constraint', [param(f64(shape), seed, uniform(-2, 2))], [0], (b, [x]) =>
      [b.emit1('sharding_constraint', [b.emit1('sine', [x!], {})], { sharding: '{replicated}' })])),
  // A loop: c ← tanh(W_i·c + v), y_i = c·c_prev, with the carry, the stacked W and the const v all differentiated.
  scan: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), seedArb).map(([len, n, reverse, seed]) =>
    make('scan', [param(f64([n]), seed, uniform(-1, 1)), param(f64([len, n, n]), seed + 1, uniform(-1, 1)), param(f64([n]), seed + 2, uniform(-1, 1))], [0, 1, 2],
      (b, [c, w, v]) => {
        const body = new FuncBuilder('body');
        body.param(tensorType('i32', []));
        const cv = body.param(f64([n])), wv = body.param(f64([n, n])), vv = body.param(f64([n]));
        const h = body.emit1('dot_general', [wv, cv], { lhsBatch: [], rhsBatch: [], lhsContract: [1], rhsContract: [0] });
        const c1 = body.emit1('tanh', [body.emit1('add', [h, vv], {})], {});
        const y = body.emit1('multiply', [c1, cv], {});
        return b.emit('scan', [c!, w!, v!], { body: body.finish([c1, y]), length: len, numCarry: 1, numXs: 1, axis: 'layers', ...(reverse ? { reverse } : {}) });
      })),
};
