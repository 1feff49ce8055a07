// Who writes a multi-process run's shared outputs (train/multiprocess/writer.ts): process 0 only, as the official
// trainer's metric writer (just_logging on every other process); the others keep their warnings, prefixed.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetricsLog } from '../../../train/metrics.ts';
import { NO_METRICS, metricsFor, outputFor, singleProcess, writerRole } from '../../../train/multiprocess/index.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-mp-writer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('writerRole', () => {
  it('process 0 writes, the others do not; a one-process run is its own writer with no prefix', () => {
    expect(writerRole(singleProcess())).toEqual({ isWriter: true, processIndex: 0, processCount: 1, prefix: '' });
    expect(writerRole({ processIndex: 0, processCount: 4 }).isWriter).toBe(true);
    for (const i of [1, 2, 3]) expect(writerRole({ processIndex: i, processCount: 4 })).toEqual({ isWriter: false, processIndex: i, processCount: 4, prefix: `[process ${i}/4] ` });
  });

  it('only the writer opens metrics.jsonl and the TensorBoard events', () => {
    for (const i of [0, 1]) {
      const dir = path.join(tmp, `p${i}`);
      const m = metricsFor(writerRole({ processIndex: i, processCount: 2 }), () => new MetricsLog(dir));
      m.write(1, { 'train/loss': 1.5 });
      m.flush();
      m.close();
      if (i === 0) expect(readdirSync(dir).some((f) => f === 'metrics.jsonl')).toBe(true);
      else {
        expect(m).toBe(NO_METRICS);
        expect(() => readdirSync(dir)).toThrow(/ENOENT/);
      }
    }
  });

  it('non-writers print no progress and no bar; their warnings carry the process', () => {
    const lines: string[] = [];
    const o = { print: (s: string) => lines.push(`print ${s}`), warn: (s: string) => lines.push(`warn ${s}`), progressBar: undefined };
    const w = outputFor(writerRole({ processIndex: 0, processCount: 2 }), o);
    expect(w).toBe(o);
    const r = outputFor(writerRole({ processIndex: 1, processCount: 2 }), o);
    expect(r.progressBar).toBeNull();
    r.print!('step 1');
    r.warn!('flip data: skipped (corrupt-image) x.jpg');
    expect(lines).toEqual(['warn [process 1/2] flip data: skipped (corrupt-image) x.jpg']);
  });
});
