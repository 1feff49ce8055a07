// `flipc compile models/flip.ts --entry lossAndGrads --mesh ...`: the batch is the config's, so a mesh that does not
// divide it gets advice that can be followed, and following it compiles.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../compiler/load/index.ts';

function flipc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin', 'flipc.js'), ...args], { cwd: REPO_ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('flipc compile --entry lossAndGrads --mesh', () => {
  it('a data axis that does not divide the config\'s batch: one line naming the flag that fixes it; with that flag it compiles', async () => {
    const args = ['compile', 'models/flip.ts', '--entry', 'lossAndGrads', '--config', 'configs/flip_tiny.ts', '--mesh', 'data=8'];
    const bad = await flipc(...args);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    // flip_tiny's batch is 4: the advice names a batch the mesh divides, as a flag.
    expect(bad.stderr).toMatch(/does not divide batch=4 .*make the batch a multiple of 8 .*--config\.train\.batchSize=8/);
    const flag = /(--config\.train\.batchSize=\d+)/.exec(bad.stderr)![1]!;
    const good = await flipc(...args, flag);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^module @lossAndGrads .*mhlo\.num_partitions = 8/m);
    expect(good.stdout).toMatch(/tensor<8x32x32x3xf32> \{[^}]*mhlo\.sharding = "\{devices=\[8,1,1,1\]/);
  }, 120_000);
});
