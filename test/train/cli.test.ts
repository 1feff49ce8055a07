// `flip run` as a user runs it: a child process that gets Ctrl-C (SIGINT) mid-training saves a complete, loadable
// checkpoint and exits with 130; killed (SIGINT, then SIGKILL) and resumed, it ends where an uninterrupted run does
// (same data order, same PRNG, same params); a diverging loss stops it with exit status 2 and the last good
// checkpoint kept; bad input (unknown or mistyped config fields, missing data, an unreadable checkpoint, a missing
// plugin) is one message on stderr and exit status 2.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flatten } from '../../compiler/trace/index.ts';
import flipTiny from '../../configs/flip_tiny.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { listCheckpoints, loadCheckpoint } from '../../train/checkpoint.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { runTraining } from '../../train/run/index.ts';
import { paramSpecs } from '../../train/step.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-cli-'));
let client: Client | undefined;
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

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

/** Send `signal` as soon as stdout satisfies `when` (checked on every chunk); fails if the run ends first. */
function signalWhen(run: Child, when: (out: string) => boolean, signal: NodeJS.Signals): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      if (!when(run.out())) return;
      run.child.stdout!.off('data', check);
      run.child.kill(signal);
      resolve();
    };
    run.child.stdout!.on('data', check);
    void run.code.then((c) => reject(new Error(`flip run exited (${c}) before ${signal}:\n${run.out()}\n${run.err()}`)));
  });
}

const stepsIn = (out: string) => [...out.matchAll(/^step +(\d+)\//gm)].map((m) => Number(m[1]));

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

  it('killed at step k (SIGINT, then SIGKILL) and resumed, reaches the uninterrupted run\'s losses and params at step 2k; a diverging loss then exits 2 keeping the last good checkpoint', async () => {
    // A schedule long enough to be stopped anywhere: 10 steps per virtual epoch, a checkpoint at each.
    const overrides = {
      'model.txt.vocabSize': '128', 'train.samplesPerEpoch': '40', 'train.numEpochs': '1000', 'train.saveEveryEpochs': '1',
      'train.logEverySteps': '1', 'train.visEveryEpochs': '100000',
    };
    const args = ['--config', path.join(root, 'configs/flip_tiny.ts'), ...Object.entries(overrides).map(([k, v]) => `--config.${k}=${v}`), '--fast-compile'];
    const workdir = path.join(tmp, 'killed');
    // 1. Ctrl-C once it is a few steps in: it saves there (k1) and exits 130.
    const a = flip([...args, '--workdir', workdir, '--workers', '0']);
    await signalWhen(a, (out) => stepsIn(out).some((n) => n >= 3), 'SIGINT');
    expect(await a.code, a.err()).toBe(130);
    const k1 = listCheckpoints(path.join(workdir, 'checkpoints')).at(-1)!.step;
    // 2. Resumed (decoding in a worker this time), then SIGKILLed a step after its next periodic checkpoint: no save.
    const b = flip([...args, '--workdir', workdir, `--config.train.resumeDir=${workdir}`]);
    await signalWhen(b, (out) => /^checkpoint \(epoch \d+\)/m.test(out) && stepsIn(out.slice(out.search(/^checkpoint \(epoch/m))).length > 0, 'SIGKILL');
    await b.code;
    expect(b.child.signalCode).toBe('SIGKILL');
    expect(b.out()).toContain(`resumed from ${path.join(workdir, 'checkpoints', `checkpoint_${String(k1).padStart(8, '0')}.json`)}: step ${k1}`);
    const saved = listCheckpoints(path.join(workdir, 'checkpoints')).at(-1)!.step;
    expect(saved).toBeGreaterThan(k1);
    // k: where it was killed (the last step it printed; on a slow machine the kill may land after a later save).
    const k = Math.max(saved, ...stepsIn(b.out()));

    // 3. Resumed again (in-process, the same code) up to step 2k, against one uninterrupted run of 2k steps.
    client ??= await openClient({ target: 'cpu', devices: 1 });
    const cfg = async (extra: Record<string, string>) => {
      const c = applyOverrides(await loadConfigModule(path.join(root, 'configs/flip_tiny.ts')), { ...overrides, ...extra }, officialAliases);
      checkConfig(c);
      return c;
    };
    const common = { noEval: true, workers: 0, print: () => {}, client, fastCompile: true };
    const resumed = await runTraining({ config: await cfg({ 'train.resumeDir': workdir }), workdir, ...common, stopAfter: 2 * k - saved });
    expect(resumed).toMatchObject({ step: 2 * k, stepsRun: 2 * k - saved });
    const straightDir = path.join(tmp, 'straight');
    const straight = await runTraining({ config: await cfg({}), workdir: straightDir, ...common, stopAfter: 2 * k });
    expect(straight.step).toBe(2 * k);
    // Every loss logged by the three pieces (the killed run's steps after its checkpoint included) is the straight run's.
    const logged = readFileSync(path.join(workdir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; 'train/loss'?: number });
    const losses = logged.filter((r) => r['train/loss'] !== undefined);
    expect(new Set(losses.map((r) => r.step)).size).toBe(2 * k);
    expect(losses.length).toBeGreaterThanOrEqual(2 * k); // more when the SIGKILLed run logged a step after its checkpoint
    for (const r of losses) expect(r['train/loss'], `step ${r.step}`).toBeCloseTo(straight.losses[r.step - 1]!, 4);
    const x = loadCheckpoint(straightDir), y = loadCheckpoint(workdir);
    expect(y.meta.step).toBe(2 * k);
    expect(y.meta.position).toEqual(x.meta.position);
    for (const group of ['params', 'mu', 'nu'] as const) {
      for (const [name, t] of Object.entries(x.state[group])) {
        const p = t.data as Float32Array, q = y.state[group][name]!.data as Float32Array;
        let worst = 0;
        for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!) / (1e-6 + Math.abs(p[i]!)));
        expect(worst, `${group}.${name}`).toBeLessThan(1e-4);
      }
    }

    // 4. Resumed with a learning rate that blows up: one message naming the step and the metric, exit 2, checkpoints as they were.
    const ckDir = path.join(workdir, 'checkpoints');
    const hash = () => Object.fromEntries(readdirSync(ckDir).map((f) => [f, createHash('sha256').update(readFileSync(path.join(ckDir, f))).digest('hex')]));
    const before = hash();
    const d = flip([...args, '--workdir', workdir, `--config.train.resumeDir=${workdir}`, '--config.learning_rate=1e30', '--config.train.warmupEpochs=0',
      '--config.train.saveEveryEpochs=1000', '--workers', '0']);
    expect(await d.code, d.out() + d.err()).toBe(2);
    const lines = d.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^flip run: train/(loss|grad_norm|tau) is (NaN|-?Infinity) at step ${2 * k + 2} \\(lr [^)]+\\): training stopped, the model diverged; ` +
      `the last good checkpoint is .*checkpoint_${String(2 * k).padStart(8, '0')}\\.json \\(step ${2 * k}\\), left as it was`));
    expect(hash()).toEqual(before);
  });

  it('refuses bad input with one message and exit status 2', async () => {
    const garbage = path.join(tmp, 'garbage');
    mkdirSync(path.join(garbage, 'checkpoints'), { recursive: true });
    writeFileSync(path.join(garbage, 'checkpoints', 'checkpoint_00000001.json'), 'not json');
    const cases: [string[], RegExp][] = [
      [[`--config.train.resumeDir=${garbage}`], /^flip run: unreadable checkpoint .*garbage\/checkpoints\/checkpoint_00000001\.json \(not JSON: /],
      [['--config.train.learningRat=1'], /^flip run: unknown config field 'train\.learningRat' \(did you mean 'train\.learningRate'/],
      [['--config.train.batchSize=big'], /^flip run: --config\.train\.batchSize: expected a number, got 'big'$/],
      [['--config.train.data.laionPath=/nonexistent/shards'], /^flip run: training data not found: \/nonexistent\/shards/],
      [['--plugin', '/nonexistent/pjrt_plugin.so', '--workdir', path.join(tmp, 'noplugin')], /^flip run: .*\/nonexistent\/pjrt_plugin\.so/],
      [['--devices', '0'], /^flip run: --devices must be a positive integer, got '0'$/],
    ];
    // Each in a workdir of its own: started together in one folder, one could find another's flip.lock just created.
    const runs = cases.map(([args], i) => flip(args.includes('--workdir') ? args : [...args, '--workdir', path.join(tmp, `bad-input-${i}`)]));
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
