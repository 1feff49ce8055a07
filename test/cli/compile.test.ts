// `flipc compile` as a user runs it: a real subprocess through bin/flipc.js (tsx), its stdout, stderr and exit code.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../compiler/load/index.ts';

interface Run { code: number; stdout: string; stderr: string }

function flipc(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin', 'flipc.js'), ...args], { cwd: REPO_ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

// Bad inputs live in a temp folder (a module package, so tsx loads them as ESM) and import the DSL by absolute path.
const dir = mkdtempSync(path.join(tmpdir(), 'flipc-compile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}\n');
const dsl = JSON.stringify(path.join(REPO_ROOT, 'dsl', 'index.ts'));
function fixture(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `import { dot, spec, type Tensor } from ${dsl};\n${body}`);
  return file;
}
const shown = (file: string) => path.relative(REPO_ROOT, file);

const typeError = fixture('type_error.ts', `export function f(x: Tensor<'f32', ['batch']>) {
  const scale: number = 'two';
  return x.mul(scale);
}
export const fInputs = { x: spec('f32', { batch: 2 }) };
`);
const badDtype = fixture('bad_dtype.ts', `export function f(x: Tensor<'f32', ['batch']>) {
  return x.add(x);
}
export const fInputs = { x: { dtype: 'f8', shape: [2], axes: ['batch'] } };
`);
const badShapes = fixture('bad_shapes.ts', `export function f(x: Tensor<'f32', ['batch', 'embed']>, w: Tensor<'f32', ['embed', 'mlp']>) {
  return dot(x, w, { contract: ['embed'] });
}
export const fInputs = { x: spec('f32', { batch: 2, embed: 4 }), w: spec('f32', { embed: 3, mlp: 5 }) };
`);
const config = fixture('config.ts', `export default { batch: 3 };
export const mlpInputs = (cfg: { batch: number }) => ({
  x: spec('f32', { batch: cfg.batch, embed: 8 }),
  params: { w1: spec('f32', { embed: 8, mlp: 16 }), b1: spec('f32', { mlp: 16 }), w2: spec('f32', { mlp: 16, embed: 8 }), b2: spec('f32', { embed: 8 }) },
});
`);

/** A user error: exit code 2 and exactly one line on stderr, no stack trace, nothing on stdout. */
function expectOneLineError(r: Run, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^flipc compile: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe.concurrent('flipc compile', () => {
  it('prints the StableHLO of examples/mlp.ts with @main and locations in the file', async () => {
    const r = await flipc('compile', 'examples/mlp.ts', '--entry', 'mlp');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^module @mlp attributes \{mhlo\.num_partitions = 1 : i32, mhlo\.num_replicas = 1 : i32\} \{$/m);
    expect(r.stdout).toContain('func.func public @main(%arg0: tensor<4x8xf32> loc("x"), %arg1: tensor<8x16xf32> loc("params.w1")');
    expect(r.stdout).toMatch(/^#loc\d+ = loc\("examples\/mlp\.ts":14:\d+\)$/m);
    expect(r.stdout).toMatch(/stablehlo\.dot_general .* loc\(#loc\d+\)$/m);
    expect(r.stdout).toBe(readFileSync(path.join(REPO_ROOT, 'test', 'golden', 'emitter', 'mlp.mlir'), 'utf8'));
  });

  it('writes -o, takes inputs from a --config, and logs with --verbose', async () => {
    const out = path.join(dir, 'out', 'mlp.mlir');
    const r = await flipc('compile', 'examples/mlp.ts', '--entry', 'mlp', '--config', config, '-o', out, '--verbose');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/type-checked examples\/mlp\.ts/);
    expect(r.stderr).toMatch(/traced mlp: \d+ ops/);
    expect(readFileSync(out, 'utf8')).toContain('func.func public @main(%arg0: tensor<3x8xf32> loc("x")');
  });

  it('explains how inputs are declared in --help', async () => {
    const r = await flipc('compile', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: flipc compile <file.ts> --entry <exportedFunction>');
    expect(r.stdout).toContain("export const mlpInputs = {");
    expect(r.stdout).toContain('--stage <stage>');
  });

  it('lists the exported functions for an unknown entry', async () => {
    expectOneLineError(await flipc('compile', 'examples/mlp.ts', '--entry', 'mpl'), /examples\/mlp\.ts exports no function 'mpl' \(exported functions: mlp, mlpLoss\)$/);
  });

  it('reports a type error as file:line:col and stops', async () => {
    expectOneLineError(
      await flipc('compile', typeError, '--entry', 'f'),
      new RegExp(`${shown(typeError).replace(/[.]/g, '\\.')}:3:9: Type 'string' is not assignable to type 'number'\\. \\(TS2322\\)$`),
    );
  });

  it('refuses an unsupported dtype', async () => {
    expectOneLineError(await flipc('compile', badDtype, '--entry', 'f'), /input 'x' has unsupported dtype 'f8' \(flip supports f32, bf16, /);
  });

  it('names the line and both shapes when sizes do not fit', async () => {
    expectOneLineError(
      await flipc('compile', badShapes, '--entry', 'f'),
      new RegExp(`${shown(badShapes).replace(/[.]/g, '\\.')}:3:10: dot: axis 'embed' is 4 in f32\\[batch=2, embed=4\\] but 3 in f32\\[embed=3, mlp=5\\]`),
    );
  });

  it('refuses a stage it does not have', async () => {
    expectOneLineError(await flipc('compile', 'examples/mlp.ts', '--entry', 'mlp', '--stage', 'llvm'), /unknown --stage 'llvm' \(stages: stablehlo, optimized\)$/);
  });

  it('shows the stack with --verbose, still exiting 2', async () => {
    const r = await flipc('compile', badShapes, '--entry', 'f', '--verbose');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^\s+at /m);
  });
});
