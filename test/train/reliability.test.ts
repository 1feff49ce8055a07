// Issue 16's POOR items of `flip run` / `flip eval`, through the real training program on the CPU plugin:
// errors that a compile used to precede are reported before anything compiles (and leave no events file), one run at a
// time in a workdir (a lock: a live one refuses, a dead one is taken over), a fresh run never appends to another run's
// metrics.jsonl (moved aside; a resume of the same run continues it, every record carries the run's id), a checkpoint
// whose recorded step disagrees with its name or its tensors is refused, names stay right for any step, and `flip eval
// --eval-data` on a synthetic run's checkpoint does not claim to use the synthetic set.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMesh } from '../../compiler/passes/index.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';
import { loadConfigModule } from '../../configs/load.ts';
import type { FlipConfig } from '../../configs/types.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { CheckpointError, findCheckpoint, listCheckpoints, loadCheckpoint, readCheckpointMeta, saveCheckpoint, type HostState } from '../../train/checkpoint.ts';
import { specLeaves } from '../../train/compiled.ts';
import { Rng } from '../../train/data/rng.ts';
import { writeSynthDataset } from '../../train/data/synth.ts';
import { EventWriter } from '../../train/tensorboard.ts';
import { runTraining, type RunOptions } from '../../train/run/index.ts';
import { paramSpecs } from '../../train/step.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-rel-'));
let client: Client | undefined;
const cpu = async () => (client ??= await openClient({ target: 'cpu', devices: 1 }));
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const ds = path.join(tmp, 'ds');
beforeAll(async () => {
  await writeSynthDataset({ out: ds, n: 32, shards: 2, imageSize: 32, evalN: 30, seed: 4 });
});

// flip_tiny on the synthetic shards: 4 steps per virtual epoch, 12 in all.
const BASE = {
  'model.txt.vocabSize': '256', 'train.batchSize': '4', 'train.samplesPerEpoch': '16', 'train.numEpochs': '3', 'train.warmupEpochs': '0.5',
  'train.saveEveryEpochs': '100', 'train.logEverySteps': '1',
};
async function config(overrides: Record<string, string>): Promise<FlipConfig> {
  const c = applyOverrides(await loadConfigModule(path.join(root, 'configs/flip_tiny.ts')), { ...BASE, 'train.data.laionPath': ds, ...overrides }, officialAliases);
  checkConfig(c);
  return c;
}
async function run(o: Partial<RunOptions> & { config: FlipConfig; workdir: string }, lines: string[] = []) {
  return runTraining({ noEval: true, workers: 0, print: (l) => lines.push(l), warn: (l) => lines.push(l), client: await cpu(), fastCompile: true, ...o });
}
const files = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

/** A state of flip_tiny (vocab 256) with seeded random params and zero moments. */
async function tinyState(): Promise<HostState> {
  const cfg = await config({});
  const rng = new Rng(5, 'params');
  const params: HostState['params'] = {};
  const zeros: HostState['params'] = {};
  for (const [p, s] of specLeaves(paramSpecs(cfg.model))) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    params[p] = { dtype: 'f32', shape: [...s.shape], data: Float32Array.from({ length: n }, () => rng.uniform(-0.2, 0.2)) };
    zeros[p] = { dtype: 'f32', shape: [...s.shape], data: new Float32Array(n) };
  }
  return { params, mu: zeros, nu: zeros };
}

describe('errors that used to come after a compile come before it', () => {
  it('no shards, a bad classes.json, --devices / --mesh that do not fit (batch, heads, a scanned tower): one error, no compile, no events file nor metrics.jsonl', async () => {
    const empty = path.join(tmp, 'noshards');
    mkdirSync(empty);
    cpSync(path.join(ds, 'vocab.txt'), path.join(empty, 'vocab.txt'));
    const badEval = path.join(tmp, 'badeval');
    cpSync(path.join(ds, 'eval'), path.join(badEval, 'eval'), { recursive: true });
    writeFileSync(path.join(badEval, 'classes.json'), JSON.stringify({ classes: [] }));
    const cases: Array<[string, Partial<RunOptions> & { config: FlipConfig }, RegExp]> = [
      ['noshards', { config: await config({ 'train.data.laionPath': empty }) }, /^config\.train\.data\.laionPath: no \.tar shards or \.tfrecord files in .*noshards$/],
      ['classes', { config: await config({ 'train.data.evalDataset': badEval }), noEval: false }, /badeval\/classes\.json: needs a non-empty "classes" list$/],
      ['devices', { config: await config({}), devices: 1000 }, /^--devices 1000: the batch size 4 \(config\.train\.batchSize\) does not split over 1000 data-parallel devices: .*--config\.train\.batchSize=1000$/],
      ['mesh3', { config: await config({}), mesh: parseMesh('data=3') }, /^--mesh data=3: the batch size 4 \(config\.train\.batchSize\) does not split over data=3: .*--config\.train\.batchSize=6$/],
      ['mesh2', { config: await config({}), mesh: parseMesh('data=2') }, /^--mesh data=2 needs 2 devices; the cpu client has 1$/],
      ['mesh-devices', { config: await config({}), mesh: parseMesh('data=4'), devices: 2 }, /^--mesh data=4 needs 4 devices but --devices is 2/],
      // flip_tiny: 2 heads, mlpDim 64 per tower.
      ['heads', { config: await config({}), mesh: parseMesh('data=1,model=4') },
        /^--mesh data=1,model=4: model=4 does not divide config\.model\.img\.transformer\.numHeads \(2\), which FLIP's sharding splits over the model axis: use a model axis that divides 2$/],
      ['scan', { config: await config({ 'model.txt.transformer.scanLayers': 'true' }), mesh: parseMesh('data=2') },
        /^config\.model\.txt\.transformer\.scanLayers: the layers' loop runs on one device only, and this run has 2: run it on one device, or set --config\.model\.txt\.transformer\.scanLayers=false$/],
    ];
    for (const [name, o, message] of cases) {
      const workdir = path.join(tmp, `early-${name}`);
      const lines: string[] = [];
      const err = await run({ ...o, workdir }, lines).catch((e: unknown) => e);
      expect((err as Error).message, name).toMatch(message);
      expect(lines.filter((l) => l.startsWith('compile:')), name).toEqual([]);
      expect(files(workdir).filter((f) => f.startsWith('events.out') || f === 'metrics.jsonl' || f === 'flip.lock'), name).toEqual([]);
    }
  });
});

describe('one run per workdir; one run per metrics.jsonl', () => {
  it('a live lock refuses the run: one line, exit 2, nothing written', async () => {
    const workdir = path.join(tmp, 'locked');
    mkdirSync(workdir);
    const lock = JSON.stringify({ pid: process.pid, host: hostname(), started: '2026-01-01T00:00:00.000Z' });
    writeFileSync(path.join(workdir, 'flip.lock'), lock);
    const child = spawn(process.execPath, [path.join(root, 'bin/flip.js'), 'run', '--config', path.join(root, 'configs/flip_tiny.ts'), '--workdir', workdir], { cwd: tmp });
    let out = '', err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, out + err).toBe(2);
    expect(err.trim().split('\n')).toEqual([
      `flip run: ${workdir} is in use by another flip run (pid ${process.pid} on ${hostname()}, started 2026-01-01T00:00:00.000Z; ${path.join(workdir, 'flip.lock')}): wait for it or give this run another --workdir`,
    ]);
    expect(files(workdir)).toEqual(['flip.lock']);
    expect(readFileSync(path.join(workdir, 'flip.lock'), 'utf8')).toBe(lock);
  }, 60_000);

  it("a dead run's lock is taken over with a line; another run's metrics are moved aside; a resume continues this run's", async () => {
    const workdir = path.join(tmp, 'stale');
    mkdirSync(workdir);
    // A run that is gone (a process that has exited) left its lock, and numbers but no checkpoint (it diverged).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(path.join(workdir, 'flip.lock'), JSON.stringify({ pid: Number(dead), host: hostname(), started: 'earlier' }));
    writeFileSync(path.join(workdir, 'metrics.jsonl'), '{"step":1,"time":"earlier","train/loss":"NaN"}\n');
    const old = new EventWriter(workdir);
    old.scalars(1, { 'train/loss': Number.NaN });
    old.close();
    const lines: string[] = [];
    const r = await run({ config: await config({}), workdir, stopAfter: 2 }, lines);
    expect(r.step).toBe(2);
    expect(lines).toContain(`workdir: taking over the lock of a run that is gone (pid ${dead} on ${hostname()}, started earlier)`);
    const moved = lines.find((l) => l.includes('moved to'));
    expect(moved).toMatch(/^workdir: metrics\.jsonl and 1 events file\(s\) of another run \(one that saved no checkpoint here\) moved to .*stale\/previous\/[\dT-]+Z; /);
    const previous = path.join(workdir, 'previous', readdirSync(path.join(workdir, 'previous'))[0]!);
    expect(readFileSync(path.join(previous, 'metrics.jsonl'), 'utf8')).toBe('{"step":1,"time":"earlier","train/loss":"NaN"}\n');
    expect(files(previous)).toEqual([path.basename(old.file), 'metrics.jsonl'].sort());
    expect(files(workdir).filter((f) => f === 'flip.lock')).toEqual([]); // released
    const records = () => readFileSync(path.join(workdir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; run: string });
    const first = records();
    expect(first.map((x) => x.step)).toEqual([1, 2]);
    const id = first[0]!.run;
    expect(id).toMatch(/^\d{4}-\d\d-\d\dT[\d:]+Z-\w+$/);
    expect(first.every((x) => x.run === id)).toBe(true);
    expect(readCheckpointMeta(workdir).meta.run).toBe(id);

    // The same run resumed: appended to, same id; nothing moved.
    const again: string[] = [];
    await run({ config: await config({ 'train.resumeDir': workdir }), workdir, stopAfter: 1 }, again);
    expect(again.filter((l) => l.includes('moved to') || l.includes('lock'))).toEqual([]);
    expect(records().map((x) => [x.step, x.run])).toEqual([[1, id], [2, id], [3, id]]);
    expect(readdirSync(path.join(workdir, 'previous'))).toHaveLength(1);
  }, 120_000);
});

describe('checkpoint steps', () => {
  it('a JSON whose step disagrees with its name or with its tensors is refused with one line naming the file and both numbers', async () => {
    const dir = path.join(tmp, 'edited', 'checkpoints');
    const state = await tinyState();
    const file = saveCheckpoint(dir, state, { step: 8, position: null, samples: 32, config: await config({}) });
    expect(path.basename(file)).toBe('checkpoint_00000008.json');
    const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...json, step: 99999 }));
    expect(() => loadCheckpoint(dir)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(dir)).toThrow(`${file}: its name says step 8 but it records step 99999; was the file edited? (a checkpoint's JSON must stay as flip wrote it)`);
    // Copied under another name: the tensors' own copy of the JSON tells.
    const copy = path.join(dir, 'mine.json');
    writeFileSync(copy, JSON.stringify({ ...json, step: 99999 }));
    expect(() => loadCheckpoint(copy)).toThrow(`${copy}: records step 99999 but its tensors checkpoint_00000008.safetensors were saved at step 8; was the JSON edited?`);
    writeFileSync(file, JSON.stringify({ ...json, step: -1 }));
    expect(() => loadCheckpoint(file)).toThrow(`${file}: "step" is -1, not an integer >= 0; was the file edited?`);
    writeFileSync(file, JSON.stringify(json));
    expect(loadCheckpoint(dir).meta.step).toBe(8);
  });

  it('names stay right past 10^8 steps: ordered by number, the newest found and loaded, the oldest pruned', async () => {
    const dir = path.join(tmp, 'big', 'checkpoints');
    const state = await tinyState();
    const meta = (step: number) => ({ step, position: null, samples: step * 4, config: null });
    for (const step of [99_999_999, 100_000_000, 123_456_789]) saveCheckpoint(dir, state, meta(step));
    expect(listCheckpoints(dir).map((c) => [c.step, path.basename(c.file)])).toEqual([
      [100_000_000, 'checkpoint_100000000.json'], [123_456_789, 'checkpoint_123456789.json'],
    ]);
    expect(files(dir)).not.toContain('checkpoint_99999999.safetensors');
    expect(path.basename(findCheckpoint(dir))).toBe('checkpoint_123456789.json');
    expect(loadCheckpoint(dir).meta.step).toBe(123_456_789);
    expect(() => saveCheckpoint(dir, state, meta(2 ** 53))).toThrow(/not an integer from 0 to 2\^53 - 1/);
  });

  it('a resumed step past the schedule is refused before anything is written', async () => {
    const workdir = path.join(tmp, 'pastend');
    saveCheckpoint(path.join(workdir, 'checkpoints'), await tinyState(), { step: 400, position: null, samples: 1600, config: await config({}) });
    const before = files(path.join(workdir, 'checkpoints'));
    const err = await run({ config: await config({ 'train.resumeDir': workdir }), workdir }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/checkpoint_00000400\.json records step 400, past the end of this run's schedule \(12 steps: 3 virtual epochs of 4\); nothing was written/);
    expect(files(path.join(workdir, 'checkpoints'))).toEqual(before);
    expect(files(workdir)).toEqual(['checkpoints']);
  });
});

describe('flip eval of a synthetic run with --eval-data', () => {
  it('does not print the synthetic-set line: it reads only the vocabulary there', async () => {
    const runDir = path.join(tmp, 'synthrun');
    const cfg = await config({ 'train.data.laionPath': '' });
    await writeSynthDataset({ out: path.join(runDir, 'data'), n: 16, imageSize: 32, seed: cfg.train.seed });
    const ck = saveCheckpoint(path.join(runDir, 'checkpoints'), await tinyState(), { step: 3, position: null, samples: 12, config: cfg });
    const evalCfg = await config({ 'train.data.laionPath': '', 'train.evalOnly': 'true', 'train.pretrainDir': ck, 'train.data.evalDataset': ds });
    const lines: string[] = [];
    const r = await run({ config: evalCfg, workdir: runDir, templates: ['a photo of a {}.'] }, lines);
    expect(r.zeroShot?.images).toBe(30);
    expect(lines.filter((l) => /synthetic set in/.test(l))).toEqual([]);
    expect(lines).toContain(`data: the tokenizer's vocabulary from ${path.join(runDir, 'data', 'vocab.txt')} (the synthetic set the checkpoint was trained on)`);
    expect(lines.find((l) => l.startsWith('flip eval: '))).toMatch(/eval set: shards in .*ds\/eval/);
  }, 120_000);
});
