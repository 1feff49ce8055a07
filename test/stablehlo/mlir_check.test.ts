// Every module the emitter produces in tests parses and verifies with compiler/mlir (flip's own StableHLO reader).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FuncBuilder, module, tensorType } from '../../compiler/ir/index.ts';
import { REPO_ROOT } from '../../compiler/load/index.ts';
import { formatDiagnostic, parseModule, verifyModule } from '../../compiler/mlir/index.ts';
import { emitFunc, emitModule } from '../../compiler/stablehlo/index.ts';
import { ALL_CASES, buildCase } from './cases.ts';

function check(text: string, name: string): void {
  const diags = verifyModule(parseModule(text, { filename: name }));
  expect(diags.map(formatDiagnostic), text).toEqual([]);
}

describe('emitted StableHLO parses and verifies with compiler/mlir', () => {
  it.each(ALL_CASES.map((c) => [c.name, c] as const))('%s', (name, c) => check(emitFunc(buildCase(c)), name));

  it.each(['mlp.mlir', 'attention.mlir'])('golden %s', (golden) => {
    check(readFileSync(path.join(REPO_ROOT, 'test', 'golden', 'emitter', golden), 'utf8'), golden);
  });

  it('a module with shardings, result names, several functions and odd names', () => {
    const b = new FuncBuilder('main');
    const x = b.param(tensorType('f32', [8, 4], ['batch', 'embed']), { name: 'x "quoted"', sharding: '{devices=[2,1]<=[2]}' });
    const y = b.emit1('sharding_constraint', [b.emit1('tanh', [x], {}, { file: 'dir with space/ü.ts', line: 3, col: 1 })], { sharding: '{devices=[2,1]<=[2]}' });
    const g = new FuncBuilder('helper-fn');
    const a = g.param(tensorType('i32', [], []));
    const m = module([b.finish([y, x], [{ name: 'out', sharding: '{replicated}' }, { name: 'x' }]), g.finish([g.emit1('neg', [a], {})])], { 'mhlo.num_partitions': 2 });
    check(emitModule(m), 'module');
  });
});
