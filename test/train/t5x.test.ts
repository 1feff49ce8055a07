// t5x checkpoints in flip (train/t5x_checkpoint.ts): the flax + tensorstore fixture (test/fixtures/t5x) maps onto
// flip_tiny's params, moments and step; flip → t5x → flip is bit-exact and what flip writes is what Python read
// (flip_export.check.json, recorded by make_fixtures.py check); a checkpoint of another shape is one line; `flip
// eval` and --resumeDir on the t5x checkpoint match the same state in flip's own checkpoint.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlipConfig } from '../../configs/types.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { sincos2dTable } from '../../dsl/nn/posembed.ts';
import { readLeaf, readT5xCheckpoint, ZarrLeaf } from '../../io/t5x.ts';
import { FlaxArray } from '../../io/msgpack.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { readAnyCheckpointMeta, saveCheckpoint } from '../../train/checkpoint.ts';
import { writeSynthDataset } from '../../train/data/synth.ts';
import { runTraining } from '../../train/run/index.ts';
import { exportT5x, loadT5xCheckpoint, officialShape } from '../../train/t5x_checkpoint.ts';
import { createHash } from 'node:crypto';
import { bf16ToF32 } from '../../compiler/ir/dtype.ts';
import type { TensorData } from '../../io/safetensors.ts';

/** sha256 of the values as little-endian f32 (floats) or i32 (ints), as make_fixtures.py's sha(). */
function sha(t: TensorData): string {
  const a = t.dtype === 'f32' ? (t.data as Float32Array) : t.dtype === 'bf16' ? Float32Array.from(t.data as Uint16Array, bf16ToF32) : Int32Array.from(t.data as Int32Array);
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

const root = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/t5x');
const fixture = path.join(fixtures, 'python');
const values = JSON.parse(readFileSync(path.join(fixtures, 'python.values.json'), 'utf8')) as { leaves: Record<string, { dtype: string; shape: number[]; sha256: string }> };
const checked = JSON.parse(readFileSync(path.join(fixtures, 'flip_export.check.json'), 'utf8')) as typeof values & { version: number };
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-t5x-'));
let client: Client | undefined;
const cpu = async () => (client ??= await openClient({ target: 'cpu', devices: 1 }));
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const ds = path.join(tmp, 'ds');
let cfg: FlipConfig;
beforeAll(async () => {
  await writeSynthDataset({ out: ds, n: 8, imageSize: 32, evalN: 30, seed: 3 });
  cfg = applyOverrides(await loadConfigModule(path.join(root, 'configs/flip_tiny.ts')), {
    'model.txt.vocabSize': '256', 'train.data.laionPath': ds, 'train.batchSize': '4', 'train.samplesPerEpoch': '24', 'train.numEpochs': '2',
    'train.warmupEpochs': '0.5', 'train.saveEveryEpochs': '10', 'train.logEverySteps': '100',
  }, officialAliases);
  checkConfig(cfg);
});

const official = (group: string, p: string) => `${group === 'params' ? 'target' : `state/param_states/0/${group}`}/${p.split('.').join('/')}`;

describe('t5x checkpoints ↔ flip', () => {
  it('loads the Python-written checkpoint into flip_tiny: params, moments (bfloat16 mu widened exactly) and step', () => {
    const ck = loadT5xCheckpoint(fixture, cfg.model, { moments: true, pretrain: false, batchSize: 4 });
    expect(ck.meta).toMatchObject({ step: 6, samples: 24, position: null, origin: 't5x' });
    expect(ck.file).toBe(path.join(fixture, 'checkpoint_6'));
    for (const group of ['params', 'mu', 'nu'] as const) {
      expect(Object.keys(ck.state[group]).length).toBe(77);
      for (const [p, t] of Object.entries(ck.state[group])) {
        const want = values.leaves[official(group, p)]!;
        expect(t.dtype).toBe('f32');
        expect(officialShape(p, t.shape), p).toEqual(want.shape);
        expect(sha(t), `${group} ${p}`).toBe(want.sha256);
      }
    }
    expect(ck.state.params['img_encoder.Transformer.encoderblock_00.MultiHeadDotProductAttention_0.query.kernel']!.shape).toEqual([32, 2, 16]);
    expect(ck.state.params.logit_scale!.shape).toEqual([]);
  });

  it('a checkpoint folder renamed to another step: flip goes by its state/step, as t5x does, and says so', () => {
    const renamed = path.join(tmp, 'renamed', 'checkpoint_9');
    cpSync(path.join(fixture, 'checkpoint_6'), renamed, { recursive: true });
    expect(readT5xCheckpoint(renamed)).toMatchObject({ dirStep: 9, stateStep: 6 });
    const ck = loadT5xCheckpoint(path.dirname(renamed), cfg.model, { moments: true, pretrain: false, batchSize: 4 });
    expect(ck.meta).toMatchObject({ step: 6, samples: 24 });
    expect(ck.notes ?? []).toContain('t5x checkpoint: its folder checkpoint_9 says step 9 but its state/step is 6; flip goes by state/step, as t5x does');
    expect(readAnyCheckpointMeta(renamed).meta.step).toBe(6);
    expect(loadT5xCheckpoint(fixture, cfg.model, { moments: true, pretrain: false }).notes?.some((n) => n.includes('says step'))).toBe(false);
  });

  it('flip → t5x → flip is bit-exact, and what flip writes is what flax + tensorstore read (flip_export.check.json)', () => {
    const a = loadT5xCheckpoint(fixture, cfg.model, { moments: true, pretrain: false });
    const out = exportT5x(a.state, a.meta.step, path.join(tmp, 'export'), { excludeWd: true });
    const b = loadT5xCheckpoint(out, cfg.model, { moments: true, pretrain: false });
    expect(b.meta.step).toBe(6);
    for (const group of ['params', 'mu', 'nu'] as const) {
      for (const [p, t] of Object.entries(a.state[group])) expect(Buffer.from(b.state[group][p]!.data.buffer).equals(Buffer.from(t.data.buffer)), p).toBe(true);
    }
    // The same leaves, dtypes, shapes and values as Python read from flip's export of this state.
    expect(checked.version).toBe(3);
    const ck = readT5xCheckpoint(out);
    const got: Record<string, { dtype: string; shape: number[]; sha256: string }> = {};
    const walk = (v: unknown, at: string[]) => {
      if (v instanceof FlaxArray || v instanceof ZarrLeaf) {
        const t = readLeaf(v)!;
        got[at.join('/')] = { dtype: t.dtype === 'f32' ? 'float32' : 'int32', shape: t.shape, sha256: sha(t) };
      } else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
    };
    walk(ck.optimizer, []);
    expect(got).toEqual(Object.fromEntries(Object.entries(checked.leaves).map(([k, l]) => [k, { dtype: l.dtype, shape: l.shape, sha256: l.sha256 }])));
    expect(() => exportT5x(a.state, 6, path.join(tmp, 'export'), { excludeWd: true })).toThrow(/checkpoint_6 already exists/);
  });

  it('a checkpoint of another shape: one line naming the first param that differs, both shapes (official layout)', () => {
    const other = applyOverrides(cfg, { 'model.txt.vocabSize': '128' }, officialAliases);
    expect(() => loadT5xCheckpoint(fixture, other.model, { moments: false, pretrain: false, configName: 'flip_tiny' })).toThrow(
      /checkpoint_6 does not fit this config's model \('flip_tiny'\): 'target\/txt_encoder\/token_embedding\/embedding' is bfloat16\[256, 32\] in the checkpoint but float32\[128, 32\] in this config's model\. A t5x checkpoint carries no config/,
    );
  });

  it('pretrainDir: the image position embedding of another size is dropped for the model\'s own (the official rule); the rest loads', () => {
    const big = applyOverrides(cfg, { 'model.img.imageSize': '48' }, officialAliases);
    expect(() => loadT5xCheckpoint(fixture, big.model, { moments: false, pretrain: false })).toThrow(/'target\/img_encoder\/posembed_encoder\/pos_embedding' is float32\[1, 17, 32\] in the checkpoint but float32\[1, 37, 32\]/);
    const ck = loadT5xCheckpoint(fixture, big.model, { moments: false, pretrain: true });
    expect(ck.notes![0]).toMatch(/^pretrain: the checkpoint's image position embedding float32\[1, 17, 32\] does not fit this model's float32\[1, 37, 32\]: using the model's own/);
    expect(ck.state.params['img_encoder.posembed_encoder.pos_embedding']!.data).toEqual(sincos2dTable(32, 6, 6, true));
    expect(sha(ck.state.params['img_encoder.cls']!)).toBe(values.leaves['target/img_encoder/cls']!.sha256);
  });
});

function flip(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin/flip.js'), ...args], { cwd: tmp });
  let out = '', err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

describe('flip eval / run / export on t5x checkpoints', () => {
  const own = path.join(tmp, 'own'); // the fixture's state as flip's own checkpoint (no data position, as t5x keeps none)
  beforeAll(() => {
    const ck = loadT5xCheckpoint(fixture, cfg.model, { moments: true, pretrain: false, batchSize: 4 });
    saveCheckpoint(path.join(own, 'checkpoints'), ck.state, { step: 6, position: null, samples: 24, config: cfg });
  });

  it('--resumeDir=<t5x dir> continues with the losses of flip resuming its own checkpoint of the same state', async () => {
    const common = { noEval: true, workers: 0, print: () => {}, client: await cpu(), fastCompile: true, stopAfter: 3 };
    const lines: string[] = [];
    const a = await runTraining({ config: applyOverrides(cfg, { 'train.resumeDir': fixture }, officialAliases), workdir: path.join(tmp, 'from-t5x'), ...common, print: (l) => lines.push(l) });
    const b = await runTraining({ config: applyOverrides(cfg, { 'train.resumeDir': own }, officialAliases), workdir: path.join(tmp, 'from-own'), ...common });
    expect(a).toMatchObject({ step: 9, stepsRun: 3 });
    expect(b).toMatchObject({ step: 9, stepsRun: 3 });
    expect(a.losses).toEqual(b.losses);
    expect(lines).toContain('t5x checkpoint: no data position in it; the data stream starts from the beginning');
    expect(lines.some((l) => l.startsWith(`resumed from ${path.join(fixture, 'checkpoint_6')}: step 6, 24 samples seen`))).toBe(true);
  });

  it('flip eval <t5x dir> gives the zero-shot top-1 of the same params in flip\'s own checkpoint; export refuses to overwrite; bad inputs exit 2', async () => {
    const evalArgs = ['--config', path.join(root, 'configs/flip_tiny.ts'), '--config.model.txt.vocabSize=256', `--config.train.data.laionPath=${ds}`, '--eval-data', ds, '--templates', 'simple', '--workers', '0', '--fast-compile'];
    const [t, o] = [await flip(['eval', fixture, ...evalArgs]), await flip(['eval', own, ...evalArgs])];
    expect(t.code, t.err).toBe(0);
    expect(o.code, o.err).toBe(0);
    const top1 = (s: string) => /zero-shot top-1 (\d+\.\d)% \(top-5 (\d+\.\d)%\)/.exec(s)?.slice(1);
    expect(top1(t.out)).toBeDefined();
    expect(top1(t.out)).toEqual(top1(o.out));

    const out = path.join(tmp, 'cli-export');
    const e = await flip(['export', own, '--format', 't5x', out]);
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/^wrote .*checkpoint_6: step 6, 234 arrays \(t5x/);
    const again = await flip(['export', own, '--format', 't5x', out]);
    expect(again.code).toBe(2);
    expect(again.err.trim().split('\n')).toHaveLength(1);
    expect(again.err).toMatch(/checkpoint_6 already exists; flip does not overwrite/);
    const st = await flip(['export', own, '--format', 'safetensors', path.join(tmp, 'official.safetensors')]);
    expect(st.code, st.err).toBe(0);

    // Damaged t5x checkpoints: one line, exit 2, nothing written.
    const bad = path.join(tmp, 'bad', 'checkpoint_6');
    cpSync(path.join(fixture, 'checkpoint_6'), bad, { recursive: true });
    rmSync(path.join(bad, 'target.txt_encoder.token_embedding.embedding', '2.0'));
    const wd = path.join(tmp, 'bad-run');
    const r = await flip(['run', '--config', path.join(root, 'configs/flip_tiny.ts'), '--config.model.txt.vocabSize=256', `--config.train.resumeDir=${bad}`, '--workdir', wd]);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/chunk '2\.0' is missing/);
    expect(existsSync(wd)).toBe(false);
    expect(readdirSync(path.dirname(bad))).toEqual(['checkpoint_6']);
  });
});
