// Entry shardings: which tile of each array an SPMD partition holds, from GSPMD strings and Shardy attributes (and,
// for shard_map's unannotated arguments, from their first use).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { functions, parseModule } from '../../compiler/mlir/index.ts';
import { annotateImpliedShardings, entryTilings, parseHloSharding, ShardingError, type Tiling } from '../../compiler/mlir/sharding.ts';
import { runMlir } from '../../programs/run_mlir.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/mlir');
const layout = (t: Tiling, n = 8): string[] => Array.from({ length: n }, (_, p) => t.coords(p).join(','));

describe('shardings', () => {
  it('reads GSPMD iota tile assignments, transposed and with a replicated last dimension', () => {
    // A 4x2 (data, model) mesh: partition p = 2 * data + model.
    expect(layout(parseHloSharding('{devices=[4,1,2]<=[8] last_tile_dim_replicate}', 2, 8))).toEqual(['0,0', '0,0', '1,0', '1,0', '2,0', '2,0', '3,0', '3,0']);
    const byModel = parseHloSharding('{devices=[1,2,4]<=[4,2]T(1,0) last_tile_dim_replicate}', 2, 8);
    expect(byModel.tiles).toEqual([1, 2]);
    expect(layout(byModel)).toEqual(['0,0', '0,1', '0,0', '0,1', '0,0', '0,1', '0,0', '0,1']);
    expect(layout(parseHloSharding('{devices=[4,2]<=[8]}', 2, 8))).toEqual(['0,0', '0,1', '1,0', '1,1', '2,0', '2,1', '3,0', '3,1']);
    expect(layout(parseHloSharding('{devices=[2,1]1,0}', 2, 2), 2)).toEqual(['1,0', '0,0']);
    expect(parseHloSharding('{replicated}', 3, 8).tiles).toEqual([1, 1, 1]);
    expect(() => parseHloSharding('{devices=[4,2]<=[8]}', 3, 8)).toThrow(ShardingError);
    expect(() => parseHloSharding('{devices=[4,2]<=[8]}', 2, 4)).toThrow(/outside the 4 partitions/);
  });

  it('reads Shardy shardings against the module mesh, as GSPMD would place them', () => {
    const gspmd = parseModule(readFileSync(path.join(FIXTURES, 'sharded_mlp_gspmd.mlir'), 'utf8'));
    const sdy = parseModule(readFileSync(path.join(FIXTURES, 'sharded_mlp_shardy.mlir'), 'utf8'));
    const a = entryTilings(gspmd, functions(gspmd)[0]!, 8);
    const b = entryTilings(sdy, functions(sdy)[0]!, 8);
    for (const [x, y] of [...a.args.map((t, i) => [t, b.args[i]!]), ...a.results.map((t, i) => [t, b.results[i]!])] as [Tiling, Tiling][]) {
      expect(y.tiles).toEqual(x.tiles);
      expect(layout(y)).toEqual(layout(x));
    }
    expect(b.args.map((t) => t.tiles)).toEqual([[4, 1], [1, 2], [2, 1]]);
    expect(b.results[0]!.tiles).toEqual([4]);
  });

  it('shard_map modules (arguments without a sharding): the argument takes its first use\'s, and the run splits by it', async () => {
    // JAX's shard_map writes `@main(%arg0: tensor<8x4xf32>)` and shards it only in the body (custom_call @Sharding /
    // sdy.manual_computation); XLA gives the parameter that sharding, so a whole array would not fit it.
    const x = new Float32Array(32).map((_, i) => i * 0.5 - 3);
    const psum = new Float32Array(8).map((_, k) => x[k]! + x[k + 8]! + x[k + 16]! + x[k + 24]!);  // 4 row tiles of 2x4
    for (const dialect of ['gspmd', 'sdy']) {
      const file = path.join(FIXTURES, `jax-extra/shard_map_psum_${dialect}.mlir`);
      const text = readFileSync(file, 'utf8');
      const m = parseModule(text);
      const main = functions(m).find((f) => f.name === 'main')!;
      expect(annotateImpliedShardings(main), dialect).toEqual([0]);
      expect(entryTilings(m, main, 8).args[0]!.tiles, dialect).toEqual([4, 1]);
      expect(annotateImpliedShardings(main), 'once only').toEqual([]);
      const r = await runMlir(text, file, { inputs: { 'input.0': { dtype: 'f32', shape: [8, 4], data: x } } });
      expect(r.devices, dialect).toBe(8);
      expect(Array.from(r.outputs['output.0']!.data as Float32Array), dialect).toEqual(Array.from(psum));
    }
    // Only the first use counts: here an add reads the whole array before the Sharding call.
    const first = parseModule(readFileSync(path.join(FIXTURES, 'jax-extra/shard_map_psum_gspmd.mlir'), 'utf8').replace(
      '%0 = stablehlo.custom_call @Sharding(%arg0)', '%x = stablehlo.add %arg0, %arg0 : tensor<8x4xf32>\n    %0 = stablehlo.custom_call @Sharding(%x)'));
    expect(annotateImpliedShardings(functions(first).find((f) => f.name === 'main')!)).toEqual([]);
    const gather = path.join(FIXTURES, 'jax-extra/shard_map_all_gather_gspmd.mlir');
    const g = await runMlir(readFileSync(gather, 'utf8'), gather, { inputs: { 'input.0': { dtype: 'f32', shape: [8, 4], data: x } } });
    expect(g.outputs['output.0']!.data).toEqual(x);  // the tiles gathered back
  });
});

