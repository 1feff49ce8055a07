// `flipc check`: a one-line summary and exit 0 for a valid module; file:line:col lines and exit 2 otherwise.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-check-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function flipc(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/flipc.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('flipc check', () => {
  it('prints a summary and exits 0 for a valid module', () => {
    const r = flipc('check', 'test/fixtures/mlir/flip_loss_grad.mlir');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('test/fixtures/mlir/flip_loss_grad.mlir: ok (13 functions, 298 ops)\n');
  });

  it('prints one error per problem as file:line:col and exits 2', () => {
    const file = path.join(tmp, 'bad.mlir');
    writeFileSync(file, [
      'func.func public @main(%a: tensor<2xf32>) -> tensor<3xf32> {',
      '  %0 = stablehlo.add %a, %b : tensor<2xf32>',
      '  %1 = stablehlo.multiply %0, %0 : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>',
      '  return %0 : tensor<2xf32>',
      '}',
      '',
    ].join('\n'));
    const r = flipc('check', file);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      `${file}:2:26: use of undefined value %b`,
      `${file}:3:3: stablehlo.multiply: result type expected tensor<2xf32> (the operands' type), found tensor<4xf32>`,
      `${file}:4:10: return type mismatch in @main: result #0 expected tensor<3xf32>, found tensor<2xf32>`,
      `${file}: 3 errors`,
    ]);
  });

  it('reports a syntax error at its line and column', () => {
    const file = path.join(tmp, 'unbalanced.mlir');
    writeFileSync(file, 'module {\n  func.func @f() {\n    return\n  }\n');
    const r = flipc('check', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${file}:5:1: expected '}' but found end of input\n${file}: 1 error\n`);
  });

  it('--strict makes ops of unverified dialects errors (notes otherwise: see errors.test.ts)', () => {
    const strict = flipc('check', 'test/fixtures/mlir/sharded_mlp_shardy.mlir', '--strict');
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/^test\/fixtures\/mlir\/sharded_mlp_shardy.mlir:2:3: sdy.mesh is not verified \(dialect 'sdy'\)\n/);
  });

  it('a missing file is a one-line error, exit 2', () => {
    const r = flipc('check', path.join(tmp, 'nope.mlir'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^flipc check: cannot read .*nope\.mlir: ENOENT\n$/);
  });
});
