// Two Ctrl-Cs to `flip run`, 0.1 s apart, while a step runs: the second quits at once with status 130 and the
// documented message, never a segfault (process.exit used to run the PJRT plugin's static destructors under the
// execution still in flight; test/runtime-native/lifecycle.test.ts pins that cause directly). And `npx flip run`:
// SIGINT or SIGTERM sent to the npx (npm exec) process stops training as a Ctrl-C does (npm forwards them to its child;
// the repo's .npmrc makes that child flip itself, not a sh that would keep them).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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

/**
 * `npx flip run` on flip_tiny (batch 4: short steps) from the repo; once step 1 is done, `signal` to the npx process, or
 * to its whole process group (`group`: what a terminal's Ctrl-C does; npm then forwards its copy too).
 */
function npxSignal(workdir: string, signal: 'SIGINT' | 'SIGTERM', group = false): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  const tiny = ['run', '--config', path.join(root, 'configs/flip_tiny.ts'), '--config.model.txt.vocabSize=128', '--config.train.numEpochs=1000',
    '--config.train.logEverySteps=1', '--config.train.visEveryEpochs=1000', '--workers', '0', '--fast-compile', '--workdir', workdir];
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--no-install', 'flip', ...tiny], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
    let out = '', err = '', sent = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (sent || !/^step +1\//m.test(out)) return;
      sent = true;
      if (group) process.kill(-child.pid!, signal);
      else child.kill(signal);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (!sent) reject(new Error(`npx flip run ended (${code ?? sig}) before step 1:\n${out}\n${err}`));
      else resolve({ code, signal: sig, out, err });
    });
  });
}

describe('npx flip run: a signal to the npx process', () => {
  // Three runs at once (most of each is npm's and tsx's start-up and the compile).
  it('SIGINT or SIGTERM to the npx pid, or a Ctrl-C to its process group, stops training after the step, saves a checkpoint and exits 130', async () => {
    const cases = [['SIGINT', false], ['SIGTERM', false], ['SIGINT', true]] as const;
    const runs = await Promise.all(cases.map(([signal, group]) => {
      const workdir = path.join(tmp, `npx-${signal}${group ? '-group' : ''}`);
      return npxSignal(workdir, signal, group).then((r) => ({ ...r, workdir, what: `${signal}${group ? ' to the group' : ''}` }));
    }));
    for (const r of runs) {
      expect([r.code, r.signal], `${r.what}\n${r.out}${r.err}`).toEqual([130, null]);
      expect(r.err, r.what).toContain('flip run: stopping after this step to save a checkpoint');
      expect(r.err, r.what).not.toContain('interrupted again'); // the group's Ctrl-C arrives twice (terminal, npm): one stop
      const step = Number(/^interrupted at step (\d+)$/m.exec(r.out)?.[1]);
      expect(step, r.out).toBeGreaterThan(0);
      expect(r.out).toContain(`checkpoint (interrupted): ${path.join(r.workdir, 'checkpoints', `checkpoint_${String(step).padStart(8, '0')}.json`)}`);
      expect(existsSync(path.join(r.workdir, 'flip.lock'))).toBe(false);
    }
  }, 180_000);
});
