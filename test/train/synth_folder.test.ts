// `flip data synth --out DIR` (and `flip run`, which writes <workdir>/data through the same code) never deletes or
// replaces files flip did not write: it writes into a new or empty folder, or over a set it wrote (listed in its
// marker); anything else is refused with one line and nothing touched. Bad --out / --image-size: one line, exit 2,
// nothing left behind.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import { SYNTH_MARKER, writeSynthDataset } from '../../train/data/synth.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-synth-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const small = { n: 4, imageSize: 8, evalN: 2 };

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = path.join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

function flip(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/flip.js'), ...args], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a synthetic set is written only where flip may write', () => {
  it("refuses a folder holding a user's shards and vocab.txt, touching nothing", async () => {
    const dir = path.join(tmp, 'user');
    mkdirSync(path.join(dir, 'eval'), { recursive: true });
    writeFileSync(path.join(dir, 'shard-00000.tar'), 'my shard');
    writeFileSync(path.join(dir, 'vocab.txt'), 'my vocab\n');
    writeFileSync(path.join(dir, 'eval', 'shard-00000.tar'), 'my eval shard');
    const before = snapshot(dir);
    const err = await writeSynthDataset({ out: dir, ...small }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlipError);
    expect((err as Error).message).toBe(`${dir} holds files flip did not write (eval/shard-00000.tar, shard-00000.tar, vocab.txt); ` +
      'a synthetic set is written only into a new or empty folder or over one flip wrote: give another folder (nothing was changed)');
    expect(snapshot(dir)).toEqual(before);
  });

  it('replaces a set it wrote (stale shards of a larger one go), but not once a user file joined it', async () => {
    const dir = path.join(tmp, 'ours');
    await writeSynthDataset({ out: dir, ...small, shards: 3 });
    expect(JSON.parse(readFileSync(path.join(dir, SYNTH_MARKER), 'utf8'))).toEqual({
      kind: 'flip-synth', files: ['shard-00000.tar', 'shard-00001.tar', 'shard-00002.tar', 'eval/shard-00000.tar', 'classes.json', 'vocab.txt', 'info.json'],
    });
    await writeSynthDataset({ out: dir, ...small, shards: 1 });
    expect(readdirSync(dir).sort()).toEqual([SYNTH_MARKER, 'classes.json', 'eval', 'info.json', 'shard-00000.tar', 'vocab.txt']);
    writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    const before = snapshot(dir);
    await expect(writeSynthDataset({ out: dir, ...small, seed: 1 })).rejects.toThrow(/holds files flip did not write \(notes\.txt\)/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('a set written before the marker existed (info.json of kind flip-synth) is still recognised as ours', async () => {
    const dir = path.join(tmp, 'legacy');
    await writeSynthDataset({ out: dir, ...small });
    unlinkSync(path.join(dir, SYNTH_MARKER));
    await writeSynthDataset({ out: dir, ...small, seed: 2 });
    expect(JSON.parse(readFileSync(path.join(dir, 'info.json'), 'utf8')).seed).toBe(2);
  });

  it('flip data synth: --out naming a file, or --image-size 100000, is one line and exit 2 with nothing left behind', () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'x');
    const a = flip('data', 'synth', '--out', file, '--n', '4');
    expect([a.code, a.stdout, a.stderr]).toEqual([2, '', `flip data: ${file} is a file; give a folder (new or empty) for the synthetic set\n`]);
    expect(readFileSync(file, 'utf8')).toBe('x');
    const big = path.join(tmp, 'big');
    const b = flip('data', 'synth', '--out', big, '--n', '4', '--image-size', '100000');
    expect([b.code, b.stdout, b.stderr]).toEqual([2, '', 'flip data: --image-size must be an integer in [8, 4096] (got 100000)\n']);
    expect(existsSync(big)).toBe(false);
    const user = path.join(tmp, 'user');
    const c = flip('data', 'synth', '--out', user, '--n', '4');
    expect([c.code, c.stdout]).toEqual([2, '']);
    expect(c.stderr).toMatch(/^flip data: .*user holds files flip did not write \(.*\); .*\(nothing was changed\)\n$/);
  });
});
