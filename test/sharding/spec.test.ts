// Meshes, logical axis rules and HloSharding text against JAX/flax, and the sharding pass's decisions on IR.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FuncBuilder, tensorType, type Func, type PrimAttrs } from '../../compiler/ir/index.ts';
import { parseHloSharding } from '../../compiler/mlir/sharding.ts';
import {
  FLIP_AXIS_RULES, IndivisibleAxisError, MeshError, UnmappedAxisError, hloSharding, localShape, logicalToMesh, mesh, parseMesh, replicaIndex, resolvePartitioning,
  shardFunc, shardOrigin, standardLogicalAxisRules, tileIndex, type AxisRules, type PartitionSpec,
} from '../../compiler/passes/index.ts';
import { traceFunc } from '../../compiler/trace/index.ts';
import { flatten, type TensorSpec } from '../../compiler/trace/index.ts';
import { einsum, grad, shard, spec, type Tensor } from '../../dsl/index.ts';
import base from '../../configs/flip_base.ts';
import huge14 from '../../configs/flip_huge14.ts';
import large from '../../configs/flip_large.ts';
import small from '../../configs/flip_small.ts';
import tiny from '../../configs/flip_tiny.ts';
import { flipSpecs, type FlipModelConfig } from '../../models/flip.ts';
import { stateSpecs } from '../../train/step.ts';

interface Golden {
  jax: string;
  cases: { mesh: Record<string, number>; spec: (string | string[] | null)[]; rank: number; hlo: string }[];
  t5x_rules: Record<string, [string, string | null][]>;
  logical: { act: 1 | 2; par: 1 | 2; names: string[]; spec: (string | null)[] }[];
}
const golden = JSON.parse(readFileSync(path.join(import.meta.dirname, 'jax_hlo_shardings.json'), 'utf8')) as Golden;

const normal = (s: Golden['cases'][number]): PartitionSpec =>
  Array.from({ length: s.rank }, (_, i) => { const e = s.spec[i]; return e == null ? [] : typeof e === 'string' ? [e] : e; });

describe('HloSharding text', () => {
  it(`is JAX ${golden.jax}'s for ${golden.cases.length} (mesh, PartitionSpec) pairs on 1-, 2- and 3-axis meshes`, () => {
    expect(golden.cases.length).toBeGreaterThan(60);
    for (const c of golden.cases) expect(hloSharding(normal(c), mesh(c.mesh)), `${JSON.stringify(c.mesh)} ${JSON.stringify(c.spec)}`).toBe(c.hlo);
  });

  it('places each mesh position on the tile that an independent HloSharding reader (compiler/mlir) says', () => {
    for (const c of golden.cases) {
      const m = mesh(c.mesh);
      const spec = normal(c);
      const tiling = parseHloSharding(c.hlo, c.rank, m.size);
      for (let p = 0; p < m.size; p++) expect(tileIndex(spec, m, p), `${c.hlo} position ${p}`).toEqual(tiling.coords(p));
    }
  });

  it('gives each position its block and marks one copy of each block', () => {
    const m = mesh({ data: 4, model: 2 });
    const spec: PartitionSpec = [['model'], []];
    expect(localShape(spec, m, [6, 3])).toEqual([3, 3]);
    // Position p = (d, j): rows 3j.. of the [6, 3] array; d = 0 holds the copy a download reads.
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((p) => shardOrigin(spec, m, [6, 3], p))).toEqual([[0, 0], [3, 0], [0, 0], [3, 0], [0, 0], [3, 0], [0, 0], [3, 0]]);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((p) => replicaIndex(spec, m, p))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(() => localShape([['data'], []], m, [6, 3])).toThrow(/does not split evenly 4 ways/);
    expect(() => hloSharding([['model'], ['model']], m)).toThrow(/uses mesh axis 'model' twice/);
    expect(() => hloSharding([['x']], m)).toThrow(/lacks/);
  });
});

describe('logical axis rules', () => {
  it("are t5x's standard_logical_axis_rules for 1-D and 2-D activation/parameter partitioning", () => {
    for (const [key, table] of Object.entries(golden.t5x_rules)) {
      const [act, par] = key.split(',').map(Number) as [1 | 2, 1 | 2];
      expect(standardLogicalAxisRules({ activationPartitioningDims: act, parameterPartitioningDims: par })).toEqual(table);
    }
  });

  it(`resolve logical names as flax's logical_to_mesh_axes (${golden.logical.length} lookups)`, () => {
    for (const c of golden.logical) {
      const rules = standardLogicalAxisRules({ activationPartitioningDims: c.act, parameterPartitioningDims: c.par });
      expect(logicalToMesh(c.names, rules), `${c.act},${c.par} [${c.names}]`).toEqual(c.spec.map((a) => (a ? [a] : [])));
    }
  });

  it("FLIP's are t5x's 1-D rules plus the names its train.py appends", () => {
    expect(FLIP_AXIS_RULES.slice(0, 7)).toEqual(golden.t5x_rules['1,1']!.slice(0, 7));
    expect(FLIP_AXIS_RULES.slice(-5)).toEqual([['_null0', null], ['_null1', null], ['_null2', null], ['classes', null], ['proj', null]]);
    expect(logicalToMesh(['batch', 'length', 'mlp'], FLIP_AXIS_RULES)).toEqual([['data'], [], ['model']]);
    expect(logicalToMesh(['batch', 'length', 'heads', 'kv'], FLIP_AXIS_RULES)).toEqual([['data'], [], ['model'], []]);
  });

  it('take several mesh axes per name, drop axes the mesh lacks, and refuse repeated names', () => {
    const rules: AxisRules = [['batch', ['data', 'model']], ['mlp', 'model']];
    expect(logicalToMesh(['batch', 'mlp'], rules)).toEqual([['data', 'model'], []]);
    expect(logicalToMesh(['embed', 'mlp'], FLIP_AXIS_RULES, mesh({ data: 8 }))).toEqual([[], []]);
    expect(() => logicalToMesh(['embed', 'embed'], FLIP_AXIS_RULES)).toThrow(MeshError);
  });
});

describe('meshes', () => {
  it('read --mesh text', () => {
    expect(parseMesh('data=4,model=2')).toMatchObject({ axes: ['data', 'model'], shape: [4, 2], size: 8, devices: [0, 1, 2, 3, 4, 5, 6, 7] });
    expect(parseMesh('8')).toMatchObject({ axes: ['data'], shape: [8] });
    expect(parseMesh(' model:2 , data=3')).toMatchObject({ axes: ['model', 'data'], shape: [2, 3] });
    expect(() => parseMesh('data=4,model')).toThrow(/axis=size/);
    expect(() => parseMesh('data=0')).toThrow(/positive/);
    expect(() => parseMesh('data=2,data=2')).toThrow(/twice/);
    expect(() => mesh({ data: 2 }, { devices: [3, 3] })).toThrow(/distinct/);
  });

  it("follow FLIP's num_partitions: data × model with model minor, or a --mesh override", () => {
    expect(resolvePartitioning({ numPartitions: 2 }, 8).mesh).toMatchObject({ axes: ['data', 'model'], shape: [4, 2] });
    expect(resolvePartitioning({}, 8).mesh.shape).toEqual([8, 1]);
    expect(() => resolvePartitioning({ numPartitions: 3 }, 8)).toThrow(/divisor/);
    const r = resolvePartitioning({ numPartitions: 2, partitionStates: true, additionalRules: [['patch', null]] }, 8, parseMesh('data=2,model=4'));
    expect(r.mesh.shape).toEqual([2, 4]);
    expect(r.partitionStates).toBe(true);
    expect(r.rules.at(-1)).toEqual(['patch', null]);
  });
});

/** A Func with named parameters of the given axes (f32, each size 8 unless given), returning them all plus their sum. */
function funcOf(params: [string, Record<string, number>][]): Func {
  const b = new FuncBuilder('f');
  const vs = params.map(([name, sizes]) => b.param(tensorType('f32', Object.values(sizes), Object.keys(sizes)), { name }));
  const total = b.emit1('reduce', [vs[0]!], { dims: vs[0]!.type.shape.map((_, i) => i), kind: 'sum' });
  return b.finish([...vs, total], [...params.map(([name]) => ({ name })), { name: 'metrics.loss' }]);
}

describe('the sharding pass', () => {
  const m42 = mesh({ data: 4, model: 2 });

  it('shards params by their axis names, optimizer states like their params, inputs by batch, scalars replicated', () => {
    const f = funcOf([
      ['params.mlp.wi', { embed: 8, mlp: 16 }], ['opt.mu.mlp.wi', { embed: 8, mlp: 16 }], ['batch.images', { batch: 8, height: 4, embed: 2 }],
      ['step', {}],
    ]);
    const s = shardFunc(f, { mesh: m42 });
    expect(s.params.map((p) => [p.role, p.spec])).toEqual([
      ['param', [[], ['model']]], ['state', [[], ['model']]], ['data', [['data'], [], []]], ['replicated', []],
    ]);
    expect(s.func.paramInfo.map((i) => i.sharding)).toEqual([
      '{devices=[1,2,4]<=[4,2]T(1,0) last_tile_dim_replicate}', '{devices=[1,2,4]<=[4,2]T(1,0) last_tile_dim_replicate}',
      '{devices=[4,1,1,2]<=[8] last_tile_dim_replicate}', '{replicated}',
    ]);
    // Results named like a param keep its sharding; the scalar metric is replicated.
    expect(s.results.map((r) => r.role)).toEqual(['same as param', 'same as param', 'same as param', 'same as param', 'replicated']);
    expect(s.func.resultInfo.map((i) => i.sharding)).toEqual([...s.func.paramInfo.map((i) => i.sharding), '{replicated}']);
    expect(s.func.paramInfo[0]!.name).toBe('params.mlp.wi');
  });

  it("with partitionStates splits 2-D states over the axis the param leaves free (FLIP's revise_axes)", () => {
    const rules2 = standardLogicalAxisRules({ parameterPartitioningDims: 2 }); // embed → data
    const cases: [Record<string, number>, AxisRules, PartitionSpec][] = [
      [{ embed: 8, mlp: 16 }, FLIP_AXIS_RULES, [['data'], ['model']]], // [-, model] → [data, model]
      [{ mlp: 16, embed: 8 }, FLIP_AXIS_RULES, [['model'], ['data']]], // [model, -] → [model, data] (FLIP: [data, model])
      [{ mlp: 16, embed: 8 }, rules2, [['model'], ['data']]], // [model, data] stays
      [{ vocab: 6, embed: 8 }, rules2, [['model'], ['data']]],
      [{ length: 8, embed: 8 }, rules2, [['model'], ['data']]], // [-, data] → [model, data]
      [{ embed: 8, length: 8 }, rules2, [['data'], ['model']]], // [data, -] → [data, model]
      [{ embed: 8, kv: 8 }, FLIP_AXIS_RULES, [[], []]], // nothing split: stays replicated
      [{ mlp: 16 }, FLIP_AXIS_RULES, [['model']]], // rank 1: unchanged
      [{ embed: 8, heads: 4, kv: 2 }, FLIP_AXIS_RULES, [['data'], ['model'], []]], // rank 3: first free dim
    ];
    for (const [sizes, rules, want] of cases) {
      const s = shardFunc(funcOf([['opt.nu.w', sizes], ['params.w', sizes]]), { mesh: m42, rules, partitionStates: true });
      expect(s.params[0]!.spec, JSON.stringify(sizes)).toEqual(want);
      expect(s.params[1]!.spec, 'the param itself is not split further').toEqual(logicalToMesh(Object.keys(sizes), rules, m42));
    }
    // No free dim that data divides: the state stays as its param, with a note (not an error: nothing is uneven).
    const s = shardFunc(funcOf([['opt.nu.w', { embed: 6, mlp: 16 }]]), { mesh: m42, partitionStates: true });
    expect(s.params[0]!.spec).toEqual([[], ['model']]);
    expect(s.notes).toEqual(['partitionStates: no free dimension divides mesh axis data=4; the state is not split over it (opt.nu.w)']);
  });

  it('refuses a dimension the mesh does not divide: one error naming the tensor, its axes and the mesh', () => {
    const f = funcOf([['params.w', { embed: 8, heads: 3 }], ['params.v', { heads: 3 }], ['params.u', { mlp: 16 }]]);
    expect(() => shardFunc(f, { mesh: m42 })).toThrow(IndivisibleAxisError);
    // The first tensor met, and how many more fail.
    expect(() => shardFunc(f, { mesh: m42 })).toThrow('params.w f32[embed=8, heads=3]: mesh axis model=2 does not divide heads=3 (mesh data=4, model=2); 1 more tensor fails too');
    // A mesh without the axis the rule names splits nothing, so nothing need divide.
    expect(shardFunc(f, { mesh: mesh({ data: 8 }) }).params.map((p) => p.spec)).toEqual([[[], []], [[]], [[]]]);
    // Inputs: the batch, with a hint; several mesh axes on one dim; an explicit spec.
    expect(() => shardFunc(funcOf([['batch.x', { batch: 6, embed: 8 }]]), { mesh: m42 }))
      .toThrow('batch.x f32[batch=6, embed=8]: mesh axis data=4 does not divide batch=6 (mesh data=4, model=2); make the batch a multiple of 4');
    expect(() => shardFunc(funcOf([['batch.x', { batch: 12 }]]), { mesh: m42, rules: [['batch', ['data', 'model']]] }))
      .toThrow('batch.x f32[batch=12]: mesh axes data=4 × model=2 (8 ways) do not divide batch=12 (mesh data=4, model=2)');
    expect(() => shardFunc(funcOf([['y', { a: 8, b: 3 }]]), { mesh: m42, roleOf: (_n, _t, kind) => (kind === 'param' ? [['data'], ['model']] : undefined) }))
      .toThrow(/^y f32\[a=8, b=3\]: mesh axis model=2 does not divide b=3/);
  });

  it('refuses an axis name that no rule maps, and takes one a rule maps to null', () => {
    const f = funcOf([['params.w', { embed: 8, foo: 4 }]]);
    expect(() => shardFunc(f, { mesh: m42 })).toThrow(UnmappedAxisError);
    expect(() => shardFunc(f, { mesh: m42 })).toThrow(
      "params.w f32[embed=8, foo=4]: axis 'foo' has no logical axis rule (mesh data=4, model=2; rules map: batch, vocab, embed, mlp, heads, kv, " +
        "joined_kv, relpos_buckets, … (18 in all); add ['foo', null] to the rules to replicate it, or rename the axis)",
    );
    // Even where the mesh would split nothing: the rules, not the mesh, are wrong.
    expect(() => shardFunc(f, { mesh: mesh({ data: 1 }) })).toThrow(UnmappedAxisError);
    expect(shardFunc(f, { mesh: m42, rules: [...FLIP_AXIS_RULES, ['foo', null]] }).params[0]!.spec).toEqual([[], []]);
    // Inputs are split by their batch alone: their other names need no rule.
    expect(shardFunc(funcOf([['batch.image', { batch: 8, height: 4, channels: 3 }]]), { mesh: m42 }).params[0]!.spec).toEqual([['data'], [], []]);
  });

  it('takes explicit roles and specs, and annotates nothing on a one-device mesh', () => {
    const f = funcOf([['x', { batch: 8, mlp: 16 }], ['y', { batch: 8, mlp: 16 }]]);
    const s = shardFunc(f, { mesh: m42, roleOf: (name, _t, kind) => (kind === 'result' ? undefined : name === 'x' ? 'param' : [['model'], ['data']]) });
    expect(s.params.map((p) => p.spec)).toEqual([[['data'], ['model']], [['model'], ['data']]]);
    expect(() => shardFunc(f, { mesh: m42, roleOf: () => [['data']] })).toThrow(/rank 1/);
    const one = shardFunc(f, { mesh: mesh({ data: 1 }) });
    expect(one.numPartitions).toBe(1);
    expect([...one.func.paramInfo, ...one.func.resultInfo].every((i) => i.sharding === undefined)).toBe(true);
  });
});

describe('shard() in model code', () => {
  const h = spec('f32', { batch: 8, length: 4, mlp: 16 });
  const constraints = (f: Func) => f.ops.filter((o) => o.prim === 'sharding_constraint').map((o) => o.attrs as PrimAttrs['sharding_constraint']);

  it('traces to a constraint that is the identity until the pass resolves its logical axes on a mesh', () => {
    const t = traceFunc((x: Tensor<'f32', ['batch', 'length', 'mlp']>) => shard(x.mul(2), ['batch', 'length', 'mlp']), [h]);
    expect(constraints(t.func)).toEqual([{ sharding: '{replicated}', logical: ['batch', 'length', 'mlp'] }]);
    const s = shardFunc(t.func, { mesh: mesh({ data: 4, model: 2 }) });
    expect(constraints(s.func)).toEqual([{ sharding: '{devices=[4,1,2]<=[8]}', logical: ['batch', 'length', 'mlp'] }]);
    // Without names it uses the tensor's own; on (data=2, model=4) the same names give another tiling.
    const own = traceFunc((x: Tensor<'f32', ['batch', 'length', 'mlp']>) => shard(x), [h]);
    expect(constraints(shardFunc(own.func, { mesh: mesh({ data: 2, model: 4 }) }).func)[0]!.sharding).toBe('{devices=[2,1,4]<=[8]}');
  });

  it('puts the same constraint on the gradient', () => {
    const w = spec('f32', { embed: 8, mlp: 16 });
    const x = spec('f32', { batch: 8, length: 4, embed: 8 });
    const t = traceFunc((p: Tensor<'f32', ['embed', 'mlp']>, xs: Tensor<'f32', ['batch', 'length', 'embed']>) =>
      grad((q: Tensor<'f32', ['embed', 'mlp']>) => shard(einsum('batch length embed, embed mlp -> batch length mlp', xs, q), ['batch', 'length', 'mlp']).tanh().sum())(p), [w, x]);
    const cs = constraints(shardFunc(t.func, { mesh: mesh({ data: 4, model: 2 }) }).func);
    expect(cs.length).toBe(2);
    expect(new Set(cs.map((c) => c.sharding))).toEqual(new Set(['{devices=[4,1,2]<=[8]}']));
  });

  it('refuses a name without a rule, or a size the mesh does not divide, naming the constraint and its line', () => {
    const t = traceFunc((x: Tensor<'f32', ['batch', 'length', 'mlp']>) => shard(x, ['batch', 'foo', 'mlp']), [h]);
    expect(() => shardFunc(t.func, { mesh: mesh({ data: 4, model: 2 }) }))
      .toThrow(/^shard \[batch, foo, mlp\] at \S*spec\.test\.ts:\d+ f32\[batch=8, length=4, mlp=16\]: axis 'foo' has no logical axis rule \(mesh data=4, model=2;/);
    const u = traceFunc((x: Tensor<'f32', ['batch', 'length', 'mlp']>) => shard(x, ['batch', null, 'mlp']), [spec('f32', { batch: 8, length: 4, mlp: 6 })]);
    expect(() => shardFunc(u.func, { mesh: mesh({ data: 2, model: 4 }) }))
      .toThrow(/^shard \[batch, -, mlp\] at \S*spec\.test\.ts:\d+ f32\[batch=8, length=4, mlp=6\]: mesh axis model=4 does not divide mlp=6 \(mesh data=2, model=4\)$/);
  });

  it("refuses names that do not fit the tensor, at the user's line", () => {
    expect(() => traceFunc((x: Tensor<'f32', ['batch', 'length', 'mlp']>) => shard(x, ['batch', 'mlp'] as never), [h])).toThrow(/spec\.test\.ts:\d+:\d+: shard: 2 logical axes \[batch, mlp\] for a rank-3 tensor/);
    expect(() => traceFunc((x: Tensor<'f32', ['batch', 'length', 'mlp']>) => shard(x, ['batch', 'batch', null]), [h])).toThrow(/repeat a name/);
  });
});

describe('the FLIP models under the rules', () => {
  const isSpec = (x: unknown): x is TensorSpec => typeof x === 'object' && x !== null && 'shape' in x && 'axes' in x;
  /** The train state's leaves (params, mu, nu) of a model config as a Func's named parameters. */
  const stateFunc = (model: FlipModelConfig) => {
    const f = flatten<TensorSpec>(stateSpecs(model), { isLeaf: isSpec });
    return funcOf(f.leaves.map((t, i) => [`state.${f.paths[i]}`, Object.fromEntries(t.axes.map((a, k) => [a, t.shape[k]!]))]));
  };

  it('name no param axis that the rules do not map, tiny to huge', () => {
    for (const cfg of [tiny, small, base, large, huge14]) {
      const names = new Set(flatten<TensorSpec>(flipSpecs(cfg.model), { isLeaf: isSpec }).leaves.flatMap((t) => t.axes));
      expect([...names].filter((n) => !FLIP_AXIS_RULES.some(([r]) => r === n)), cfg.name).toEqual([]);
    }
  });

  it("shard flip_tiny's state on (data=2, model=2), and refuse (data=2, model=4), which its 2 heads do not divide", () => {
    const f = stateFunc(tiny.model);
    const s = shardFunc(f, { mesh: mesh({ data: 2, model: 2 }), partitionStates: true });
    expect(s.params.find((p) => p.name!.endsWith('encoderblock_00.MlpBlock_0.Dense_0.kernel'))!.spec).toEqual([[], ['model']]);
    expect(s.notes).toEqual([]);
    expect(() => shardFunc(f, { mesh: mesh({ data: 2, model: 4 }) })).toThrow(new RegExp(
      '^state\\.params\\.img_encoder\\.Transformer\\.encoderblock_00\\.MultiHeadDotProductAttention_0\\.query\\.kernel f32\\[embed=32, heads=2, kv=16\\]: ' +
        'mesh axis model=4 does not divide heads=2 \\(mesh data=2, model=4\\); \\d+ more tensors fail too$'));
  });
});
