// Two Ctrl-Cs to `flip run`, 0.1 s apart, while a step runs: the second quits at once with status 130 and the
// documented message, never a segfault (process.exit used to run the PJRT plugin's static destructors under the
// execution still in flight; test/runtime-native/lifecycle.test.ts pins that cause directly).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-sigint-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// flip_tiny with batch 512: a step long enough (about a second here) for the second Ctrl-C to land inside one.
const args = ['run', '--config', path.join(root, 'configs/flip_tiny.ts'), '--config.model.txt.vocabSize=128', '--config.train.batchSize=512',
  '--config.train.samplesPerEpoch=1024', '--config.train.numEpochs=1000', '--config.train.logEverySteps=1', '--config.train.visEveryEpochs=1000',
  '--workers', '0', '--fast-compile'];

function twoCtrlCs(workdir: string): Promise<{ code: number | null; signal: string | null; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/flip.js'), ...args, '--workdir', workdir], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', sent = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (sent || !/^step +1\//m.test(out)) return;
      sent = true;
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGINT'), 100);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (!sent) reject(new Error(`flip run ended (${code ?? signal}) before step 1:\n${out}\n${err}`));
      else resolve({ code, signal, err });
    });
  });
}

describe('flip run: a second Ctrl-C', () => {
  // One real run (about a minute here, most of it the compile); the cause is repeated cheaply in lifecycle.test.ts.
  it('quits at once with status 130 and no crash', async () => {
    const r = await twoCtrlCs(path.join(tmp, 'run'));
    expect([r.code, r.signal], r.err).toEqual([130, null]);
    expect(r.err).toContain('flip run: stopping after this step to save a checkpoint (Ctrl-C again to quit now)');
    expect(r.err).toContain('flip run: interrupted again; quitting without saving (the last checkpoint stays as it was)');
    expect(r.err).not.toMatch(/Segmentation|Error|at .*\.ts:\d+/);
  }, 180_000);
});
