// A user's model lives outside the checkout (issue 16): a .ts file in a folder with no package.json loads (it was taken
// for CommonJS and failed with ERR_REQUIRE_CYCLE_MODULE), imports flip by its package name `flip-xla/...` (or by a path
// into the checkout), and a model that throws prints its own line, not flip's frames. Through the real bin/flipc.js,
// compiled (dist/) and from the sources (FLIP_TSX=1).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { userThrow } from '../../bin/cli.ts';
import { ConfigError } from '../../configs/errors.ts';

const root = path.resolve(import.meta.dirname, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-user-model-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const mlp = fs.readFileSync(path.join(root, 'examples', 'mlp.ts'), 'utf8');
fs.writeFileSync(path.join(dir, 'mlp.ts'), mlp.replace("'../dsl/index.ts'", "'flip-xla'"));
fs.writeFileSync(path.join(dir, 'by_path.ts'), mlp.replace("'../dsl/index.ts'", JSON.stringify(path.join(root, 'dsl', 'index.ts'))));
fs.writeFileSync(path.join(dir, 'throws.ts'), [
  "import { spec, type Tensor } from 'flip-xla/dsl';",
  '',
  "export function boom(x: Tensor<'f32', ['batch', 'embed']>) {",
  "  if (x) throw new Error('this model is not ready');",
  '  return x;',
  '}',
  "export const boomInputs = { x: spec('f32', { batch: 2, embed: 4 }) };",
  '',
].join('\n'));
const flipc = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [path.join(root, 'bin', 'flipc.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, FLIP_TSX: '', ...env } });

describe('a model outside the checkout, in a folder with no package.json', () => {
  it('is outside the checkout and has no package.json up its tree', () => {
    expect(path.relative(root, dir).startsWith('..')).toBe(true);
    for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) expect(fs.existsSync(path.join(d, 'package.json')), d).toBe(false);
  });

  it('compiles, importing flip-xla (compiled flip)', () => {
    const r = flipc(['compile', 'mlp.ts', '--entry', 'mlp']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/func\.func public @main\(%arg0: tensor<4x8xf32>/);
    expect(r.stdout).toContain('loc("mlp.ts":14:');
  });

  it('compiles, importing the checkout\'s dsl/index.ts by path (flip from its sources)', () => {
    const r = flipc(['compile', 'by_path.ts', '--entry', 'mlp'], { FLIP_TSX: '1' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('loc("by_path.ts":14:');
  });

  it('that throws while traced: its file:line:col and message in one line, exit 2', () => {
    const r = flipc(['compile', 'throws.ts', '--entry', 'boom']);
    expect([r.status, r.stdout, r.stderr]).toEqual([2, '', 'flipc compile: throws.ts:4:16: this model is not ready\n']);
  });
});

describe('userThrow', () => {
  const error = (top: string, name = 'Error') => Object.assign(new Error('boom'), { name, stack: `${name}: boom\n    at f (${top})\n    at g (${path.join(root, 'bin', 'cli.ts')}:1:1)` });
  it('names the user\'s line when it threw, with the error\'s kind unless a plain Error', () => {
    expect(userThrow(error(`${path.join(dir, 'm.ts')}:3:9`))).toBe(`${path.relative(process.cwd(), path.join(dir, 'm.ts'))}:3:9: boom`);
    expect(userThrow(error(`file://${path.join(root, 'models', 'flip.ts')}:7:5`, 'RangeError'))).toBe('models/flip.ts:7:5: RangeError: boom');
  });
  it('is null when flip (sources or dist/), a package or Node threw: their stack is kept', () => {
    for (const top of [path.join(root, 'compiler', 'trace', 'trace.ts'), path.join(root, 'dist', 'dsl', 'ops.js'), path.join(root, 'node_modules', 'x', 'i.js'), 'node:internal/x'])
      expect(userThrow(error(`${top}:1:1`))).toBeNull();
    expect(userThrow('a string')).toBeNull();
    // flip's own errors keep their one line, even when raised in configs/ or a user's file.
    expect(userThrow(Object.assign(new ConfigError('unknown config field'), { stack: `ConfigError: x\n    at f (${path.join(root, 'configs', 'overrides.ts')}:1:1)` }))).toBeNull();
  });
});
