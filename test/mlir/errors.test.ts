// Malformed text and ill-typed modules: each problem is a FlipError or a diagnostic at the right line:column.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import { checkText, MlirSyntaxError, parseAndVerify, MlirVerifyError, parseModule, verifyModule } from '../../compiler/mlir/index.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/mlir');

function syntaxError(text: string): MlirSyntaxError {
  try {
    parseModule(text, { filename: 'in.mlir' });
  } catch (e) {
    expect(e).toBeInstanceOf(FlipError);
    expect(e).toBeInstanceOf(MlirSyntaxError);
    return e as MlirSyntaxError;
  }
  throw new Error('expected a syntax error');
}

/** The error diagnostics of a module as [line, col, message]. */
function errors(text: string): [number, number, string][] {
  return checkText(text, 'in.mlir').filter((d) => d.severity === 'error').map((d) => [d.line, d.col, d.message]);
}

const ok = `module @m {
  func.func public @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3x4xf32>) -> tensor<2x4xf32> {
    %0 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [1] x [0] : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
    %1 = stablehlo.add %0, %0 : tensor<2x4xf32>
    return %1 : tensor<2x4xf32>
  }
}
`;

describe('syntax errors carry line:column', () => {
  it('accepts the well-formed base module', () => {
    expect(errors(ok)).toEqual([]);
  });

  it('unbalanced braces', () => {
    const e = syntaxError(ok.replace(/}\n$/, ''));
    expect([e.line, e.col]).toEqual([7, 1]);
    expect(e.message).toMatch(/^in\.mlir:7:1: expected '}' but found end of input/);
    const f = syntaxError(ok.replace('tensor<2x4xf32> {\n', 'tensor<2x4xf32> {{\n'));
    expect([f.line, f.col, f.detail]).toEqual([2, 94, "expected '}' but found '{'"]);
  });

  it('unknown op syntax names the op and the place', () => {
    const e = syntaxError(ok.replace('contracting_dims = [1] x [0]', 'contracting_dims = [1] y [0]'));
    expect(e.line).toBe(3);
    const f = syntaxError(ok.replace('%1 = stablehlo.add %0, %0', '%1 = stablehlo.add %0, dims = [1], %0'));
    expect([f.line, f.col, f.detail]).toEqual([4, 26, "stablehlo.add: expected ':' but found ','"]);
    const g = syntaxError(ok.replace('stablehlo.add %0, %0 : tensor<2x4xf32>', 'stablehlo.add %0, %0 : tensor<2x4xfoo>'));
    expect([g.line, g.col, g.detail]).toEqual([4, 44, "unknown type 'foo'"]);
  });

  it('bad characters and unterminated strings', () => {
    const e = syntaxError(ok.replace('%1 = stablehlo.add', '%1 = stablehlo.add $'));
    expect([e.line, e.col]).toEqual([4, 24]);
    const f = syntaxError('module attributes {a = "x} {\n}\n');
    expect(f.line).toBe(1);
  });

  it('wrong kind of type in an op is an error, not a crash', () => {
    const e = syntaxError(ok.replace('return %1 : tensor<2x4xf32>', 'return %1 : (tensor<2x4xf32>) -> tensor<2x4xf32>'));
    expect([e.line, e.col, e.detail]).toEqual([5, 5, 'return: expected the types of the returned values, not a function type']);
  });
});

describe('the verifier', () => {
  it('catches a wrong result type of an add, naming expected and found types', () => {
    const text = ok.replace('%1 = stablehlo.add %0, %0 : tensor<2x4xf32>', '%1 = stablehlo.add %0, %0 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x5xf32>');
    const es = errors(text);
    expect(es[0]).toEqual([4, 5, "stablehlo.add: result type expected tensor<2x4xf32> (the operands' type), found tensor<2x5xf32>"]);
  });

  it('catches a dot_general contracting dimension mismatch', () => {
    const text = ok
      .replace('tensor<3x4xf32>) -> tensor<2x4xf32> {', 'tensor<5x4xf32>) -> tensor<2x4xf32> {')
      .replace('(tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>\n', '(tensor<2x3xf32>, tensor<5x4xf32>) -> tensor<2x4xf32>\n');
    expect(errors(text)).toEqual([
      [3, 5, 'stablehlo.dot_general: contracting dims differ: d1=3 in tensor<2x3xf32> vs d0=5 in tensor<5x4xf32>'],
    ]);
  });

  it('catches a use of an undefined SSA value at the use', () => {
    expect(errors(ok.replace('stablehlo.add %0, %0', 'stablehlo.add %0, %7'))).toEqual([[4, 28, 'use of undefined value %7']]);
    // A value defined later in the block is not yet defined.
    expect(errors(ok.replace('stablehlo.add %0, %0', 'stablehlo.add %0, %1'))[0]).toEqual([4, 28, 'use of undefined value %1']);
    expect(errors(ok.replace('return %1', 'return %0#1'))[0]).toEqual([5, 12, '%0#1 is out of range: %0 has 1 result']);
  });

  it('catches a return type mismatch with the function signature', () => {
    const text = ok.replace('-> tensor<2x4xf32> {', '-> tensor<4x2xf32> {');
    expect(errors(text)).toEqual([[5, 12, 'return type mismatch in @main: result #0 expected tensor<4x2xf32>, found tensor<2x4xf32>']]);
    expect(errors(ok.replace('return %1 : tensor<2x4xf32>', 'return %1, %0 : tensor<2x4xf32>, tensor<2x4xf32>'))).toEqual([
      [5, 5, 'return type mismatch in @main: the function returns 1 value (tensor<2x4xf32>), found 2'],
    ]);
  });

  it('catches operand types that contradict their definitions, and call mismatches', () => {
    expect(errors(ok.replace('%1 = stablehlo.add %0, %0 : tensor<2x4xf32>', '%1 = stablehlo.add %0, %0 : tensor<2x3xf32>'))[0]).toEqual([
      4, 24, 'stablehlo.add: operand #0 (%0) has type tensor<2x4xf32>, but the type signature says tensor<2x3xf32>',
    ]);
    const called = ok.replace('%1 = stablehlo.add %0, %0 : tensor<2x4xf32>', '%1 = call @nope(%0) : (tensor<2x4xf32>) -> tensor<2x4xf32>');
    expect(errors(called)).toEqual([[4, 5, 'call: calls @nope, which is not defined in this module']]);
  });

  it('checks the golden modules too: a mutated JAX module fails where it was changed', () => {
    const text = readFileSync(path.join(FIXTURES, 'transformer_block.mlir'), 'utf8');
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes('stablehlo.transpose'));
    lines[i] = lines[i]!.replace(/dims = \[([^\]]*)\]/, 'dims = [0, 0, 1, 2]');
    const es = errors(lines.join('\n'));
    expect(es.length).toBeGreaterThan(0);
    expect(es[0]![0]).toBe(i + 1);
    expect(es[0]![2]).toMatch(/^stablehlo.transpose: permutation entry \[0, 0, 1, 2\] repeats a dimension$/);
  });

  it('checks region-carrying and collective ops JAX writes in generic form', () => {
    const mutate = (f: string, from: string, to: string): [number, number, string][] => {
      const text = readFileSync(path.join(FIXTURES, f), 'utf8');
      expect(text).toContain(from);
      expect(errors(text)).toEqual([]);
      return errors(text.replace(from, to));
    };
    expect(mutate('jax-extra/cumsum_reduce_window.mlir', 'window_dimensions = array<i64: 8, 1>', 'window_dimensions = array<i64: 9, 1>')).toEqual([
      [20, 5, 'stablehlo.reduce_window: result type expected tensor<7x4xf32>, found tensor<8x4xf32>'],
    ]);
    expect(mutate('jax-extra/switch.mlir', 'stablehlo.return %arg1 : tensor<8x4xf32>', 'stablehlo.return %arg0 : tensor<i32>')).toEqual([
      [8, 7, 'stablehlo.case: the branch 0 returns tensor<i32> as value #0, expected tensor<8x4xf32>'],
    ]);
    expect(mutate('jax-extra/shard_map_all_gather_gspmd.mlir', 'all_gather_dim = 0', 'all_gather_dim = 1')).toEqual([
      [11, 5, 'stablehlo.all_gather: result type expected tensor<2x16xf32> (dimension 1 times the group size 4), found tensor<8x4xf32>'],
    ]);
  });

  it('checks the ops the IR has by the IR\'s shape rules, with what StableHLO allows beyond them', () => {
    /** The errors of a one-op function: `op` defines %0 from %a, %b, ... of the given types. */
    const one = (args: string[], op: string, result: string): [number, number, string][] =>
      errors(`func.func @f(${args.map((t, i) => `%${'abc'[i]}: ${t}`).join(', ')}) -> ${result} {\n  %0 = ${op}\n  return %0 : ${result}\n}\n`);
    expect(one(['tensor<3xf32>'], 'stablehlo.broadcast_in_dim %a, dims = [1] : (tensor<3xf32>) -> tensor<2x4xf32>', 'tensor<2x4xf32>')).toEqual([
      [2, 3, 'stablehlo.broadcast_in_dim: cannot broadcast tensor<3xf32> to [2, 4]: dim 0 (3) vs 4'],
    ]);
    expect(one(['tensor<2x3xf32>'], 'stablehlo.reshape %a : (tensor<2x3xf32>) -> tensor<6xi32>', 'tensor<6xi32>')).toEqual([
      [2, 3, 'stablehlo.reshape: result type expected tensor<6xf32>, found tensor<6xi32>'],
    ]);
    expect(one(['tensor<4xi32>'], 'stablehlo.exponential %a : tensor<4xi32>', 'tensor<4xi32>')).toEqual([
      [2, 3, 'stablehlo.exponential: needs a float operand, got tensor<4xi32>'],
    ]);
    // Element types the IR lacks pass its dtype-class checks; StableHLO's own classes still apply.
    expect(one(['tensor<4xcomplex<f32>>'], 'stablehlo.exponential %a : tensor<4xcomplex<f32>>', 'tensor<4xcomplex<f32>>')).toEqual([]);
    expect(one(['tensor<4xcomplex<f32>>'], 'stablehlo.abs %a : (tensor<4xcomplex<f32>>) -> tensor<4xf32>', 'tensor<4xf32>')).toEqual([]);
    expect(one(['tensor<4xi1>', 'tensor<4xi1>'], 'stablehlo.shift_left %a, %b : tensor<4xi1>', 'tensor<4xi1>')).toEqual([
      [2, 3, 'stablehlo.shift_left: expected integer operands, found tensor<4xi1>'],
    ]);
    // A 0-d predicate selects whole tensors; a negative sort dimension counts from the back.
    expect(one(['tensor<i1>', 'tensor<2x3xf32>'], 'stablehlo.select %a, %b, %b : tensor<i1>, tensor<2x3xf32>', 'tensor<2x3xf32>')).toEqual([]);
    const sort = (dim: number): [number, number, string][] => errors(`func.func @f(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "stablehlo.sort"(%a) <{dimension = ${dim} : i64}> ({
  ^bb0(%x: tensor<f32>, %y: tensor<f32>):
    %1 = stablehlo.compare  LT, %x, %y : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %1 : tensor<i1>
  }) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
`);
    expect(sort(-1)).toEqual([]);
    expect(sort(2)).toEqual([[2, 3, 'stablehlo.sort: dimension 2 out of range for tensor<2x3xf32>']]);
    // dot is a dot_general contracting lhs's last dimension with rhs's first.
    expect(one(['tensor<2x3xf32>', 'tensor<4x5xf32>'], 'stablehlo.dot %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>', 'tensor<2x5xf32>')).toEqual([
      [2, 3, 'stablehlo.dot: contracting dims differ: d1=3 in tensor<2x3xf32> vs d0=4 in tensor<4x5xf32>'],
    ]);
  });

  it('notes ops of other dialects, and refuses them in strict mode', () => {
    const text = readFileSync(path.join(FIXTURES, 'sharded_mlp_shardy.mlir'), 'utf8');
    const m = parseModule(text, { filename: 'x.mlir' });
    expect(verifyModule(m).map((d) => d.severity)).toEqual(['note', 'note']);
    expect(verifyModule(m, { strict: true }).map((d) => [d.severity, d.line])).toEqual([['error', 2], ['error', 22]]);
  });

  it('parseAndVerify throws a FlipError listing every error', () => {
    const bad = ok.replace('stablehlo.add %0, %0', 'stablehlo.add %0, %9').replace('return %1', 'return %8');
    expect(() => parseAndVerify(bad, 'in.mlir')).toThrow(MlirVerifyError);
    try {
      parseAndVerify(bad, 'in.mlir');
    } catch (e) {
      expect(e).toBeInstanceOf(FlipError);
      expect((e as Error).message.split('\n')).toEqual(['in.mlir:4:28: use of undefined value %9', 'in.mlir:5:12: use of undefined value %8']);
    }
  });
});
