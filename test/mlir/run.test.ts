// Every golden module, run through `flipc run` on the CPU plugin with JAX's inputs, reproduces JAX's outputs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import { runMlir } from '../../programs/run_mlir.ts';
import { readSafetensors, writeSafetensors, type TensorData } from '../../io/safetensors.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/mlir');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-run-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function flipc(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/flipc.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectClose(got: TensorData, want: TensorData, what: string): void {
  expect(got.dtype, what).toBe(want.dtype);
  expect(got.shape, what).toEqual(want.shape);
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) {
    const g = Number(got.data[i]);
    const w = Number(want.data[i]);
    worst = Math.max(worst, Math.abs(g - w) / (1e-5 + 1e-5 * Math.abs(w)));
  }
  // |got - want| <= 1e-5 + 1e-5 |want| elementwise (XLA versions differ in the last bits).
  expect(worst, `${what}: worst error in units of the tolerance`).toBeLessThanOrEqual(1);
}

const GOLDENS = ['mlp', 'transformer_block', 'vit_forward', 'flip_loss_grad', 'sharded_mlp_gspmd', 'sharded_mlp_shardy'];

describe('flipc run reproduces JAX', () => {
  for (const name of GOLDENS) {
    it(name, () => {
      const out = path.join(tmp, `${name}.out.safetensors`);
      const r = flipc('run', path.join(FIXTURES, `${name}.mlir`), '--inputs', path.join(FIXTURES, `${name}.safetensors`), '--target', 'cpu', '-o', out);
      expect(r.stderr.replace(/^note: .*\n/gm, '')).toBe('');
      expect(r.code).toBe(0);
      const want = readSafetensors(path.join(FIXTURES, `${name}.safetensors`)).tensors;
      const got = readSafetensors(out).tensors;
      const outputs = Object.keys(want).filter((k) => k.startsWith('output.'));
      expect(outputs.length).toBeGreaterThan(0);
      expect(Object.keys(got).sort()).toEqual(outputs.sort());
      for (const k of outputs) expectClose(got[k]!, want[k]!, `${name} ${k}`);
      expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(outputs.length);
    });
  }
});

describe('runMlir', () => {
  const text = readFileSync(path.join(FIXTURES, 'mlp.mlir'), 'utf8');

  it('runs a sharded module SPMD on its 8 partitions, or whole on one device when asked', async () => {
    const st = readSafetensors(path.join(FIXTURES, 'sharded_mlp_shardy.safetensors')).tensors;
    const text = readFileSync(path.join(FIXTURES, 'sharded_mlp_shardy.mlir'), 'utf8');
    const spmd = await runMlir(text, 'shardy.mlir', { inputs: st });
    expect([spmd.devices, spmd.notes]).toEqual([8, []]);
    expectClose(spmd.outputs['output.0']!, st['output.0']!, 'spmd');
    const one = await runMlir(text, 'shardy.mlir', { inputs: st, oneDevice: true });
    expect([one.devices, one.notes]).toEqual([1, ['shardy.mlir is sharded 8 ways; running it on one device with its shardings ignored']]);
    expectClose(one.outputs['output.0']!, st['output.0']!, 'one device');
  });

  it('makes seeded random inputs of the declared types when asked', async () => {
    const a = await runMlir(text, 'mlp.mlir', { randomInputs: true, seed: 1 });
    const b = await runMlir(text, 'mlp.mlir', { randomInputs: true, seed: 1 });
    const c = await runMlir(text, 'mlp.mlir', { randomInputs: true, seed: 2 });
    expect(Object.keys(a.inputs)).toEqual(['input.0', 'input.1', 'input.2', 'input.3', 'input.4']);
    expect(a.inputs['input.1']).toMatchObject({ dtype: 'f32', shape: [8, 16] });
    expect(a.outputs['output.0']!.data).toEqual(b.outputs['output.0']!.data);
    expect(a.outputs['output.0']!.data).not.toEqual(c.outputs['output.0']!.data);
  });

  it('refuses an inputs file that lacks arguments, naming them; random ones only when asked', async () => {
    const inputs = readSafetensors(path.join(FIXTURES, 'mlp.safetensors')).tensors;
    delete inputs['input.1'];
    delete inputs['input.3'];
    await expect(runMlir(text, 'mlp.mlir', { inputs })).rejects.toThrow('the inputs file lacks input.1 (f32[8, 16]), input.3 (f32[16, 4]) of @main (--random-inputs fills missing ones with seeded random numbers)');
    await expect(runMlir(text, 'mlp.mlir')).rejects.toThrow(FlipError);
    const filled = await runMlir(text, 'mlp.mlir', { inputs, randomInputs: true });
    expect(filled.inputs['input.0']).toEqual(inputs['input.0']);
    expect(filled.inputs['input.1']).toMatchObject({ dtype: 'f32', shape: [8, 16] });
  });

  it('flipc run: a missing input, or no inputs at all, is one line and exit 2', () => {
    const few = path.join(tmp, 'few.safetensors');
    const inputs = readSafetensors(path.join(FIXTURES, 'mlp.safetensors')).tensors;
    delete inputs['input.2'];
    writeSafetensors(few, inputs);
    const mlir = path.join(FIXTURES, 'mlp.mlir');
    const a = flipc('run', mlir, '--inputs', few);
    expect([a.code, a.stdout, a.stderr.trim().split('\n').length]).toEqual([2, '', 1]);
    expect(a.stderr).toContain('lacks input.2');
    const b = flipc('run', mlir);
    expect([b.code, b.stdout]).toEqual([2, '']);
    expect(b.stderr.trim()).toBe('flipc run: pass --inputs <file.safetensors> with input.0 .. input.4, or --random-inputs [--seed N] for seeded random ones');
    const c = flipc('run', mlir, '--seed', '3');
    expect([c.code, c.stderr.trim()]).toEqual([2, 'flipc run: --seed seeds --random-inputs; pass --random-inputs too']);
    const d = flipc('run', mlir, '--random-inputs', '--seed', '3');
    expect([d.code, d.stderr]).toEqual([0, '']);
    expect(d.stdout).toMatch(/^output\.0: f32\[/);
  });

  it('flipc run: out of device memory is one line and exit 2', () => {
    const big = path.join(tmp, 'big.mlir');
    writeFileSync(big, `module @m {
  func.func public @main(%a: tensor<f32>) -> tensor<100000x100000xf32> {
    %0 = stablehlo.broadcast_in_dim %a, dims = [] : (tensor<f32>) -> tensor<100000x100000xf32>
    return %0 : tensor<100000x100000xf32>
  }
}
`);
    const r = flipc('run', big, '--random-inputs');
    expect([r.code, r.stdout]).toEqual([2, '']);
    expect(r.stderr.replace(/^(I0000|W0000|WARNING: All log).*\n/gm, '')).toBe('flipc run: out of device memory: Out of memory allocating 40000000000 bytes; ' +
      'the program needs more memory than the device has (make it smaller: a smaller batch or model; or spread it over more devices)\n');
  });

  it('refuses inputs of the wrong shape, naming both', async () => {
    const inputs = readSafetensors(path.join(FIXTURES, 'mlp.safetensors')).tensors;
    inputs['input.1'] = { ...inputs['input.1']!, shape: [16, 8] };
    const run = runMlir(text, 'mlp.mlir', { inputs });
    await expect(run).rejects.toThrow(FlipError);
    await expect(runMlir(text, 'mlp.mlir', { inputs })).rejects.toThrow('input.1: @main expects f32[8, 16], the inputs file has f32[16, 8]');
  });

  it('refuses a module that does not verify, before compiling', async () => {
    await expect(runMlir(text.replace('stablehlo.add %17, %19', 'stablehlo.add %17, %99'), 'mlp.mlir')).rejects.toThrow(/mlp\.mlir:\d+:\d+: use of undefined value %99/);
  });
});
