// A run's data: the training set (webdataset shards or img2dataset TFRecords, or the synthetic set generated into the
// workdir), the zero-shot eval set (an image folder, labelled shards, or a TFDS-prepared split such as the official
// ImageNet-1k validation), the tokenizer, their loaders, and the warnings about skipped data.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import { loadClasses, tokenizePrompts, type ZeroShotClasses } from '../data/classes.ts';
import { imageFolderClasses, isImageFolder, scanImageFolder } from '../data/imagefolder.ts';
import { openEvalLoader, openImageFolderLoader, openTrainLoader, type DataLoader, type LoaderOptions } from '../data/loader.ts';
import { writeSynthDataset } from '../data/synth.ts';
import { parseTfdsName, resolveTfdsSplit, tfdsClasses, tfdsDataDir } from '../data/tfds.ts';
import { isTfRecordName } from '../data/tfrecord.ts';
import { listShards, type DataWarning, type StreamPosition, type WarningKind } from '../data/webdataset.ts';
import { trainShare, writerFirst } from '../multiprocess/index.ts';
import { BERT_UNCASED_TOKENS, BERT_UNCASED_VOCAB, WordPieceTokenizer, loadVocab } from '../tokenizer/wordpiece.ts';
import type { RunOutput } from './output.ts';
import type { RunPlan } from './plan.ts';

/** Samples in the synthetic set `flip run` generates when no training data is configured: one virtual epoch, capped. */
export const SYNTH_MAX = 100_000;

/** A zero-shot eval set: labelled shards with classes.json, an image folder (`class_name/*.jpg`), or a TFDS split. */
export interface EvalSet {
  /** For messages: what and where. */
  describe: string;
  classes(templates?: readonly string[]): Promise<ZeroShotClasses>;
  open(opts: Omit<LoaderOptions, 'data'>): Promise<DataLoader>;
}

interface DataPaths {
  train: string;
  vocab: string;
  eval: EvalSet | null;
  synthetic: boolean;
}

/** The data of a run, ready to open loaders on. */
export interface RunData extends DataPaths {
  tokenizer: WordPieceTokenizer;
  /** Where the loaders report skipped samples. */
  warnings: DataWarnings;
}

/** Data warnings of a run: the first of each kind shown (the loaders count them all). */
export class DataWarnings {
  readonly shown = new Set<WarningKind>();
  constructor(private readonly warn: (line: string) => void) {}
  readonly onWarning = (w: DataWarning): void => {
    if (this.shown.has(w.kind)) return;
    this.shown.add(w.kind);
    this.warn(`warning: data: skipped (${w.kind}) ${w.message}; further ones are counted, not shown`);
  };
}

/**
 * The training and eval sets (the synthetic set written first when no training data is configured), and the
 * tokenizer of the training set's vocabulary, checked against the text tower's vocabulary size.
 */
export async function prepareData(plan: RunPlan, out: RunOutput): Promise<RunData> {
  const warnings = new DataWarnings(out.warn);
  const data = await dataPaths(plan, out.print);
  const model = plan.model;
  const vocab = await loadVocab(data.vocab);
  if (vocab.length > model.txt.vocabSize) {
    throw new FlipError(`the vocabulary (${data.vocab}) has ${vocab.length} tokens but the text tower embeds ${model.txt.vocabSize}: set --config.model.txt.vocabSize=${vocab.length} or more`);
  }
  // What the loaders and the eval would find only after the compiles: shards to train on, the eval set's classes.
  if (!plan.evalOnly && !data.synthetic) {
    await listShards(data.train).catch((e: Error) => {
      throw new FlipError(`config.train.data.laionPath: ${e.message}`);
    });
  }
  const tokenizer = new WordPieceTokenizer(vocab);
  if (data.eval && (plan.evalOnly || plan.evalDuringTraining)) {
    tokenizePrompts(await data.eval.classes(plan.templates), tokenizer, model.txt.maxLen, { clsToken: plan.train.aug.txt.clsToken });
  }
  return { ...data, tokenizer, warnings };
}

async function dataPaths(plan: RunPlan, print: (s: string) => void): Promise<DataPaths> {
  const cfg = plan.config;
  const d = cfg.train.data;
  if (d.laionPath) {
    if (!existsSync(d.laionPath)) throw new FlipError(`training data not found: ${d.laionPath} (config.train.data.laionPath: a directory of webdataset .tar shards or img2dataset .tfrecord files)`);
    let vocab = path.join(d.laionPath, 'vocab.txt');
    if (!existsSync(vocab)) {
      vocab = BERT_UNCASED_VOCAB;
      print(`data: no vocab.txt in ${d.laionPath}: tokenizing with the shipped BERT uncased vocabulary (${BERT_UNCASED_TOKENS} tokens, the official one)`);
    }
    return { train: d.laionPath, vocab, eval: await evalSet(d.evalDataset, print), synthetic: false };
  }
  // No training data configured: the synthetic shapes set, one virtual epoch of it, generated once per workdir.
  const dir = plan.synthDir;
  const n = Math.min(cfg.train.samplesPerEpoch, SYNTH_MAX);
  const want = { n, imageSize: cfg.model.img.imageSize, seed: cfg.train.seed };
  let have: Partial<typeof want> | null = null;
  try {
    have = JSON.parse(readFileSync(path.join(dir, 'info.json'), 'utf8')) as typeof want;
  } catch {
    have = null;
  }
  // The synthetic set's own held-out split, unless the config names an eval folder or a TFDS split with `tfds:` (not
  // the bare official 'imagenet2012:5.*.*' that configs derived from the official defaults carry: a synthetic run
  // does not go looking for ImageNet).
  const tfdsName = !d.evalDataset.startsWith('tfds:') && d.evalDataset.includes(':') && !existsSync(d.evalDataset);
  const evalDir = d.evalDataset && !tfdsName ? d.evalDataset : dir;
  // Over several processes process 0 writes it (at least one shard per process) while the others wait.
  const procs = plan.processes;
  const minShards = procs.multi ? procs.group.processCount : 1;
  await writerFirst(procs, 'synthetic-data', async () => {
    if (have && have.n === want.n && have.imageSize === want.imageSize && have.seed === want.seed && (!procs.multi || (await synthShards(dir)) >= minShards)) {
      // An eval (flip eval) of another eval set reads only the set's vocabulary: say that, not that the set is used.
      print(plan.evalOnly && evalDir !== dir ? `data: the tokenizer's vocabulary from ${path.join(dir, 'vocab.txt')} (the synthetic set the checkpoint was trained on)`
        : `data: synthetic set in ${dir} (${n} samples, ${want.imageSize}x${want.imageSize}), reused`);
    } else {
      print(`data: writing a synthetic image-caption set of ${n} samples (${want.imageSize}x${want.imageSize}) to ${dir} ...`);
      const s = await writeSynthDataset({ out: dir, n, imageSize: want.imageSize, seed: want.seed, ...(procs.multi ? { shards: Math.max(minShards, Math.ceil(n / 1000)) } : {}) });
      print(`data: wrote ${s.n} training and ${s.evalN} held-out samples in ${s.seconds.toFixed(1)}s`);
    }
  });
  return { train: dir, vocab: path.join(dir, 'vocab.txt'), eval: await evalSet(evalDir, print), synthetic: true };
}

/**
 * An eval set is a folder of labelled shards (`{key}.jpg` + `{key}.cls`, in eval/ or the folder itself) with
 * classes.json (class names, prompt templates), an image folder (`class_name/*.jpg`), or a TFDS-prepared split:
 * `tfds:imagenet2012[:VERSION]` reads the validation split under $TFDS_DATA_DIR (tfds.ts) with the official class
 * names and templates. A path that does not exist is an error; so is a `tfds:` name whose files are not there. The
 * official configs' bare 'imagenet2012:5.*.*' is read the same way when $TFDS_DATA_DIR holds it, else the eval is
 * skipped with a line that says so.
 */
async function evalSet(dir: string, print: (s: string) => void): Promise<EvalSet | null> {
  if (!dir) return null;
  const what = 'config.train.data.evalDataset: a folder of class folders (class_name/*.jpg), of labelled .tar shards with classes.json, or tfds:imagenet2012';
  const tfds = existsSync(dir) ? null : parseTfdsName(dir);
  if (tfds) {
    const dataDir = tfdsDataDir();
    if (!dir.startsWith('tfds:') && !existsSync(path.join(dataDir, tfds.name))) {
      print(`zero-shot eval: skipped, '${dir}' is a TFDS name and ${path.join(dataDir, tfds.name)} does not exist (set TFDS_DATA_DIR, or evalDataset=tfds:${tfds.name} to make it required)`);
      return null;
    }
    const split = resolveTfdsSplit(dataDir, tfds, 'validation');
    const classes = tfdsClasses(split); // checks the names against the split's label.labels.txt now, not at the first eval
    return {
      describe: `TFDS ${split.name} ${split.version} ${split.split} (${split.shards.length} shard(s) in ${split.dir}, ${classes.classes.length} classes)`,
      classes: async (templates) => tfdsClasses(split, templates),
      open: (opts) => openEvalLoader({ ...opts, data: split.shards }),
    };
  }
  const looksLikePath = /[/\\]|^\./.test(dir) || !dir.includes(':');
  if (!existsSync(dir)) {
    if (looksLikePath) throw new FlipError(`zero-shot eval data not found: ${dir} (${what})`);
    print(`zero-shot eval: skipped, '${dir}' is not a folder nor a TFDS name (tfds:NAME[:VERSION])`);
    return null;
  }
  const shards = existsSync(path.join(dir, 'eval')) ? path.join(dir, 'eval') : dir;
  const isShard = (f: string) => f.endsWith('.tar') || isTfRecordName(f);
  const hasTars = (p: string) => statSync(p).isDirectory() ? readdirSync(p).some(isShard) : isShard(p);
  if (hasTars(shards)) {
    const classes = path.join(dir, 'classes.json');
    if (!existsSync(classes)) throw new FlipError(`no classes.json in ${dir}: the zero-shot eval needs the class names and prompt templates there`);
    return {
      describe: `shards in ${shards}`,
      classes: async (templates) => {
        const c = await loadClasses(classes);
        if (!templates) return c;
        return { classes: c.classes, templates: [...templates], prompts: c.classes.map((n) => templates.map((tpl) => tpl.replaceAll('{}', n))) };
      },
      open: (opts) => openEvalLoader({ ...opts, data: shards }),
    };
  }
  if (statSync(dir).isDirectory() && (await isImageFolder(dir))) {
    const folder = await scanImageFolder(dir);
    return {
      describe: `image folder ${dir} (${folder.files.length} images in ${folder.folders.length} class folders)`,
      classes: (templates) => imageFolderClasses(folder, templates),
      open: (opts) => openImageFolderLoader(folder, opts),
    };
  }
  throw new FlipError(`zero-shot eval data in ${dir}: neither class folders with images nor .tar shards (${what})`);
}

const synthShards = (dir: string) => listShards(dir).then((l) => l.length, () => 0);

/**
 * The training batches (shuffled, augmented), from the start or from a saved stream position. Over several processes,
 * this process's share (train/multiprocess/data.ts): its contiguous block of shards, batch / processes samples per
 * step, seed + process index; `position` is then a position in that share.
 */
export async function openTrainData(plan: RunPlan, data: RunData, position: StreamPosition | null, print?: (line: string) => void): Promise<DataLoader> {
  const { model, train: t } = plan;
  const share = plan.processes.multi ? await trainShare(data.train, plan.processes.group, t.batchSize, t.seed) : null;
  if (share?.note) print?.(`data: ${share.note}`);
  return openTrainLoader({
    data: share ? share.shards : data.train, batchSize: share ? share.localBatch : t.batchSize, imageSize: model.img.imageSize, vocab: data.tokenizer, maxLen: model.txt.maxLen,
    clsToken: t.aug.txt.clsToken, seed: share ? share.seed : t.seed, augment: { areaRange: t.aug.areaRange, aspectRatioRange: t.aug.aspectRatioRange, flip: t.aug.flip },
    onWarning: data.warnings.onWarning,
    ...(position ? { start: position } : {}), ...(plan.workers !== undefined ? { workers: plan.workers } : {}),
  });
}

/** The eval set's labelled images, in order. */
export function openEvalData(plan: RunPlan, data: RunData, set: EvalSet): Promise<DataLoader> {
  const { model, train: t } = plan;
  return set.open({
    batchSize: t.batchSize, imageSize: model.img.imageSize, vocab: data.tokenizer, maxLen: model.txt.maxLen,
    clsToken: t.aug.txt.clsToken, evalPad: t.aug.evalPad, onWarning: data.warnings.onWarning, ...(plan.workers !== undefined ? { workers: plan.workers } : {}),
  });
}
