// `flip plot WORKDIR`: metrics.jsonl → a PNG with the loss and accuracy curves where the data puts them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { layout, niceTicks, PLOT, plotRun, readCurves, toPixel } from '../../train/plot.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-plot-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

/** The run of a metrics.jsonl: loss falling from 6 to ~2 over 300 steps, an eval every 100 steps, a killed run's half line. */
function writeRun(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  for (let s = 10; s <= 300; s += 10) lines.push(JSON.stringify({ step: s, 'train/loss': 2 + 4 * Math.exp(-s / 80), 'train/lr': 1e-3 }));
  for (const s of [100, 200, 300]) lines.push(JSON.stringify({ step: s, 'eval/zeroshot_top1': s / 1000, 'eval/zeroshot_top5': s / 400, 'eval/chance': 1 / 30 }));
  lines.push(JSON.stringify({ step: 310, 'train/loss': 'NaN' }), '{"step": 320, "train/lo');
  writeFileSync(path.join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
}

describe('flip plot', () => {
  it('reads the curves: finite values only, the last of a repeated step, cut lines skipped', () => {
    const dir = path.join(tmp, 'read');
    writeRun(dir);
    writeFileSync(path.join(dir, 'metrics.jsonl'), JSON.stringify({ step: 20, 'train/loss': 9 }) + '\n', { flag: 'a' });
    const c = readCurves(path.join(dir, 'metrics.jsonl'));
    expect(c.loss).toHaveLength(30);
    expect(c.loss[1]).toEqual({ step: 20, value: 9 }); // a resumed run redid step 20
    expect(c.top1.map((q) => q.step)).toEqual([100, 200, 300]);
    expect(c.chance).toBeCloseTo(1 / 30);
    expect(c.skippedLines).toEqual([35]); // the cut line, counted for the caller to show (not silently dropped)
    expect(niceTicks(0, 300)).toEqual([0, 100, 200, 300]);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(1.8, 6.2)).toEqual([2, 3, 4, 5, 6]);
  });

  it('writes a PNG that decodes, with the curves drawn where the data is and background elsewhere', async () => {
    const dir = path.join(tmp, 'run');
    writeRun(dir);
    const { file, curves } = await plotRun(dir);
    expect(file).toBe(path.join(dir, 'metrics.png'));
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([PLOT.width, PLOT.height]);
    const at = (x: number, y: number) => Array.from(data.subarray((Math.round(y) * info.width + Math.round(x)) * info.channels, (Math.round(y) * info.width + Math.round(x)) * info.channels + 3));
    const near = (x: number, y: number, color: string, r = 1) => {
      const want = hex(color);
      for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
        if (at(x + dx, y + dy).every((v, i) => Math.abs(v - want[i]!) < 40)) return true;
      }
      return false;
    };
    const l = layout(curves);
    // The loss curve through its logged points (those clear of the legend box at the panel's top right).
    for (const q of curves.loss.filter((_, i) => i % 5 === 2)) {
      const [x, y] = toPixel(l.loss, q.step, q.value);
      expect(near(x, y, PLOT.loss), `loss at step ${q.step} → (${x.toFixed(0)}, ${y.toFixed(0)})`).toBe(true);
    }
    // The eval points (dots) and the chance line.
    for (const q of curves.top1) expect(near(...toPixel(l.acc, q.step, q.value), PLOT.top1, 2), `top-1 at ${q.step}`).toBe(true);
    for (const q of curves.top5.slice(0, 2)) expect(near(...toPixel(l.acc, q.step, q.value), PLOT.top5, 2), `top-5 at ${q.step}`).toBe(true);
    const chance = toPixel(l.acc, 150, 1 / 30);
    expect(near(chance[0], chance[1], PLOT.chance, 3)).toBe(true);
    // Background: inside the loss panel far below the curve at its start, and in the acc panel high above top-1 at step 100.
    const below = toPixel(l.loss, 40, l.loss.y[0] + 0.02 * (l.loss.y[1] - l.loss.y[0]));
    expect(at(below[0] + 3, below[1] - 3)).toEqual(hex(PLOT.background));
    const above = toPixel(l.acc, 130, 0.62);
    expect(at(above[0] + 3, above[1] + 3)).toEqual(hex(PLOT.background));
  });

  it('flip plot WORKDIR -o FILE writes the PNG; a workdir without metrics is one error', () => {
    const dir = path.join(tmp, 'cli');
    writeRun(dir);
    const out = path.join(tmp, 'curves.png');
    const ok = spawnSync(process.execPath, [path.join(root, 'bin/flip.js'), 'plot', dir, '-o', out], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^wrote .*curves\.png: 30 loss points, 3 evals \(last top-1 30\.0% at step 300\)/);
    expect(ok.stderr.trim()).toBe('flip plot: skipped 1 line of metrics.jsonl that is not a metrics record (line 35; a run killed mid-write leaves one cut short)');
    const bad = spawnSync(process.execPath, [path.join(root, 'bin/flip.js'), 'plot', tmp], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^flip plot: cannot read .*metrics\.jsonl: ENOENT/);
  });
});
