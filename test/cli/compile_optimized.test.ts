// `flipc compile --stage optimized`: the module compiled by the real CPU plugin, XLA's optimized HLO and its figures.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../compiler/load/index.ts';

function flipc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin', 'flipc.js'), ...args], { cwd: REPO_ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('flipc compile --stage optimized', () => {
  it('prints the optimized HLO of examples/mlp.ts with cost and memory figures from the CPU plugin', async () => {
    const r = await flipc('compile', 'examples/mlp.ts', '--entry', 'mlp', '--stage', 'optimized');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\/\/ XLA optimized HLO \(cpu/);
    // mlp is x[batch=4, embed=8] · w1[8, 16] → gelu → · w2[16, 8]: 2·(4·8·16 + 4·16·8) = 1024 matmul flops at least.
    // The figures one a line, the main ones first, none buried in a long line.
    const header = r.stdout.split('\n').filter((l) => l.startsWith('//'));
    expect(header[1]).toBe('// cost (XLA cost analysis, one run):');
    expect(header[2]).toMatch(/^\/\/ {3}flops +[0-9,]+$/);
    expect(header[3]).toMatch(/^\/\/ {3}bytes accessed +[0-9,]+$/);
    expect(header[4]).toMatch(/^\/\/ {3}transcendentals +[0-9,]+$/);
    expect(header.slice(1).filter((l) => l.length > 60)).toEqual([]);
    const flops = Number(/^\/\/ +flops +([0-9,]+)$/m.exec(r.stdout)?.[1]?.replaceAll(',', ''));
    expect(flops).toBeGreaterThanOrEqual(1024);
    expect(r.stdout).toMatch(/^\/\/ +argument size +1,248$/m); // 4·(4·8 + 8·16 + 16 + 16·8 + 8) bytes of f32 arguments
    expect(r.stdout).toMatch(/more figures: --all-costs/);
    expect(r.stdout).not.toMatch(/utilization/);
    expect(r.stdout).toMatch(/^HloModule mlp/m);
    expect(r.stdout).toMatch(/fusion/);
    expect(r.stdout).toMatch(/source_file="examples\/mlp\.ts"/);
  });

  it('--all-costs adds the other figures XLA reports, one a line', async () => {
    const r = await flipc('compile', 'examples/mlp.ts', '--entry', 'mlp', '--stage', 'optimized', '--all-costs');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\/\/ +utilization0\{\} +[0-9,.]+$/m);
    expect(r.stdout).toMatch(/^\/\/ +host temp size +0$/m);
    expect(r.stdout).not.toMatch(/more figures/);
  });

  it('refuses an unknown target in one line, exit 2', async () => {
    const r = await flipc('compile', 'examples/mlp.ts', '--entry', 'mlp', '--stage', 'optimized', '--target', 'npu');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/unknown --target 'npu'/);
  });
});
