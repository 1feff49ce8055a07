// StableHLO from other frameworks (test/fixtures/mlir/interop/, written by JAX through test/golden/make_mlir_corpus.py
// --only interop): every byte-sized dtype safetensors carries, complex64/complex128, CHLO's binary ops in their `T, T -> T` form, modules in
// openxla/stablehlo's stablehlo/testdata form (check.* custom calls), and many modules run in one process.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DTYPES, f32ToF8, f8ToF32, isF8, type DType } from '../../compiler/ir/dtype.ts';
import { ComplexError, denseLiteral } from '../../compiler/stablehlo/text.ts';
import { emitFunc } from '../../compiler/stablehlo/index.ts';
import { add, spec, traceFunc, type Tensor } from '../../dsl/index.ts';
import { evalCheck } from '../../programs/mlir_checks.ts';
import { checkText, parseModule, printModule } from '../../compiler/mlir/index.ts';
import { readFileSync } from 'node:fs';
import { runMlir } from '../../programs/run_mlir.ts';
import { openClient } from '../../runtime-native/index.ts';
import { parseSafetensors, readSafetensors, serializeSafetensors, type TensorData } from '../../io/safetensors.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DIR = path.join(ROOT, 'test/fixtures/mlir/interop');
const read = (f: string) => readFileSync(path.join(DIR, f), 'utf8');

function flipc(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/flipc.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const bytes = (t: TensorData) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
/** The emitter's `dense<...>` for a rank-1 constant. */
const hex = (d: DType, v: number[] | bigint[]) => denseLiteral(v, d, [v.length]);

describe('every byte-sized dtype safetensors carries', () => {
  const file = readSafetensors(path.join(DIR, 'dtypes.safetensors')).tensors;

  it('reads and writes JAX\'s i8, i16, u16, u64 and the five 8-bit floats', () => {
    expect(Object.values(file).map((t) => t.dtype).slice(0, 9)).toEqual(['i8', 'i16', 'u16', 'u64', 'f8e4m3fn', 'f8e5m2', 'f8e4m3fnuz', 'f8e5m2fnuz', 'f8e8m0fnu']);
    expect(Array.from(file['input.0']!.data as Int8Array)).toEqual([-128, -1, 0, 42, 127]);
    expect((file['input.3']!.data as BigUint64Array)[4]).toBe(2n ** 64n - 1n);
    const again = parseSafetensors(serializeSafetensors(file)).tensors;
    for (const [k, t] of Object.entries(file)) expect(bytes(again[k]!), k).toEqual(bytes(t));
  });

  it('flipc run takes and returns them: bit for bit what JAX computed', async () => {
    const inputs = Object.fromEntries(Object.entries(file).filter(([k]) => k.startsWith('input.')));
    const r = await runMlir(read('dtypes.mlir'), 'dtypes.mlir', { inputs });
    expect(Object.keys(r.outputs)).toHaveLength(9);
    for (const [k, t] of Object.entries(r.outputs)) {
      expect(t.dtype, k).toBe(file[k]!.dtype);
      expect(bytes(t), k).toEqual(bytes(file[k]!));
    }
  });

  it('the 8-bit floats\' 256 bit patterns read as ml_dtypes reads them, and values round back to their bits', () => {
    const f = readSafetensors(path.join(DIR, 'f8_values.safetensors')).tensors;
    const names: Record<string, string> = { f8e4m3fn: 'float8_e4m3fn', f8e5m2: 'float8_e5m2', f8e4m3fnuz: 'float8_e4m3fnuz', f8e5m2fnuz: 'float8_e5m2fnuz', f8e8m0fnu: 'float8_e8m0fnu' };
    const f8s = DTYPES.filter(isF8);
    expect(f8s).toHaveLength(5);
    for (const d of f8s) {
      const want = f[names[d]!]!.data as Float64Array;
      for (let b = 0; b < 256; b++) {
        const v = f8ToF32(b, d);
        if (Number.isNaN(want[b]!)) {
          expect(v, `${d} ${b}`).toBeNaN();
          continue;
        }
        expect(v, `${d} ${b}`).toBe(want[b]);
        // Every value comes back to its own bits (fnuz has one zero; -0 of the fn formats keeps its sign bit).
        expect(f32ToF8(v, d), `${d} ${b} (${v})`).toBe(b);
      }
    }
  });

  it('stablehlo.complex with one type (the result\'s, as stablehlo/testdata writes it) takes that type\'s real parts', () => {
    const text = 'func.func public @main(%a: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<3xf32> {\n' +
      '  %c = stablehlo.complex %a, %b : tensor<3xcomplex<f32>>\n  %r = stablehlo.imag %c : (tensor<3xcomplex<f32>>) -> tensor<3xf32>\n  return %r : tensor<3xf32>\n}\n';
    expect(checkText(text, 'c.mlir')).toEqual([]);
    expect(checkText(text.replace('%b : tensor<3xcomplex<f32>>', '%b : tensor<3xf32>'), 'c.mlir').length).toBeGreaterThan(0);
  });

  it('stablehlo.bitcast_convert to its own type prints back as a function type (MLIR\'s parser of it wants one)', async () => {
    const text = 'func.func public @main(%a: tensor<2xui8>) -> tensor<2xui8> {\n  %b = stablehlo.bitcast_convert %a : (tensor<2xui8>) -> tensor<2xui8>\n' +
      '  stablehlo.custom_call @check.expect_eq(%b, %a) {has_side_effect = true} : (tensor<2xui8>, tensor<2xui8>) -> ()\n  return %b : tensor<2xui8>\n}\n';
    expect(printModule(parseModule(text, { filename: 'b.mlir' }))).toContain('stablehlo.bitcast_convert %a : (tensor<2xui8>) -> tensor<2xui8>');
    // The check is taken out, so the module is printed again before XLA reads it.
    const r = await runMlir(text, 'b.mlir', { inputs: { 'input.0': { dtype: 'u8', shape: [2], data: new Uint8Array([7, 255]) } } });
    expect(r.checks.map((c) => c.ok)).toEqual([true]);
  });

  it('names the types it lacks in one line', () => {
    const text = 'func.func public @main(%a: tensor<2xf8E3M4>) -> tensor<2xf8E3M4> {\n  return %a : tensor<2xf8E3M4>\n}\n';
    return expect(runMlir(text, 'c.mlir', { randomInputs: true })).rejects.toThrow(/argument #0 of @main has element type f8E3M4; supported: f32, .*i8, i16, ui16, ui64, f8E4M3FN, .*, complex<f32>, complex<f64>$/);
  });
});

describe('complex numbers (complex64, complex128)', () => {
  const file = readSafetensors(path.join(DIR, 'complex.safetensors')).tensors;

  it('reads the safetensors library\'s C64 as interleaved (real, imaginary) pairs', () => {
    const z = file['input.0']!;
    expect(z.dtype).toBe('c64');
    expect(z.shape).toEqual([4]);
    expect(Array.from(z.data as Float32Array)).toEqual([1, 1, -2.5, 0.5, 0.125, -3, 4, 0]);
    expect(bytes(parseSafetensors(serializeSafetensors({ z })).tensors.z!)).toEqual(bytes(z));
  });

  it('flipc run takes and returns them (arguments, a complex constant, complex/real/imag, complex128): bit for bit JAX\'s', async () => {
    const inputs = Object.fromEntries(Object.entries(file).filter(([k]) => k.startsWith('input.')));
    const r = await runMlir(read('complex.mlir'), 'complex.mlir', { inputs });
    expect(Object.values(r.outputs).map((t) => `${t.dtype}[${t.shape}]`)).toEqual(['c64[4]', 'f32[4]', 'f32[4]', 'c64[4]', 'c128[3]']);
    for (const k of ['output.0', 'output.1', 'output.2', 'output.3']) expect(bytes(r.outputs[k]!), k).toEqual(bytes(file[k]!));
    // safetensors has no complex128: the file holds JAX's result as its float64 view, [3, 2].
    expect(file['output.4']!.shape).toEqual([3, 2]);
    expect(r.outputs['output.4']!.data).toBeInstanceOf(Float64Array);
    expect(bytes(r.outputs['output.4']!)).toEqual(bytes(file['output.4']!));
  });

  it('prints complex constants back as MLIR wrote them', () => {
    const text = read('complex.mlir');
    const again = printModule(parseModule(text, { filename: 'complex.mlir' }));
    expect(again).toContain('dense<[(1.000000e+00,2.000000e+00), (-5.000000e-01,2.500000e-01)');
    expect(again).toContain('dense<(1.000000e+00,-1.000000e+00)> : tensor<complex<f64>>');
    expect(checkText(again, 'again.mlir')).toEqual([]);
  });

  it('a complex host array holds two numbers an element: toDevice says so when it does not', async () => {
    const client = await openClient({ target: 'cpu' });
    try {
      expect(() => client.toDevice(new Float32Array(3), [3], 'c64')).toThrow(/^toDevice: 3 numbers given for shape \[3\] \(3 complex elements: 6 numbers, \(real, imaginary\) pairs\)$/);
      expect(() => client.toDevice(new Float64Array(2) as unknown as Float32Array, [1], 'c64')).toThrow(/a c64 buffer takes a Float32Array \(interleaved real, imaginary\), got a Float64Array/);
      const b = client.toDevice(new Float64Array([1, -2, 3.5, 0]), [2], 'c128');
      expect(Array.from(await b.toHost())).toEqual([1, -2, 3.5, 0]);
      b.dispose();
    } finally {
      client.dispose();
    }
  });

  it('random complex inputs: both parts drawn; a c128 argument runs too', async () => {
    const text = 'func.func public @main(%a: tensor<3xcomplex<f64>>) -> tensor<3xf64> {\n' +
      '  %r = stablehlo.imag %a : (tensor<3xcomplex<f64>>) -> tensor<3xf64>\n  return %r : tensor<3xf64>\n}\n';
    const r = await runMlir(text, 'c.mlir', { randomInputs: true, seed: 3 });
    const a = r.inputs['input.0']!.data as Float64Array;
    expect(a).toHaveLength(6);
    expect(Array.from(r.outputs['output.0']!.data as Float64Array)).toEqual([a[1], a[3], a[5]]);
  });

  it('checks compare part by part with the same tolerances as for floats', () => {
    const c = (xs: number[]): TensorData => ({ dtype: 'c64', shape: [xs.length / 2], data: new Float32Array(xs) });
    const up = (x: number, ulps: number) => {
      const f = new Float32Array([x]);
      new Uint32Array(f.buffer)[0]! += ulps;
      return f[0]!;
    };
    const check = (kind: 'expect_eq' | 'expect_close' | 'expect_almost_eq') => ({ kind, where: 'x.mlir:1' });
    expect(evalCheck(check('expect_close'), c([1, up(2, 3), NaN, 0]), c([1, 2, NaN, 0])).ok).toBe(true);
    const far = evalCheck(check('expect_close'), c([1, 2, 5, up(-2, 4)]), c([1, 2, 5, -2]));
    expect(far).toMatchObject({ ok: false, elements: 2, mismatches: 1 });
    expect(far.first).toBe('at flat index 1: (5, -2.0000009536743164) (actual) vs (5, -2) (expected), 4 ULP apart');
    expect(evalCheck(check('expect_almost_eq'), c([1.0005, 2, 3, 4]), c([1, 2.0009, 3, 4])).ok).toBe(true);
    expect(evalCheck(check('expect_almost_eq'), c([1, 2, 3, 4]), c([1, 2, 3, 4.002])).mismatches).toBe(1);
    expect(evalCheck(check('expect_eq'), c([1, -0, 3, 4]), c([1, 0, 3, 4])).ok).toBe(true);
    expect(evalCheck(check('expect_eq'), c([1, 2, Infinity, 4]), c([1, 2, -Infinity, 4])).mismatches).toBe(1);
  });

  it('the DSL has none: tracing is fine, emitting StableHLO is one ComplexError', () => {
    const { func } = traceFunc((x: Tensor<'c64', readonly ['n']>) => add(x, x), [spec('c64', { n: 2 })]);
    expect(() => emitFunc(func)).toThrow(ComplexError);
    expect(() => emitFunc(func)).toThrow(/^tensor c64\[2\]: flip's DSL and StableHLO emitter have no complex numbers \(c64\); complex64\/complex128 are for modules from other frameworks, run by flipc run$/);
    expect(() => denseLiteral([1, 2], 'c128', [1])).toThrow(ComplexError);
  });

  it('the new dtypes\' constants are written, not dropped: hex for large ones, 8-bit floats as bits', () => {
    const n = 65;  // over LIST_LIMIT: the hex form
    expect(hex('i16', Array.from({ length: n }, (_, i) => i - 1))).toMatch(/^dense<"0xFFFF00000100/);
    expect(hex('u16', Array.from({ length: n }, (_, i) => 65535 - i))).toMatch(/^dense<"0xFFFFFEFF/);
    expect(hex('i8', Array.from({ length: n }, (_, i) => -i))).toMatch(/^dense<"0x00FFFE/);
    expect(hex('u64', Array.from({ length: n }, (_, i) => 2n ** 64n - 1n - BigInt(i)))).toMatch(/^dense<"0xFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFF/);
    expect(hex('f8e4m3fn', Array.from({ length: n }, (_, i) => i))).toMatch(/^dense<"0x0038404448/);
    expect(hex('f8e4m3fn', [0.5, 1, -2])).toBe('dense<[0x30, 0x38, 0xC0]>');
    expect(hex('f8e5m2', [1, 1])).toBe('dense<0x3C>');
    expect(() => hex('i8', [1, 300])).toThrow(/constant 300 does not fit i8 \[-128, 127\]/);
  });

  it('XLA reads those constants back as the values written', async () => {
    const n = 65;
    const i16 = Array.from({ length: n }, (_, i) => i * 500 - 16000);
    const u64 = Array.from({ length: n }, (_, i) => 2n ** 64n - 1n - BigInt(i) * 2n ** 40n);
    const f8 = [0.5, 1, -2, 448];
    const text = 'func.func public @main() -> (tensor<65xi16>, tensor<65xui64>, tensor<4xf32>) {\n' +
      `  %a = stablehlo.constant ${hex('i16', i16)} : tensor<65xi16>\n  %b = stablehlo.constant ${hex('u64', u64)} : tensor<65xui64>\n` +
      `  %c = stablehlo.constant ${hex('f8e4m3fn', f8)} : tensor<4xf8E4M3FN>\n  %d = stablehlo.convert %c : (tensor<4xf8E4M3FN>) -> tensor<4xf32>\n` +
      '  return %a, %b, %d : tensor<65xi16>, tensor<65xui64>, tensor<4xf32>\n}\n';
    const r = await runMlir(text, 'k.mlir');
    expect(Array.from(r.outputs['output.0']!.data as Int16Array)).toEqual(i16);
    expect(Array.from(r.outputs['output.1']!.data as BigUint64Array)).toEqual(u64);
    expect(Array.from(r.outputs['output.2']!.data as Float32Array)).toEqual(f8);
  });
});

describe('CHLO binary ops in their generic-type form', () => {
  it('chlo.next_after, chlo.polygamma, chlo.zeta (as JAX lowers them) parse and verify with no notes', () => {
    const text = read('chlo_binary.mlir');
    expect(text).toMatch(/chlo\.next_after %\w+, %\w+ : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>/);
    expect(text).toMatch(/chlo\.polygamma .* -> tensor<4xf32>/);
    expect(text).toMatch(/chlo\.zeta .* -> tensor<4xf32>/);
    expect(checkText(text, 'chlo_binary.mlir')).toEqual([]);
  });

  it('a wrong result type is an error of the op', () => {
    const text = read('chlo_binary.mlir').replace(/(chlo\.zeta .* -> )tensor<4xf32>/, '$1tensor<4xi32>');
    expect(checkText(text, 'x.mlir')[0]?.message).toMatch(/chlo\.zeta: result type expected tensor<4xf32> \(the operands' type\), found tensor<4xi32>/);
  });

  it('flipc run passes them to XLA and reproduces JAX\'s values', async () => {
    const file = readSafetensors(path.join(DIR, 'chlo_binary.safetensors')).tensors;
    const r = await runMlir(read('chlo_binary.mlir'), 'chlo_binary.mlir', { inputs: { 'input.0': file['input.0']!, 'input.1': file['input.1']! } });
    expect(bytes(r.outputs['output.0']!)).toEqual(bytes(file['output.0']!)); // next_after is exact
    for (const k of ['output.1', 'output.2']) {
      const got = r.outputs[k]!.data as Float32Array;
      const want = file[k]!.data as Float32Array;
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${k}[${i}]`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i]!)));
    }
  });
});

describe('stablehlo/testdata-form modules and many modules in one process', () => {
  it('one module: its check.expect_close is evaluated on the host, one line, exit 0', () => {
    const r = flipc('run', 'test/fixtures/mlir/interop/testdata/nextafter_float32_3_4_chlo.mlir');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^check\.expect_close at test\/fixtures\/mlir\/interop\/testdata\/nextafter_float32_3_4_chlo\.mlir:\d+: ok \(12 elements\)$/m);
    expect(r.stdout).toMatch(/^output\.0: f32\[3, 4\]/m);
  });

  it('a folder: a line per module, a summary, exit 1 because one check fails', () => {
    const r = flipc('run', 'test/fixtures/mlir/interop/testdata');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(9);
    expect(lines.filter((l) => l.startsWith('PASS '))).toHaveLength(7); // i8, u64, f16, f32, CHLO, complex64, complex128
    expect(lines.find((l) => l.includes('wrong_cos'))).toMatch(/^FAIL .*check\.expect_close .*FAILED, 12 of 12 elements differ; first at flat index 0: .* ULP apart$/);
    expect(lines.at(-1)).toMatch(/^8 modules: 7 passed their checks, 0 ran \(no checks\), 1 failed \(\d+\.\d s\)$/);
  });

  it('files and modules without checks: "ran" with their outputs; a module that cannot run is one FAIL line, not the end', () => {
    const r = flipc('run', 'test/fixtures/mlir/interop/testdata/sin_float32_3_4.mlir', 'test/fixtures/mlir/interop/chlo_binary.mlir', 'test/fixtures/mlir/mlp.mlir', '--random-inputs');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ran {2}test\/fixtures\/mlir\/mlp\.mlir: output\.0 f32\[/m);
    expect(r.stdout).toMatch(/^3 modules: 1 passed their checks, 2 ran \(no checks\), 0 failed/m);
    const bad = flipc('run', 'test/fixtures/mlir/interop/testdata/sin_float32_3_4.mlir', 'test/fixtures/mlir/mlp.mlir');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL test\/fixtures\/mlir\/mlp\.mlir: pass --inputs/m);
    expect(bad.stdout).toMatch(/1 passed their checks, 0 ran \(no checks\), 1 failed/);
  });

  it('refuses per-module options with many modules: one line, exit 2', () => {
    const r = flipc('run', 'test/fixtures/mlir/interop/testdata', '--inputs', 'x.safetensors');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/--inputs belongs to one module/)]);
  });
});
