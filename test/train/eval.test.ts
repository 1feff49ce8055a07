// Zero-shot eval of a checkpoint (config.train.evalOnly, `flip eval`) on an image folder (`class_name/*.jpg`) and on
// labelled shards: the same images and prompts give the same accuracy either way; damaged images are skipped, counted
// and warned about once; nothing is written.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlipConfig } from '../../configs/types.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { readAnyCheckpointMeta, readCheckpointMeta, saveCheckpoint, type HostState } from '../../train/checkpoint.ts';
import { mesh } from '../../compiler/passes/index.ts';
import { processHolding, writeCheckpointIndex, writeProcessPieces, type ArrayLayout } from '../../train/multiprocess/index.ts';
import { exportCheckpoint } from '../../train/t5x_checkpoint.ts';
import { readFileSync } from 'node:fs';
import { specLeaves } from '../../train/compiled.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';
import { imageFolderClasses, isImageFolder, scanImageFolder } from '../../train/data/imagefolder.ts';
import { openEvalLoader, openImageFolderLoader } from '../../train/data/loader.ts';
import { Rng } from '../../train/data/rng.ts';
import { CLASSES, writeSynthDataset } from '../../train/data/synth.ts';
import { TarReader } from '../../train/data/tar.ts';
import { CLIP_IMAGENET_TEMPLATES, resolveTemplates } from '../../train/data/templates.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { resolveEvalConfig } from '../../configs/eval.ts';
import { runTraining } from '../../train/run/index.ts';
import { paramSpecs } from '../../train/step.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-eval-'));
let client: Client | undefined;
const cpu = async () => (client ??= await openClient({ target: 'cpu', devices: 1 }));
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const ds = path.join(tmp, 'ds'); // synthetic shards: training data (for vocab.txt) and a 30-image labelled eval split
const folder = path.join(tmp, 'folder'); // the same 30 eval images as class_name/*.jpg
const run = path.join(tmp, 'run'); // a run folder with one checkpoint (step 7)
const perProcessRun = path.join(tmp, 'run-2p'); // the same checkpoint as a run of two processes writes it
const TEMPLATES = ['a photo of a {}.', 'a {} on a plain background.'];

/** `flip eval WHERE` on the image folder (simple templates, no worker threads, fast compile), as a user runs it. */
async function flipEval(where: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin/flip.js'), 'eval', where, '--eval-data', folder, '--templates', 'simple', '--workers', '0', '--fast-compile'], { cwd: tmp });
  let out = '', err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, out, err };
}
let cfg: FlipConfig;

beforeAll(async () => {
  await writeSynthDataset({ out: ds, n: 8, imageSize: 32, evalN: 30, seed: 3 });
  // The eval split as an image folder: red_circle/eval000000000.jpg, ...; plus what a real folder has lying around.
  const tar = await TarReader.open(path.join(ds, 'eval', 'shard-00000.tar'));
  const jpgs = new Map<string, Buffer>();
  for (let h = await tar.next(); h; h = await tar.next()) {
    const body = await tar.body();
    const [key, ext] = h.name.split('.') as [string, string];
    if (ext === 'jpg') jpgs.set(key, body);
    if (ext === 'cls') {
      const dir = path.join(folder, CLASSES[Number(body.toString())]!.replace(/ /g, '_'));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${key}.jpg`), jpgs.get(key)!);
    }
  }
  await tar.close();
  writeFileSync(path.join(folder, 'red_circle', 'broken.jpg'), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(300, 9)]));
  writeFileSync(path.join(folder, 'red_circle', 'notes.txt'), 'not an image');
  mkdirSync(path.join(folder, 'empty_class'));

  // A checkpoint of flip_tiny (vocab for the synthetic captions) with seeded random params.
  cfg = applyOverrides(await loadConfigModule(path.join(root, 'configs/flip_tiny.ts')), { 'model.txt.vocabSize': '256', 'train.data.laionPath': ds }, officialAliases);
  checkConfig(cfg);
  const rng = new Rng(5, 'params');
  const params: HostState['params'] = {};
  const zeros: HostState['params'] = {};
  for (const [p, s] of specLeaves(paramSpecs(cfg.model))) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    params[p] = { dtype: 'f32', shape: [...s.shape], data: Float32Array.from({ length: n }, () => rng.uniform(-0.2, 0.2)) };
    zeros[p] = { dtype: 'f32', shape: [...s.shape], data: new Float32Array(n) };
  }
  saveCheckpoint(path.join(run, 'checkpoints'), { params, mu: zeros, nu: zeros }, { step: 7, position: null, samples: 28, config: cfg });
  // The same state as two processes of a data=2 run save it (train/multiprocess/: pieces per process, then the index).
  const arrays: ArrayLayout[] = [];
  const full: Record<string, HostState['params'][string]> = {};
  for (const [prefix, map] of [['params', params], ['opt.mu', zeros], ['opt.nu', zeros]] as const) {
    for (const [p, t] of Object.entries(map)) {
      arrays.push({ name: `${prefix}.${p}`, dtype: 'f32', shape: [...t.shape], spec: t.shape.map(() => []) });
      full[`${prefix}.${p}`] = t;
    }
  }
  const m = mesh({ data: 2 });
  for (const pi of [0, 1]) {
    const held = processHolding(m, 2, pi, arrays);
    const pieces = arrays.flatMap((a) => held[a.name]!.filter((b) => b.writes).map((b) => ({ name: a.name, start: b.start, data: full[a.name]! })));
    writeProcessPieces(path.join(perProcessRun, 'checkpoints'), 7, pi, 2, pieces, JSON.stringify({ position: null }));
  }
  writeCheckpointIndex(path.join(perProcessRun, 'checkpoints'), 7, 2, m, arrays, { step: 7, samples: 28, config: cfg });
});

describe('image folder eval sets', () => {
  it('classes are the sorted class folders with images; names from the folder names or classes.json; CLIP templates by default', async () => {
    expect(await isImageFolder(folder)).toBe(true);
    expect(await isImageFolder(ds)).toBe(false); // shards (and an eval/ folder of shards) are not an image folder
    const f = await scanImageFolder(folder);
    expect(f.folders).toEqual([...CLASSES].map((c) => c.replace(/ /g, '_')).sort()); // empty_class is not a class
    expect(f.files).toHaveLength(31);
    expect(f.files.filter((x) => x.label === f.folders.indexOf('red_circle')).map((x) => path.basename(x.file))).toEqual(['broken.jpg', 'eval000000000.jpg']);
    const c = await imageFolderClasses(f);
    expect(c.classes[0]).toBe('blue circle');
    expect(c.templates).toEqual(CLIP_IMAGENET_TEMPLATES);
    expect(new Set(CLIP_IMAGENET_TEMPLATES).size).toBe(80);
    expect(c.prompts[0]![0]).toBe('a bad photo of a blue circle.');
    expect((await imageFolderClasses(f, TEMPLATES)).prompts[1]).toEqual(['a photo of a blue cross.', 'a blue cross on a plain background.']);

    const named = path.join(tmp, 'named');
    mkdirSync(path.join(named, 'n01'), { recursive: true });
    mkdirSync(path.join(named, 'n02'), { recursive: true });
    writeFileSync(path.join(named, 'n01', 'a.jpg'), 'x');
    writeFileSync(path.join(named, 'n02', 'b.png'), 'x');
    writeFileSync(path.join(named, 'classes.json'), JSON.stringify({ classes: { n02: 'goldfish' }, templates: ['itap of a {}.'] }));
    expect(await imageFolderClasses(await scanImageFolder(named))).toMatchObject({ classes: ['n01', 'goldfish'], prompts: [['itap of a n01.'], ['itap of a goldfish.']] });
    writeFileSync(path.join(named, 'classes.json'), JSON.stringify({ classes: ['tench'] }));
    await expect(imageFolderClasses(await scanImageFolder(named))).rejects.toThrow(/1 class names for 2 class folders/);
    await expect(scanImageFolder(path.join(ds, 'eval'))).rejects.toThrow(/no class folders with images/);

    expect(resolveTemplates('clip-small')).toHaveLength(7);
    const file = path.join(tmp, 'templates.txt');
    writeFileSync(file, '# mine\na photo of a {}.\n\nart of the {}.\n');
    expect(resolveTemplates(file)).toEqual(['a photo of a {}.', 'art of the {}.']);
    writeFileSync(file, 'no slot here\n');
    expect(() => resolveTemplates(file)).toThrow(/has no '\{\}'/);
  });

  it('the folder loader gives the shards\' images, centre-cropped alike, each labelled with its own class', async () => {
    const f = await scanImageFolder(folder);
    const names = (await imageFolderClasses(f)).classes;
    const seen = new Map<string, { image: Float32Array; cls: string }>();
    const opts = { batchSize: 4, imageSize: 32, vocab: path.join(ds, 'vocab.txt'), maxLen: 8, workers: 0, onWarning: () => {} };
    const fromShards = await openEvalLoader({ ...opts, data: path.join(ds, 'eval') });
    for await (const b of fromShards) {
      for (let i = 0; i < b.count; i++) seen.set(b.keys[i]!, { image: b.image.slice(i * 32 * 32 * 3, (i + 1) * 32 * 32 * 3), cls: CLASSES[b.label[i]!]! });
    }
    const fromFolder = await openImageFolderLoader(f, opts);
    let n = 0;
    for await (const b of fromFolder) {
      for (let i = 0; i < b.count; i++, n++) {
        const want = seen.get(path.basename(b.keys[i]!))!;
        expect(names[b.label[i]!], b.keys[i]).toBe(want.cls);
        expect(b.image.slice(i * 32 * 32 * 3, (i + 1) * 32 * 32 * 3)).toEqual(want.image);
      }
    }
    expect(n).toBe(30);
    expect(fromFolder.stats.skipped['corrupt-image']).toBe(1);
  });

  it('evaluates a checkpoint (eval_only) on the folder and on the shards of the same images alike; skips the broken image once; writes nothing', async () => {
    const evalOnce = async (evalDataset: string) => {
      const c = applyOverrides(cfg, { eval_only: 'true', 'train.resumeDir': run, 'train.data.evalDataset': evalDataset }, officialAliases);
      checkConfig(c);
      const lines: string[] = [], warnings: string[] = [];
      const workdir = path.join(tmp, `unused-${path.basename(evalDataset)}`);
      const r = await runTraining({ config: c, workdir, workers: 0, print: (l) => lines.push(l), warn: (l) => warnings.push(l), client: await cpu(), fastCompile: true, templates: TEMPLATES });
      expect(existsSync(workdir)).toBe(false);
      return { r, lines, warnings };
    };
    const a = await evalOnce(folder);
    const b = await evalOnce(ds);
    expect(a.r).toMatchObject({ step: 7, stepsRun: 0, zeroShot: { images: 30, classes: 30 } });
    expect(a.r.zeroShot!.chance).toBeCloseTo(1 / 30);
    expect(a.r.zeroShot!.top1).toBe(b.r.zeroShot!.top1);
    expect(a.r.zeroShot!.top5).toBe(b.r.zeroShot!.top5);
    expect(a.lines.find((l) => l.startsWith('flip eval: '))).toMatch(/checkpoint_00000007\.json \(step 7\).*eval set: image folder .*folder \(31 images in 30 class folders\)/);
    expect(a.lines.at(-1)).toMatch(/^eval of step 7: zero-shot top-1 \d+\.\d% \(top-5 \d+\.\d%\) on 30 held-out images, 30 classes; chance 3\.3%: \d+\.\dx chance; skipped 1 corrupt-image \[/);
    expect(a.warnings).toHaveLength(1);
    expect(a.warnings[0]).toMatch(/^warning: data: skipped \(corrupt-image\) .*broken\.jpg/);
    expect(b.warnings).toEqual([]);
  });

  it('flip eval RUN --eval-data DIR prints top-1 / top-5 next to chance, with the checkpoint\'s own config', async () => {
    const e = await resolveEvalConfig({ checkpoint: run, overrides: {} }, readCheckpointMeta);
    expect(e).toMatchObject({ runDir: run, source: "the checkpoint's (flip_tiny)", config: { train: { evalOnly: true, pretrainDir: e.checkpoint, resumeDir: '' } } });
    await expect(resolveEvalConfig({ overrides: {} }, readCheckpointMeta)).rejects.toThrow(/flip eval needs a checkpoint/);

    const { code, out, err } = await flipEval(run);
    expect(code, err).toBe(0);
    expect(out).toMatch(/^config: the checkpoint's \(flip_tiny\)$/m);
    expect(out).toMatch(/^eval of step 7: zero-shot top-1 \d+\.\d% \(top-5 \d+\.\d%\) on 30 held-out images, 30 classes; chance 3\.3%: \d+\.\dx chance; skipped 1 corrupt-image/m);
    expect(err.match(/warning: data: skipped \(corrupt-image\)/g)).toHaveLength(1);
  });

  it('a checkpoint written by several processes: flip eval gives the same top-1 as the one-process checkpoint, flip export the same file', async () => {
    const meta = readAnyCheckpointMeta(perProcessRun);
    expect(meta.file).toBe(path.join(perProcessRun, 'checkpoints', 'checkpoint_00000007'));
    expect(meta.meta.step).toBe(7);
    const evalOf = async (where: string) => {
      const { code, out, err } = await flipEval(where);
      expect(code, err).toBe(0);
      return /^eval of step 7: zero-shot top-1 (\d+\.\d)% \(top-5 (\d+\.\d)%\)/m.exec(out)?.slice(1);
    };
    const [one, two] = [await evalOf(run), await evalOf(perProcessRun)];
    expect(one).toHaveLength(2);
    expect(two).toEqual(one);
    const a = exportCheckpoint(run, 'safetensors', path.join(tmp, 'one.safetensors'));
    const b = exportCheckpoint(perProcessRun, 'safetensors', path.join(tmp, 'two.safetensors'));
    expect(b.step).toBe(a.step);
    expect(readFileSync(b.written).equals(readFileSync(a.written))).toBe(true);
  });
});
