// Every corpus module (JAX-lowered goldens and the per-op reference files) parses, prints back
// stably, and verifies; the AST holds what the text says.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { functions, getAttr, parseModule, printModule, verifyModule, type OpAst } from '../../compiler/mlir/index.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/mlir');
const corpus = ['.', 'jax-examples', 'jax-extra'].flatMap((d) =>
  readdirSync(path.join(FIXTURES, d)).filter((f) => f.endsWith('.mlir')).map((f) => path.join(FIXTURES, d, f)),
);

function allOps(ops: OpAst[]): OpAst[] {
  return ops.flatMap((op) => [op, ...op.regions.flatMap((r) => r.blocks.flatMap((b) => allOps(b.ops)))]);
}

describe('corpus', () => {
  it('has the JAX goldens and the reference files', () => {
    const names = corpus.map((f) => path.basename(f, '.mlir'));
    for (const n of ['mlp', 'transformer_block', 'vit_forward', 'flip_loss_grad', 'sharded_mlp_gspmd', 'sharded_mlp_shardy', 'argsort', 'while_fori', 'with_locations', 'shard_map_psum_sdy', 'select_and_scatter']) {
      expect(names).toContain(n);
    }
    expect(corpus.length).toBeGreaterThanOrEqual(48);
  });

  for (const file of corpus) {
    const name = path.relative(FIXTURES, file);
    it(`${name}: parses, round-trips, verifies`, () => {
      const text = readFileSync(file, 'utf8');
      const m = parseModule(text, { filename: name });
      expect(functions(m).length).toBeGreaterThan(0);
      const printed = printModule(m);
      // JAX's own text is already in the canonical form we print.
      expect(printed).toBe(text);
      expect(printModule(parseModule(printed))).toBe(printed);
      const errors = verifyModule(m).filter((d) => d.severity === 'error');
      expect(errors).toEqual([]);
    });
  }
});

describe('AST contents', () => {
  const load = (f: string) => parseModule(readFileSync(path.join(FIXTURES, f), 'utf8'), { filename: f });

  it('normalizes pretty dot_general, reduce and while into operands, properties and regions', () => {
    const m = load('jax-examples/threefry_uniform.mlir');
    const ops = functions(m).flatMap((f) => allOps(f.body!.blocks[0]!.ops));
    const w = ops.find((o) => o.name === 'stablehlo.while')!;
    expect(w.operands.map((v) => v.name)).toEqual(['%c_3', '%c_2', '%3', '%5', '%arg1', '%1', '%arg0', '%c', '%c_0']);
    expect(w.regions).toHaveLength(2);
    expect(w.regions[0]!.blocks[0]!.args.map((a) => a.name)).toEqual(['%iterArg', '%iterArg_4', '%iterArg_5', '%iterArg_6', '%iterArg_7', '%iterArg_8', '%iterArg_9', '%iterArg_10', '%iterArg_11']);
    expect(w.results).toEqual([expect.objectContaining({ name: '%6', count: 9 })]);

    const g = load('jax-examples/dot_general_batched.mlir');
    const dot = allOps(functions(g)[0]!.body!.blocks[0]!.ops).find((o) => o.name === 'stablehlo.dot_general')!;
    expect(getAttr(dot, 'dot_dimension_numbers')).toEqual({
      kind: 'dot', dims: { lhsBatchingDims: [0, 2], rhsBatchingDims: [0, 2], lhsContractingDims: [3], rhsContractingDims: [3] },
    });
    expect(dot.operandTypes?.map((t) => t.kind === 'tensor' && t.shape)).toEqual([[2, 5, 4, 8], [2, 5, 4, 8]]);

    const a = load('jax-examples/argmax.mlir');
    const red = allOps(functions(a)[1]!.body!.blocks[0]!.ops).find((o) => o.name === 'stablehlo.reduce')!;
    expect(red.operands.map((v) => v.name)).toEqual(['%arg0', '%0', '%cst', '%c']);
    expect(red.regions[0]!.blocks[0]!.args.map((x) => x.name)).toEqual(['%arg1', '%arg2', '%arg3', '%arg4']);
  });

  it('reads conv dimension numbers, gather dims, sharding and sdy attributes, and locations', () => {
    const conv = allOps(functions(load('jax-examples/conv_patch.mlir'))[0]!.body!.blocks[0]!.ops).find((o) => o.name === 'stablehlo.convolution')!;
    expect(getAttr(conv, 'dimension_numbers')).toMatchObject({
      kind: 'conv', dims: { inputBatchDim: 0, inputFeatureDim: 3, inputSpatialDims: [1, 2], kernelInputFeatureDim: 2, kernelOutputFeatureDim: 3, kernelSpatialDims: [0, 1] },
    });
    expect(getAttr(conv, 'window_strides')).toMatchObject({ kind: 'dense_array', values: ['4', '4'] });

    const gather = allOps(functions(load('flip_loss_grad.mlir')).flatMap((f) => f.body!.blocks[0]!.ops)).find((o) => o.name === 'stablehlo.gather')!;
    expect(getAttr(gather, 'dimension_numbers')).toMatchObject({ kind: 'gather', dims: { offsetDims: [2], collapsedSliceDims: [0], indexVectorDim: 2 } });

    const gspmd = functions(load('sharded_mlp_gspmd.mlir'))[0]!;
    expect(gspmd.args[0]!.attrs[0]).toMatchObject({ name: 'mhlo.sharding', value: { kind: 'string', value: '{devices=[4,1,2]<=[8] last_tile_dim_replicate}' } });
    const shardy = load('sharded_mlp_shardy.mlir');
    expect(shardy.body[0]).toMatchObject({ kind: 'op', name: 'sdy.mesh' });
    expect(functions(shardy)[0]!.args[0]!.attrs[0]!.value).toEqual({ kind: 'opaque', dialect: 'sdy', name: 'sharding', body: '@mesh, [{"data"}, {}]' });

    const loc = load('jax-examples/with_locations.mlir');
    expect(loc.aliasesBefore.map((a) => a.name)).toEqual(['#loc1', '#loc2']);
    expect(loc.aliasesAfter.find((a) => a.name === '#loc3')).toMatchObject({ kind: 'loc', loc: { kind: 'file', file: 'tools/gen_stablehlo_examples.py', line: 43, col: 36, endLine: null, endCol: 41 } });
    expect(loc.aliasesAfter.find((a) => a.name === '#loc9')).toMatchObject({ loc: { kind: 'callsite', callee: { kind: 'alias', name: '#loc6' }, caller: { kind: 'alias', name: '#loc7' } } });
    expect(functions(loc)[0]!.args[0]!.loc).toEqual({ kind: 'name', name: 'x', child: null });
  });

  it('keeps ops of other dialects as written, with their SSA uses and regions', () => {
    const m = load('jax-extra/shard_map_psum_sdy.mlir');
    const mc = functions(m)[0]!.body!.blocks[0]!.ops[0]!;
    expect(mc).toMatchObject({ name: 'sdy.manual_computation', syntax: 'pretty', operands: [{ name: '%arg0' }] });
    expect(mc.custom?.header).toMatch(/^\(%arg0\) in_shardings=\[<@mesh, \[\{"data"\}, \{\}\]>\] /);
    expect(mc.regions[0]!.blocks[0]!.args.map((a) => a.name)).toEqual(['%arg1']);
    expect(mc.resultTypes?.map((t) => t.kind === 'tensor' && t.shape)).toEqual([[2, 4]]);
    const topk = functions(load('jax-extra/topk.mlir'))[0]!.body!.blocks[0]!.ops[0]!;
    expect(topk.results.map((r) => r.name)).toEqual(['%values', '%indices']);
    expect(topk.operands.map((v) => v.name)).toEqual(['%arg0']);
  });

  it('parses the forms JAX does not happen to emit here: generic module ops, fused/named locs, splats, hex, bools, tuples, tokens', () => {
    const text = `#map = #stablehlo<precision HIGHEST>
module attributes {sdy.meshes = [], foo, "quoted key" = 3 : i64} {
  func.func private @g(%arg0: tensor<2x2xi1>, %arg1: !stablehlo.token, %arg2: tuple<tensor<f32>, tensor<i32>>) -> (tensor<2x2xi1>, !stablehlo.token) attributes {sym_visibility = "private"} {
    %c = stablehlo.constant dense<[[true, false], [false, true]]> : tensor<2x2xi1> loc(fused["a.ts":1:2, "n"("b.ts":3:4)])
    %c_0 = stablehlo.constant dense<"0x0000803F00000040"> : tensor<2xf32>
    %c_1 = stablehlo.constant dense<-1.500000e+00> : tensor<3xbf16>
    %0 = "stablehlo.and"(%arg0, %c) : (tensor<2x2xi1>, tensor<2x2xi1>) -> tensor<2x2xi1> loc("name")
    %1 = stablehlo.get_tuple_element %arg2[1] : (tuple<tensor<f32>, tensor<i32>>) -> tensor<i32>
    %2 = stablehlo.slice %c_0 [0:2:2] : (tensor<2xf32>) -> tensor<1xf32>
    %3 = stablehlo.after_all %arg1 : !stablehlo.token
    return %0, %3 : tensor<2x2xi1>, !stablehlo.token
  }
}
`;
    const m = parseModule(text);
    expect(m.attributes.map((a) => [a.name, a.quoted, a.value.kind])).toEqual([['sdy.meshes', false, 'array'], ['foo', false, 'unit'], ['quoted key', true, 'int']]);
    expect(m.aliasesBefore[0]).toMatchObject({ kind: 'attr', value: { kind: 'enum', enumName: 'precision', value: 'HIGHEST' } });
    const ops = functions(m)[0]!.body!.blocks[0]!.ops;
    expect(ops[0]!.loc).toMatchObject({ kind: 'fused', locs: [{ kind: 'file', file: 'a.ts' }, { kind: 'name', name: 'n', child: { kind: 'file', line: 3, col: 4 } }] });
    expect(getAttr(ops[1]!, 'value')).toMatchObject({ kind: 'dense', value: { kind: 'hex', text: '0x0000803F00000040' } });
    expect(ops[3]!.syntax).toBe('generic');
    expect(getAttr(ops[5]!, 'strides')).toMatchObject({ values: ['2'] });
    const printed = printModule(m);
    expect(printModule(parseModule(printed))).toBe(printed);
    expect(verifyModule(m).filter((d) => d.severity === 'error')).toEqual([]);
  });
});
