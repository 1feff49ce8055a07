// An op the StableHLO dialect does not have is an error of `flipc check` (and so of `flipc run`, before compiling),
// not a note: `stablehlo.frobnicate` used to pass check with "ok" and fail only in the plugin. Ops of dialects the
// verifier does not know (chlo, sdy, mhlo, custom) stay notes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseModule, verifyModule } from '../../compiler/mlir/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-unknown-op-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const text = (op: string) => `module @m {
  func.func public @main(%a: tensor<2xf32>) -> tensor<2xf32> {
    %0 = ${op} : (tensor<2xf32>) -> tensor<2xf32>
    return %0 : tensor<2xf32>
  }
}
`;

describe('unknown ops', () => {
  it('stablehlo.frobnicate is an error naming the op and its place; a chlo op is a note', () => {
    for (const form of ['"stablehlo.frobnicate"(%a)', 'stablehlo.frobnicate %a']) {
      const diags = verifyModule(parseModule(text(form), { filename: 'f.mlir' }));
      expect(diags.map((d) => [d.severity, d.line, d.col, d.message]), form).toEqual([['error', 3, 5, 'unknown op stablehlo.frobnicate: StableHLO has no such op']]);
    }
    const chlo = verifyModule(parseModule(text('"chlo.frobnicate"(%a)'), { filename: 'f.mlir' }));
    expect(chlo.map((d) => d.severity)).toEqual(['note']);
  });

  it('flipc check: exit 2 with the line', () => {
    const file = path.join(tmp, 'f.mlir');
    writeFileSync(file, text('stablehlo.frobnicate %a'));
    const r = spawnSync(process.execPath, [path.join(root, 'bin/flipc.js'), 'check', file], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
    expect([r.status, r.stdout, r.stderr]).toEqual([2, '', `${file}:3:5: unknown op stablehlo.frobnicate: StableHLO has no such op\n${file}: 1 error\n`]);
  });
});
