// `flip run` as a user runs it: a child process that gets Ctrl-C (SIGINT) mid-training saves a complete, loadable
// checkpoint and exits with 130; bad input (unknown or mistyped config fields, missing data, a missing plugin) is one
// message on stderr and exit status 2.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flatten } from '../../compiler/trace/index.ts';
import flipTiny from '../../configs/flip_tiny.ts';
import { loadCheckpoint } from '../../train/checkpoint.ts';
import { paramSpecs } from '../../train/step.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Child {
  code: Promise<number | null>;
  out: () => string;
  err: () => string;
  child: ReturnType<typeof spawn>;
}

function flip(args: string[]): Child {
  const child = spawn(process.execPath, [path.join(root, 'bin/flip.js'), 'run', ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, out: () => out, err: () => err, child };
}

// flip_tiny on a 24-sample synthetic set, for (practically) ever; its vocab needs more than the tiny 64 entries.
const tiny = ['--config', path.join(root, 'configs/flip_tiny.ts'), '--config.model.txt.vocabSize=128', '--config.train.samplesPerEpoch=24',
  '--config.train.numEpochs=100000', '--config.train.logEverySteps=1', '--config.train.visEveryEpochs=100000', '--workers', '0', '--fast-compile'];

describe('flip run (CLI)', () => {
  it('on Ctrl-C finishes the step, saves a complete checkpoint and exits 130', async () => {
    const workdir = path.join(tmp, 'interrupted');
    const run = flip([...tiny, '--workdir', workdir]);
    // Interrupt once a few steps are done.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (/^step +3\//m.test(run.out())) {
          clearInterval(timer);
          run.child.kill('SIGINT');
          resolve();
        }
      }, 50);
      void run.code.then((c) => {
        clearInterval(timer);
        reject(new Error(`flip run exited (${c}) before it was interrupted:\n${run.out()}\n${run.err()}`));
      });
    });
    expect(await run.code, run.err()).toBe(130);
    expect(run.err()).toContain('stopping after this step');
    expect(run.out()).toMatch(/checkpoint \(interrupted\): .*checkpoint_\d+\.json/);
    expect(run.out()).toMatch(/resume with: flip run .*--config\.train\.resumeDir=/);

    const ck = loadCheckpoint(workdir);
    expect(ck.meta.step).toBeGreaterThanOrEqual(3);
    expect(ck.meta.position).not.toBeNull();
    const want = flatten(paramSpecs(flipTiny.model));
    for (const group of [ck.state.params, ck.state.mu, ck.state.nu]) {
      expect(Object.keys(group).sort()).toEqual([...want.paths].sort());
      for (const t of Object.values(group)) expect(Array.from(t.data as Float32Array).every(Number.isFinite)).toBe(true);
    }
  });

  it('refuses bad input with one message and exit status 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--config.train.learningRat=1'], /^flip run: unknown config field 'train\.learningRat' \(did you mean 'train\.learningRate'/],
      [['--config.train.batchSize=big'], /^flip run: --config\.train\.batchSize: expected a number, got 'big'$/],
      [['--config.train.data.laionPath=/nonexistent/shards'], /^flip run: training data not found: \/nonexistent\/shards/],
      [['--plugin', '/nonexistent/pjrt_plugin.so', '--workdir', path.join(tmp, 'noplugin')], /^flip run: .*\/nonexistent\/pjrt_plugin\.so/],
      [['--devices', '0'], /^flip run: --devices must be a positive integer, got '0'$/],
    ];
    const runs = cases.map(([args]) => flip(args));
    for (const [i, [args, message]] of cases.entries()) {
      const r = runs[i]!;
      expect(await r.code, `${args.join(' ')}\n${r.err()}`).toBe(2);
      const lines = r.err().trim().split('\n');
      expect(lines[0], args.join(' ')).toMatch(message);
      expect(lines.length, r.err()).toBeLessThanOrEqual(2); // the message, and for argument errors a pointer to --help
      expect(r.err()).not.toMatch(/\n\s+at /); // no stack trace
    }
  });
});
