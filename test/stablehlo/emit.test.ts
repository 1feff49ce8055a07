import { describe, expect, it } from 'vitest';
import { FuncBuilder, PRIMS, module, tensorType } from '../../compiler/ir/index.ts';
import {
  ConstantError, EmitError, LOWERING, decimalFloat, denseLiteral, emitFunc, emitModule, floatBits, floatFromBits, hexFloat, reduceInit,
} from '../../compiler/stablehlo/index.ts';
import { ALL_CASES, CASE_LOC, PRIM_CASES, buildCase } from './cases.ts';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('lowering table', () => {
  it('has a rule and at least one test case for every primitive', () => {
    for (const p of PRIMS) {
      expect(typeof LOWERING[p], p).toBe('function');
      expect(PRIM_CASES[p].length, p).toBeGreaterThan(0);
    }
  });

  describe.each(ALL_CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    it(`lowers to ${c.op} with result type ${c.resultType}`, () => {
      const text = emitFunc(buildCase(c));
      const alias = new RegExp(`^(#loc\\d+) = loc\\("${escape(CASE_LOC.file)}":${CASE_LOC.line}:${CASE_LOC.col}\\)$`, 'm').exec(text)?.[1];
      expect(alias, text).toBeDefined();
      const lines = text.split('\n');
      // The op's last line carries its location (region ops open on an earlier line); select ends `: pred type, result type`.
      const last = lines.findLastIndex((l) => l.endsWith(`loc(${alias})`));
      const first = lines.findLastIndex((l, i) => i <= last && (l.includes(`= ${c.op}`) || l.includes(`= "${c.op}"(`)));
      expect(first, text).toBeGreaterThanOrEqual(0);
      // stablehlo.while prints its types on its first line and its location after its regions (`} loc(#loc1)`).
      if (c.op === 'stablehlo.while') expect(lines[first]!.endsWith(`, ${c.resultType}`) || lines[first]!.includes(`, ${c.resultType}, `), text).toBe(true);
      else expect(lines[last]!, text).toMatch(new RegExp(`(: |-> |, )${escape(c.resultType)} loc\\(${escape(alias!)}\\)$`));
    });
  });
});

describe('module and function text', () => {
  const b = new FuncBuilder('mlp');
  const x = b.param(tensorType('f32', [8, 4], ['batch', 'embed']), { name: 'x', sharding: '{devices=[2,1]<=[2]}' });
  const w = b.param(tensorType('f32', [4, 16], ['embed', 'mlp']), { name: 'params.w' });
  const y = b.emit1('dot_general', [x, w], { lhsBatch: [], rhsBatch: [], lhsContract: [1], rhsContract: [0] }, { file: 'examples/mlp.ts', line: 12, col: 5 });
  const z = b.emit1('tanh', [y], {}, { file: 'examples/mlp.ts', line: 13, col: 10 });
  const f = b.finish([z, y], [{ name: 'out', sharding: '{replicated}' }, {}], { file: 'examples/mlp.ts', line: 10, col: 1 });

  it('prints the module header, @main, arg/result attributes and untupled results', () => {
    const text = emitFunc(f, { numPartitions: 2 });
    expect(text).toContain('module @mlp attributes {mhlo.num_partitions = 2 : i32, mhlo.num_replicas = 1 : i32} {');
    expect(text).toContain(
      'func.func public @main(%arg0: tensor<8x4xf32> {mhlo.sharding = "{devices=[2,1]<=[2]}"} loc("x"), %arg1: tensor<4x16xf32> loc("params.w")) -> ' +
        '(tensor<8x16xf32> {jax.result_info = "out", mhlo.sharding = "{replicated}"}, tensor<8x16xf32>) {',
    );
    expect(text).toContain('return %1, %0 : tensor<8x16xf32>, tensor<8x16xf32>');
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('gives each distinct source position one #loc alias, defined before the module', () => {
    const text = emitFunc(f);
    const lines = text.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      '#loc1 = loc("examples/mlp.ts":12:5)',
      '#loc2 = loc("examples/mlp.ts":13:10)',
      '#loc3 = loc("examples/mlp.ts":10:1)',
    ]);
    expect(text).toMatch(/stablehlo\.dot_general .* loc\(#loc1\)$/m);
    expect(text).toMatch(/stablehlo\.tanh .* loc\(#loc2\)$/m);
    expect(text).toMatch(/^ {2}\} loc\(#loc3\)$/m);
  });

  it('takes module attributes from Module.attrs and emits extra functions as private', () => {
    const g = new FuncBuilder('helper');
    const a = g.param(tensorType('i32', [], []));
    const m = module([f, g.finish([g.emit1('neg', [a], {})])], { 'mhlo.num_partitions': 4, 'mhlo.frontend_attributes': 'x' });
    const text = emitModule(m, { moduleName: 'jit_mlp' });
    expect(text).toContain('module @jit_mlp attributes {mhlo.num_partitions = 4 : i32, mhlo.num_replicas = 1 : i32, mhlo.frontend_attributes = "x"} {');
    expect(text).toContain('func.func public @main(');
    expect(text).toContain('func.func private @helper(%arg0: tensor<i32>) -> (tensor<i32>) {');
    // A name that is not an MLIR bare identifier is quoted.
    expect(emitModule(module([f, { ...g.finish([a]), name: 'helper-fn' }]), { moduleName: 'jit mlp' })).toMatch(/^module @"jit mlp" [^]*func\.func private @"helper-fn"\(/m);
  });

  it('refuses invalid IR with the verifier problems', () => {
    const stray = new FuncBuilder('other').param(tensorType('f32', [2], ['a']));
    const bad = new FuncBuilder('bad');
    const p = bad.param(tensorType('f32', [2], ['a']));
    const r = bad.emit1('add', [p, stray], {});
    expect(() => emitFunc(bad.finish([r]))).toThrow(EmitError);
    expect(() => emitFunc(bad.finish([r]))).toThrow(/used before it is defined/);
  });

  it('escapes odd characters in names and file paths', () => {
    const g = new FuncBuilder('main');
    const a = g.param(tensorType('f32', [], []), { name: 'a "quoted" \\ name' });
    const r = g.emit1('neg', [a], {}, { file: 'dir with space/ü.ts', line: 1, col: 2 });
    const text = emitFunc(g.finish([r]));
    expect(text).toContain('loc("a \\"quoted\\" \\\\ name")');
    expect(text).toContain('#loc1 = loc("dir with space/\\C3\\BC.ts":1:2)');
  });
});

describe('constants', () => {
  it('formats floats so they parse back to the same bits', () => {
    expect(decimalFloat(3.5, 'f32')).toBe('3.500000e+00');
    expect(decimalFloat(0, 'f32')).toBe('0.000000e+00');
    expect(decimalFloat(-0, 'f32')).toBe('-0.000000e+00');
    expect(decimalFloat(0.7978845608, 'f32')).toBe('7.978846e-01');
    expect(decimalFloat(1 / 3, 'f32')).toBe('3.3333334e-01'); // seven digits do not round-trip, eight do
    expect(decimalFloat(1 / 3, 'f64')).toBe('3.333333333333333e-01');
    expect(decimalFloat(1e-7, 'f32')).toBe('1.000000e-07');
    expect(decimalFloat(1e300, 'f64')).toBe('1.000000e+300');
    for (const v of [0.1, 1 / 3, 1e-38, 3.4e38, 1.4e-45, 123456.789, -2.5e-12]) {
      const text = decimalFloat(v, 'f32');
      expect(text).toMatch(/^-?\d\.\d+e[-+]\d\d+$/);
      expect(Math.fround(Number(text))).toBe(Math.fround(v));
    }
  });

  it('writes infinities and NaN as hex bit patterns, as JAX does', () => {
    expect(hexFloat(-Infinity, 'f32')).toBe('0xFF800000');
    expect(hexFloat(NaN, 'f32')).toBe('0x7FC00000');
    expect(decimalFloat(Infinity, 'f32')).toBe('0x7F800000');
    expect(hexFloat(-Infinity, 'bf16')).toBe('0xFF80');
    expect(hexFloat(Infinity, 'f16')).toBe('0x7C00');
    expect(hexFloat(NaN, 'f64')).toBe('0x7FF8000000000000');
  });

  it('rounds to bf16 and f16 to nearest even, with subnormals and overflow', () => {
    const bits = (x: number, d: 'bf16' | 'f16') => Number(floatBits(x, d));
    expect(bits(1, 'bf16')).toBe(0x3f80);
    expect(bits(0.1, 'bf16')).toBe(0x3dcd);
    expect(bits(1 / 3, 'bf16')).toBe(0x3eab);
    expect(bits(1 + 2 ** -8, 'bf16')).toBe(0x3f80); // a tie rounds to the even mantissa
    expect(bits(1 + 3 * 2 ** -8, 'bf16')).toBe(0x3f82);
    expect(bits(3.4e38, 'bf16')).toBe(0x7f80); // past the largest bf16 after rounding → inf
    expect(bits(65504, 'f16')).toBe(0x7bff);
    expect(bits(65520, 'f16')).toBe(0x7c00);
    expect(bits(2 ** -24, 'f16')).toBe(0x0001);
    expect(bits(2 ** -14 - 2 ** -25, 'f16')).toBe(0x0400); // the largest subnormal rounds up into the normals
    expect(bits(-0, 'f16')).toBe(0x8000);
    expect(bits(0.1, 'f16')).toBe(0x2e66);
    expect(floatFromBits(0x3dcd, 'bf16')).toBe(0.10009765625);
    expect(floatFromBits(0x0001, 'f16')).toBe(2 ** -24);
  });

  it('prints splats, nested lists, hex for large arrays, booleans and unsigned values', () => {
    expect(denseLiteral(3.5, 'f32', [2, 2])).toBe('dense<3.500000e+00>');
    expect(denseLiteral([2, 2, 2, 2], 'i32', [2, 2])).toBe('dense<2>');
    expect(denseLiteral([1, 2, 3, 4, 5, 6], 'i32', [2, 3])).toBe('dense<[[1, 2, 3], [4, 5, 6]]>');
    expect(denseLiteral([1, 0, 1], 'i1', [3])).toBe('dense<[true, false, true]>');
    expect(denseLiteral(1, 'i1', [])).toBe('dense<true>');
    expect(denseLiteral([4294967295, 0], 'u32', [2])).toBe('dense<[4294967295, 0]>');
    expect(denseLiteral([NaN, 1], 'f32', [2])).toBe('dense<[0x7FC00000, 1.000000e+00]>');
    expect(denseLiteral([0.1, 1], 'bf16', [2])).toBe('dense<[1.000977e-01, 1.000000e+00]>');
    expect(denseLiteral([9007199254740993n, -1n], 'i64', [2])).toBe('dense<[9007199254740993, -1]>');
    expect(denseLiteral([0, -0], 'f32', [2])).toBe('dense<[0.000000e+00, -0.000000e+00]>');
    expect(denseLiteral([], 'f32', [0, 3])).toBe('dense<>');
    const big = Array.from({ length: 65 }, (_, i) => i);
    expect(denseLiteral(big, 'i32', [65])).toBe(`dense<"0x${big.map((i) => `${i.toString(16).toUpperCase().padStart(2, '0')}000000`).join('')}">`);
    expect(denseLiteral(big.map(() => 1), 'bf16', [65])).toBe('dense<1.000000e+00>');
  });

  it('refuses values that do not fit the dtype instead of wrapping them', () => {
    expect(() => denseLiteral(-1, 'u32', [])).toThrow(ConstantError);
    expect(() => denseLiteral(2 ** 31, 'i32', [])).toThrow(/does not fit i32/);
    expect(() => denseLiteral(1.5, 'i32', [])).toThrow(/not an integer/);
    expect(() => denseLiteral([1, 2], 'f32', [3])).toThrow(/2 values for shape \[3\]/);
  });

  it('starts reductions from their identity', () => {
    expect(reduceInit('sum', 'f32')).toBe(0);
    expect(reduceInit('max', 'f32')).toBe(-Infinity);
    expect(reduceInit('min', 'bf16')).toBe(Infinity);
    expect(reduceInit('max', 'i32')).toBe(-(2 ** 31));
    expect(reduceInit('min', 'u32')).toBe(2 ** 32 - 1);
    expect(reduceInit('max', 'i64')).toBe(-(2n ** 63n));
    expect(reduceInit('and', 'i1')).toBe(1);
    expect(reduceInit('and', 'i32')).toBe(-1);
    expect(reduceInit('and', 'u8')).toBe(255);
    expect(reduceInit('or', 'i1')).toBe(0);
  });
});
