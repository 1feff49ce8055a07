// compiler/lower is the one pipeline: `flipc compile` prints exactly the module `flip run` compiles (byte for byte),
// donation is an argument attribute the emitter writes, and the program carries its signature as data.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../compiler/load/index.ts';
import { lower } from '../../compiler/lower/index.ts';
import { mesh } from '../../compiler/passes/index.ts';
import { spec } from '../../compiler/trace/index.ts';
import { type Tensor } from '../../dsl/index.ts';
import '../../dsl/index.ts'; // the DSL's tensor methods on traced values

function flipc(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin', 'flipc.js'), ...args], { cwd: REPO_ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * The module flip run compiles for its train step, from the run's own parts running compiled (dist/) as `flip run`
 * does: step_module.ts is imported as flip imports a user's .ts (compiler/load/ts_import.ts), so its imports of
 * train/ and compiler/ are dist/'s (vitest and tsx map a few source columns differently from dist/'s source maps, and
 * locations are part of the module text). vitest's global setup has built dist/.
 */
const STEP_MODULE = "process.setSourceMapsEnabled(true); process.argv.splice(1, 0, 'step_module');" +
  " await (await import('./dist/compiler/load/ts_import.js')).importUserModule('test/lower/step_module.ts');";
async function runStepModule(devices: number, meshText?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', STEP_MODULE, 'configs/flip_tiny.ts', String(devices), ...(meshText ? [meshText] : [])],
      { cwd: REPO_ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

describe('one compile pipeline', () => {
  it('flipc compile train/step.ts --entry train_step prints the module flip run compiles, byte for byte', async () => {
    const [printed, compiled] = await Promise.all([flipc(['compile', 'train/step.ts', '--entry', 'train_step', '--config', 'configs/flip_tiny.ts']), runStepModule(1)]);
    expect(printed.stderr).toBe('');
    expect(printed.code).toBe(0);
    expect(compiled).toMatch(/tf\.aliasing_output = 0 : i32/);
    expect(compiled).toMatch(/^\s+func\.func public @main\(.*\) loc\(#loc\d+\)$|loc\("train\/step\.ts":\d+:1\)/m);
    expect(printed.stdout).toBe(compiled);
  });

  it('and over a mesh, as flip run --mesh data=2 compiles it', async () => {
    const [printed, compiled] = await Promise.all([
      flipc(['compile', 'train/step.ts', '--entry', 'train_step', '--config', 'configs/flip_tiny.ts', '--mesh', 'data=2']),
      runStepModule(2, 'data=2'),
    ]);
    expect(printed.code).toBe(0);
    expect(compiled).toMatch(/mhlo\.num_partitions = 2/);
    expect(printed.stdout).toBe(compiled);
  });

  it('marks donation as argument attributes and gives the signature as data', () => {
    type V = Tensor<'f32', readonly ['batch']>;
    const step = (state: { w: V; b: V }, x: V, scale: number) => [{ w: state.w.mul(x).mul(scale), b: state.b.add(x) }, x.sum()] as const;
    const v = spec('f32', { batch: 8 });
    const p = lower(step, [{ w: v, b: v }, v, 2], { donate: [0], mesh: mesh({ data: 2 }) });
    expect(p.donated).toEqual([0, 1]);
    expect(p.params.map((a) => [a.name, a.aliasOutput, a.type.shape, a.localShape])).toEqual([['state.w', 0, [8], [4]], ['state.b', 1, [8], [4]], ['x', undefined, [8], [4]]]);
    expect(p.numPartitions).toBe(2);
    expect(p.mlir).toMatch(/%arg0: tensor<8xf32> \{mhlo\.sharding = "[^"]*", tf\.aliasing_output = 0 : i32\}/);
    expect(p.mlir).toMatch(/%arg1: tensor<8xf32> \{mhlo\.sharding = "[^"]*", tf\.aliasing_output = 1 : i32\}/);
    expect(p.mlir).not.toMatch(/%arg2: [^,]*aliasing/);
    expect(() => lower(step, [{ w: v, b: v }, v, 2], { donate: [0, 1] })).toThrow(/donated input x is f32\[batch=8\] but result 2 is f32\[\]/);
  });
});
