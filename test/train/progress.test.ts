// Progress output: the plain line (non-TTY, every logEverySteps) and the live bar on a terminal, which is redrawn in
// place and erased around the normal lines printed above it.
import { describe, expect, it } from 'vitest';
import { ProgressBar, progressBar, progressLine, type Progress } from '../../train/metrics.ts';

const p: Progress = { step: 120, total: 320, epoch: 1.5, loss: 3.21044, tau: 0.0712, lr: 1.2e-4, samplesPerSec: 312.5, etaSec: 130 };

describe('progress', () => {
  it('a plain line has step/total, epoch, loss, tau, lr, samples/s and ETA', () => {
    expect(progressLine(p)).toBe('step 120/320  epoch 1.50  loss 3.2104  tau 0.0712  lr 1.20e-4  312.5 samples/s  ETA 2m10s');
  });

  it('the bar fills its share of the width and keeps the numbers; a narrow terminal gets the numbers only', () => {
    const line = progressBar(p, 100);
    expect(line.length).toBe(99);
    expect(line).toMatch(/^ 37%\|█+[▏▎▍▌▋▊▉]? +\| 120\/320 ep 1\.50 loss 3\.2104 lr 1\.20e-4 313 samples\/s ETA 2m10s$/);
    const cells = line.slice(line.indexOf('|') + 1, line.lastIndexOf('|'));
    const filled = [...cells].filter((c) => c !== ' ').length;
    expect(filled / cells.length).toBeCloseTo(120 / 320, 1);
    expect(progressBar({ ...p, step: 320 }, 100)).toMatch(/^100%\|█+\|/);
    expect(progressBar(p, 40)).toBe(' 37% 120/320 ep 1.50 loss 3.2104 lr 1.2');
  });

  it('on a terminal: redrawn in place at most every interval, erased for a printed line and drawn again, gone at the end', () => {
    const writes: string[] = [];
    const bar = new ProgressBar({ write: (s: string) => writes.push(s), columns: 100 }, 1e9);
    bar.update(p);
    bar.update({ ...p, step: 121 }); // within the interval: not drawn
    expect(writes).toEqual([`\r${progressBar(p, 100)}\x1b[K`]);
    bar.update({ ...p, step: 122 }, true);
    expect(writes[1]).toContain(' 122/320 ');
    const printed: string[] = [];
    bar.print('checkpoint (epoch 1): x.json', (s) => printed.push(s));
    expect(printed).toEqual(['checkpoint (epoch 1): x.json']);
    expect(writes.slice(2)).toEqual(['\r\x1b[K', `\r${progressBar({ ...p, step: 122 }, 100)}\x1b[K`]);
    bar.done();
    expect(writes.at(-1)).toBe('\r\x1b[K');
    bar.print('after', () => {});
    expect(writes).toHaveLength(5); // nothing redrawn after done()
  });
});
