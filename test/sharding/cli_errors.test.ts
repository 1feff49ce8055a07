// A mesh the program does not fit is one line on stderr and exit code 2, from `flipc compile --mesh` and `flip run --mesh`.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../compiler/load/index.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-mesh-errors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(bin: 'flip' | 'flipc', args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin', `${bin}.js`), ...args], { cwd: REPO_ROOT, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr })));
}

describe('a mesh that does not divide a dimension', () => {
  it('is one line and exit 2 from flipc compile --mesh and flip run --mesh', async () => {
    // Started together: each is mostly node's and tsx's start-up.
    const [compile, run] = await Promise.all([
      cli('flipc', ['compile', 'examples/mlp.ts', '--entry', 'mlp', '--mesh', 'data=3']),
      // flip_tiny's 2 attention heads do not split 4 ways.
      cli('flip', ['run', '--config', 'configs/flip_tiny.ts', '--config.model.txt.vocabSize=128', '--mesh', 'data=2,model=4', '--workdir', path.join(tmp, 'run')]),
    ]);
    expect(compile.stdout).toBe('');
    expect(compile.stderr).toBe('flipc compile: x f32[batch=4, embed=8]: mesh axis data=3 does not divide batch=4 (mesh data=3); make the batch a multiple of 3; 1 more tensor fails too\n');
    expect(compile.code).toBe(2);
    // Refused from the config before anything compiles (train/run/plan.ts); the sharding pass would name the tensor.
    expect(run.stderr).toBe('flip run: --mesh data=2,model=4: model=4 does not divide config.model.img.transformer.numHeads (2), which ' +
      "FLIP's sharding splits over the model axis: use a model axis that divides 2\n");
    expect(run.code).toBe(2);
  });
});
