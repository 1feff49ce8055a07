// `npm run bench`'s arguments: a bad one is one line naming it and what to use, exit 2, before anything is measured
// or installed (no venv, no plugin).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultsFileName } from '../../bench/plan.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const bench = (...args: string[]) =>
  spawnSync(process.execPath, ['--no-warnings', '--import', 'tsx', path.join(root, 'bench', 'run.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

describe('npm run bench arguments', () => {
  it.each([
    [['--model', 'flip_huge'], 'bench: --model flip_huge: use flip_small, flip_base, flip_large'],
    [['--batch', '0'], 'bench: --batch 0: an integer >= 1'],
    [['--masks', '0,1'], 'bench: --masks 0,1: ratios in [0, 1), comma-separated'],
  ])('%j: one line, exit 2', (args, line) => {
    const r = bench(...args);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(line);
    expect(r.stdout).toBe('');
  });

  it('--help lists --model and --batch', () => {
    const r = bench('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--model M .*flip_small .*flip_base or flip_large/s);
    expect(r.stdout).toMatch(/--batch N /);
  });
});

describe('where npm run bench writes without --out', () => {
  it('never over the plan\'s figures: --model and --batch name their own file', () => {
    expect(resultsFileName('cpu')).toBe('results.json');
    expect(resultsFileName('gpu')).toBe('results-gpu.json');
    expect(resultsFileName('cpu', 'flip_base')).toBe('results-flip_base.json');
    expect(resultsFileName('cpu', 'flip_base', 16)).toBe('results-flip_base-batch16.json');
    expect(resultsFileName('gpu', undefined, 128)).toBe('results-gpu-batch128.json');
  });
});
