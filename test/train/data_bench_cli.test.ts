// `flip data bench` reads a shard folder's vocab.txt, else the shipped BERT uncased vocabulary (as flip run does).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-data-bench-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const flip = (...args: string[]) => execFileSync(process.execPath, [path.join(root, 'bin/flip.js'), 'data', ...args], { encoding: 'utf8' });

describe('flip data bench', () => {
  it('uses vocab.txt beside the shards, else says it uses the shipped vocabulary', () => {
    const d = path.join(tmp, 'd');
    flip('synth', '--out', d, '--n', '32');
    const withVocab = flip('bench', '--data', d, '--batches', '1', '--batch-size', '8');
    expect(withVocab).toMatch(/images\/s/);
    expect(withVocab).not.toMatch(/shipped BERT/);
    unlinkSync(path.join(d, 'vocab.txt'));
    const without = flip('bench', '--data', d, '--batches', '1', '--batch-size', '8');
    expect(without).toMatch(/no vocab\.txt in .*: tokenizing with the shipped BERT uncased vocabulary/);
    expect(without).toMatch(/images\/s/);
  }, 60_000);
});
