// `flip run`: the training program. Data (synthetic set generated into the workdir, or webdataset shards), the
// compiled state init / train step / zero-shot encoders, the loop (progress, metrics, checkpoints every
// save_every_epochs and on interrupt, zero-shot eval every vis_every_epochs and at the end), resume and pretrain.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { FlipError } from '../compiler/ir/errors.ts';
import { flatten, unflatten } from '../compiler/trace/index.ts';
import type { FlipConfig } from '../configs/types.ts';
import type { Mesh } from '../compiler/passes/index.ts';
import { paramCount } from '../dsl/nn/index.ts';
import { flipSpecs } from '../models/flip.ts';
import { openClient, type Client, type Target } from '../runtime-native/index.ts';
import { loadClasses, type ZeroShotClasses } from './data/classes.ts';
import { imageFolderClasses, isImageFolder, scanImageFolder } from './data/imagefolder.ts';
import { openEvalLoader, openImageFolderLoader, openTrainLoader, type Batch, type DataLoader, type LoaderOptions } from './data/loader.ts';
import { writeSynthDataset } from './data/synth.ts';
import { emptySkipCounts, type DataWarning, type SkipCounts, type StreamPosition, type WarningKind } from './data/webdataset.ts';
import { checkCheckpointFits, listCheckpoints, loadCheckpoint, saveCheckpoint, type HostState } from './checkpoint.ts';
import { compileFunction, specLeaves } from './compiled.ts';
import { paramsOnOneDevice, stepExecutor, type StateLeaf } from './executor.ts';
import { formatDuration, MetricsLog, ProgressBar, progressLine, type TerminalOut } from './metrics.ts';
import type { TensorMap } from './safetensors.ts';
import { makeSchedule, type Schedule } from './schedule.ts';
import { batchSpecs, imageEmbeddings, initState, paramSpecs, stateSpecs, stepSpec, textEmbeddings, optimizerStep } from './step.ts';
import { WordPieceTokenizer, loadVocab } from './tokenizer/wordpiece.ts';
import { zeroShotEvaluator, type ZeroShotEvaluator, type ZeroShotResult } from './zeroshot.ts';

export interface RunOptions {
  config: FlipConfig;
  /** Where data (if synthetic), checkpoints, metrics.jsonl and event files go. */
  workdir: string;
  target?: Target;
  /** CPU only: the number of CPU devices of the client. */
  devices?: number;
  /** Shard the train step over this mesh (instead of `devices` × partitioning.numPartitions); on CPU, the default device count. */
  mesh?: Mesh;
  /** A PJRT plugin path (overrides the target's installed plugin). */
  plugin?: string;
  /** Stop (and save) after this many steps of this invocation; default: run to the end of the schedule. */
  stopAfter?: number;
  /** Set when the user asks to stop (Ctrl-C): the loop finishes the current step, saves and returns. */
  stop?: AbortSignal;
  /** Data decode threads (default: train/data's choice, cpus − 1). */
  workers?: number;
  /** Skip the zero-shot evals (tests of the loop itself). */
  noEval?: boolean;
  /** Where progress lines go (default console.log). */
  print?: (line: string) => void;
  /** Where warnings go (skipped data; default console.error). */
  warn?: (line: string) => void;
  /**
   * A terminal to draw a live progress bar on (step/total, epoch, loss, lr, samples/s, ETA), with a plain progress line
   * at each epoch's end. Default: stdout when it is a TTY and `print` is not given; otherwise plain lines every
   * logEverySteps.
   */
  progressBar?: TerminalOut | null;
  /** Zero-shot prompt templates instead of the eval set's (classes.json's; an image folder without them: CLIP's 80). */
  templates?: readonly string[];
  /** A client to run on instead of opening one (it stays open; its compile cache is shared across runs). */
  client?: Client;
  /** Compile every program at XLA's backend optimization level 0 (fast compiles, slower steps: tests). */
  fastCompile?: boolean;
}

export interface RunResult {
  /** Steps done in all (the step the next run would start at). */
  step: number;
  /** Steps done by this invocation. */
  stepsRun: number;
  /** This invocation's per-step losses. */
  losses: number[];
  zeroShot: ZeroShotResult | null;
  checkpoint: string | null;
  interrupted: boolean;
  seconds: number;
  /** Training samples skipped by kind (damaged shards, undecodable images, empty captions, ...). */
  skipped: SkipCounts;
}

/** Samples in the synthetic set `flip run` generates when no training data is configured: one virtual epoch, capped. */
export const SYNTH_MAX = 100_000;

/** A zero-shot eval set: labelled shards with classes.json, or an image folder (`class_name/*.jpg`). */
interface EvalSet {
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

async function prepareData(cfg: FlipConfig, workdir: string, print: (s: string) => void): Promise<DataPaths> {
  const d = cfg.train.data;
  if (d.laionPath) {
    if (!existsSync(d.laionPath)) throw new FlipError(`training data not found: ${d.laionPath} (config.train.data.laionPath: a directory of webdataset .tar shards)`);
    const vocab = path.join(d.laionPath, 'vocab.txt');
    if (!existsSync(vocab)) throw new FlipError(`no vocab.txt in ${d.laionPath}: the tokenizer's WordPiece vocabulary is read from there`);
    return { train: d.laionPath, vocab, eval: await evalSet(d.evalDataset, print), synthetic: false };
  }
  // No training data configured: the synthetic shapes set, one virtual epoch of it, generated once per workdir.
  const dir = path.join(workdir, 'data');
  const n = Math.min(cfg.train.samplesPerEpoch, SYNTH_MAX);
  const want = { n, imageSize: cfg.model.img.imageSize, seed: cfg.train.seed };
  let have: Partial<typeof want> | null = null;
  try {
    have = JSON.parse(readFileSync(path.join(dir, 'info.json'), 'utf8')) as typeof want;
  } catch {
    have = null;
  }
  if (have && have.n === want.n && have.imageSize === want.imageSize && have.seed === want.seed) {
    print(`data: synthetic set in ${dir} (${n} samples, ${want.imageSize}x${want.imageSize}), reused`);
  } else {
    print(`data: writing a synthetic image-caption set of ${n} samples (${want.imageSize}x${want.imageSize}) to ${dir} ...`);
    const s = await writeSynthDataset({ out: dir, n, imageSize: want.imageSize, seed: want.seed });
    print(`data: wrote ${s.n} training and ${s.evalN} held-out samples in ${s.seconds.toFixed(1)}s`);
  }
  // The synthetic set's own held-out split, unless the config names an eval folder (not a TFDS name such as the
  // official 'imagenet2012:5.*.*', which configs derived from the official defaults carry).
  const tfdsName = d.evalDataset.includes(':') && !existsSync(d.evalDataset);
  const evalDir = d.evalDataset && !tfdsName ? d.evalDataset : dir;
  return { train: dir, vocab: path.join(dir, 'vocab.txt'), eval: await evalSet(evalDir, print), synthetic: true };
}

/**
 * An eval set is a folder of labelled shards (`{key}.jpg` + `{key}.cls`, in eval/ or the folder itself) with
 * classes.json (class names, prompt templates), or an image folder (`class_name/*.jpg`). A path that does not exist
 * is an error; a name that is not a path (the official configs' TFDS name 'imagenet2012:5.*.*') skips the eval.
 */
async function evalSet(dir: string, print: (s: string) => void): Promise<EvalSet | null> {
  if (!dir) return null;
  const looksLikePath = /[/\\]|^\./.test(dir) || !dir.includes(':');
  const what = 'config.train.data.evalDataset: a folder of class folders (class_name/*.jpg), or of labelled .tar shards with classes.json';
  if (!existsSync(dir)) {
    if (looksLikePath) throw new FlipError(`zero-shot eval data not found: ${dir} (${what})`);
    print(`zero-shot eval: skipped, '${dir}' is not a folder (flip reads image folders and webdataset shards, not TFDS names)`);
    return null;
  }
  const shards = existsSync(path.join(dir, 'eval')) ? path.join(dir, 'eval') : dir;
  const hasTars = (p: string) => statSync(p).isDirectory() ? readdirSync(p).some((f) => f.endsWith('.tar')) : p.endsWith('.tar');
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

/** Data warnings of a run: the first of each kind shown (the loaders count them all). */
class DataWarnings {
  readonly shown = new Set<WarningKind>();
  constructor(private readonly warn: (line: string) => void) {}
  readonly onWarning = (w: DataWarning): void => {
    if (this.shown.has(w.kind)) return;
    this.shown.add(w.kind);
    this.warn(`warning: data: skipped (${w.kind}) ${w.message}; further ones are counted, not shown`);
  };
}

/** `2 corrupt-image, 1 empty-caption` (kinds with a count), or '' when nothing was skipped. */
export function describeSkipped(s: SkipCounts): string {
  return Object.entries(s).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
}

function scheduleOf(cfg: FlipConfig): Schedule {
  const t = cfg.train;
  return makeSchedule({
    learning_rate: t.learningRate, batch_size: t.batchSize, warmup_epochs: t.warmupEpochs, num_epochs: t.numEpochs,
    warmup_abs_lr: t.warmupAbsLr, min_abs_lr: t.minAbsLr, samples_per_epoch: t.samplesPerEpoch,
  });
}

/** The state as device buffers with their dotted paths (params.<p>, mu.<p>, nu.<p>). */
type DeviceState = { params: unknown; mu: unknown; nu: unknown };

async function toHostState(state: DeviceState): Promise<HostState> {
  const grab = async (tree: unknown): Promise<TensorMap> => {
    const f = flatten<StateLeaf>(tree);
    const out: TensorMap = {};
    for (let i = 0; i < f.leaves.length; i++) {
      const b = f.leaves[i]!;
      out[f.paths[i]!] = { dtype: 'f32', shape: [...b.shape], data: (await b.toHost()) as Float32Array };
    }
    return out;
  };
  return { params: await grab(state.params), mu: await grab(state.mu), nu: await grab(state.nu) };
}

/** Upload host tensors by path into the structure of `specs`, checking every shape. */
function upload(client: Client, specs: unknown, map: TensorMap, what: string): unknown {
  const f = flatten<{ shape: number[]; dtype: string }>(specs);
  const missing = f.paths.filter((p) => !map[p]);
  if (missing.length) {
    throw new FlipError(`${what}: ${missing.length} parameter(s) of this config's model are not in the checkpoint (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); is it a checkpoint of another model config?`);
  }
  return unflatten(f.treedef, f.leaves.map((s, i) => {
    const t = map[f.paths[i]!]!;
    if (t.shape.join() !== s.shape.join() || t.dtype !== 'f32') {
      throw new FlipError(`${what}: '${f.paths[i]}' is ${t.dtype}[${t.shape.join(', ')}] in the checkpoint but f32[${s.shape.join(', ')}] in this config's model`);
    }
    return client.toDevice(t.data as Float32Array, t.shape, 'f32');
  }));
}

function zerosMap(specs: unknown): TensorMap {
  const f = flatten<{ shape: number[] }>(specs);
  return Object.fromEntries(f.leaves.map((s, i) => [f.paths[i]!, { dtype: 'f32', shape: [...s.shape], data: new Float32Array(s.shape.reduce((a, b) => a * b, 1)) }]));
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function describeZeroShot(z: ZeroShotResult): string {
  return `zero-shot top-1 ${pct(z.top1)}${z.top5 === null ? '' : ` (top-5 ${pct(z.top5)})`} on ${z.images} held-out images, ` +
    `${z.classes} classes; chance ${pct(z.chance)}: ${(z.top1 / z.chance).toFixed(1)}x chance`;
}

/** Train (and evaluate) as the config says; see {@link RunOptions}. With `config.train.evalOnly`, evaluate a checkpoint. */
export async function runTraining(o: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const cfg = o.config;
  const t = cfg.train;
  const model = cfg.model;
  const schedule = scheduleOf(cfg);
  // A live bar on a terminal; every other line is printed above it.
  const bar = o.progressBar === undefined ? (!o.print && process.stdout.isTTY ? new ProgressBar(process.stdout) : null) : o.progressBar ? new ProgressBar(o.progressBar) : null;
  const rawPrint = o.print ?? ((s: string) => console.log(s));
  const rawWarn = o.warn ?? ((s: string) => console.error(s));
  const print = (s: string) => (bar ? bar.print(s, rawPrint) : rawPrint(s));
  const warn = (s: string) => (bar ? bar.print(s, rawWarn) : rawWarn(s));
  if (t.optimizer.type !== 'adamw') throw new FlipError(`config.train.optimizer.type '${String(t.optimizer.type)}': only adamw is implemented`);
  if (t.evalOnly && !t.resumeDir && !t.pretrainDir) {
    throw new FlipError('config.train.evalOnly evaluates a checkpoint: give one with --config.train.resumeDir=DIR (or flip eval --checkpoint DIR)');
  }
  if (t.optimizer.muDtype !== 'f32' && !t.evalOnly) print(`note: optimizer.muDtype '${t.optimizer.muDtype}' is kept in f32 here`);
  // Checkpoints first: a wrong path, an unreadable file or a checkpoint of another model is reported before the plugin
  // is opened or anything is written.
  const want = specLeaves(paramSpecs(model));
  const resumed = t.resumeDir ? loadCheckpoint(t.resumeDir) : null;
  const pretrained = t.pretrainDir ? loadCheckpoint(t.pretrainDir) : null;
  if (resumed) checkCheckpointFits(resumed, want, { moments: !t.evalOnly, configName: cfg.name });
  if (pretrained) checkCheckpointFits(pretrained, want, { moments: false, configName: cfg.name });
  // The plugin next: a missing one is reported before any data is written.
  const cpuDevices = o.devices ?? ((o.target ?? 'cpu') === 'cpu' ? o.mesh?.size : undefined);
  const client = o.client ?? await openClient({ target: o.target ?? 'cpu', ...(cpuDevices !== undefined ? { devices: cpuDevices } : {}), ...(o.plugin ? { plugin: o.plugin } : {}) });
  const fast = o.fastCompile ? { optLevel: 0 } : {};
  const dataWarnings = new DataWarnings(warn);
  let train: DataLoader | null = null;
  let metrics: MetricsLog | null = null;
  try {
    const data = await prepareData(cfg, o.workdir, print);
    const vocab = await loadVocab(data.vocab);
    if (vocab.length > model.txt.vocabSize) {
      throw new FlipError(`the vocabulary (${data.vocab}) has ${vocab.length} tokens but the text tower embeds ${model.txt.vocabSize}: set --config.model.txt.vocabSize=${vocab.length} or more`);
    }
    const tokenizer = new WordPieceTokenizer(vocab);
    const log = (m: string) => print(`compile: ${m}`);
    const specs = stateSpecs(model);

    let evaluator: ZeroShotEvaluator | null = null;
    const makeEvaluator = async (set: EvalSet): Promise<ZeroShotEvaluator> => zeroShotEvaluator({
      client, classes: await set.classes(o.templates), tokenizer, clsToken: t.aug.txt.clsToken, log, ...fast,
      model: {
        encodeTexts: textEmbeddings(model), encodeImages: imageEmbeddings(model), paramSpecs: paramSpecs(model),
        batchSize: t.batchSize, imageSize: model.img.imageSize, channels: model.img.channels, maxLen: model.txt.maxLen,
      },
    });
    /** Zero-shot accuracy of `params` (device buffers on device 0) on the eval set; eval images skipped are counted in the line. */
    const evaluate = async (params: unknown, what: string): Promise<ZeroShotResult> => {
      const set = data.eval!;
      evaluator ??= await makeEvaluator(set);
      const images = await set.open({
        batchSize: t.batchSize, imageSize: model.img.imageSize, vocab: tokenizer, maxLen: model.txt.maxLen,
        clsToken: t.aug.txt.clsToken, evalPad: t.aug.evalPad, onWarning: dataWarnings.onWarning, ...(o.workers !== undefined ? { workers: o.workers } : {}),
      });
      const z = await evaluator.evaluate(params, images);
      const skipped = describeSkipped(images.stats.skipped);
      print(`eval ${what}: ${describeZeroShot(z)}${skipped ? `; skipped ${skipped}` : ''} [${z.seconds.toFixed(1)}s]`);
      return z;
    };

    // ---- eval only: a checkpoint's params, the zero-shot eval, nothing written ----
    if (t.evalOnly) {
      const ck = (resumed ?? pretrained)!;
      if (!data.eval) throw new FlipError('config.train.evalOnly: there is no zero-shot eval set (config.train.data.evalDataset: an image folder or labelled shards)');
      print(`flip eval: ${ck.file} (step ${ck.meta.step}), config ${cfg.name}, ${(paramCount(flipSpecs(model)) / 1e6).toFixed(2)}M params; eval set: ${data.eval.describe}; on ${client.platform.name}`);
      const params = upload(client, specs.params, ck.state.params, ck.file);
      let z: ZeroShotResult;
      try {
        z = await evaluate(params, `of step ${ck.meta.step}`);
      } finally {
        for (const b of flatten<StateLeaf>(params).leaves) b.dispose();
      }
      return { step: ck.meta.step, stepsRun: 0, losses: [], zeroShot: z, checkpoint: ck.file, interrupted: false, seconds: (performance.now() - t0) / 1000, skipped: emptySkipCounts() };
    }

    metrics = new MetricsLog(o.workdir);
    const mlog = metrics;
    print(`flip run: ${cfg.name}, ${(paramCount(flipSpecs(model)) / 1e6).toFixed(2)}M params, batch ${t.batchSize}, ` +
      `${schedule.totalSteps} steps (${t.numEpochs} virtual epochs of ${schedule.stepsPerEpoch} steps), image mask ratio ${model.img.maskRatio}, ` +
      `on ${client.platform.name} (${client.devices[0]!.kind})`);
    print(`workdir: ${o.workdir}`);

    // ---- state: fresh, resumed (params, moments, step, data position) or pretrained (params only) ----
    let state: DeviceState;
    let step = 0, samples = 0;
    let position: StreamPosition | null = null;
    if (resumed) {
      const ck = resumed;
      state = {
        params: upload(client, specs.params, ck.state.params, ck.file),
        mu: upload(client, specs.mu, ck.state.mu, ck.file),
        nu: upload(client, specs.nu, ck.state.nu, ck.file),
      };
      ({ step, samples, position } = ck.meta);
      print(`resumed from ${ck.file}: step ${step}, ${samples} samples seen`);
    } else if (pretrained) {
      const ck = pretrained;
      const zeros = zerosMap(specs.params);
      state = { params: upload(client, specs.params, ck.state.params, ck.file), mu: upload(client, specs.mu, zeros, 'zeros'), nu: upload(client, specs.nu, zeros, 'zeros') };
      print(`params from ${ck.file} (step ${ck.meta.step}); optimizer state, step and data position start fresh`);
    } else {
      const old = listCheckpoints(path.join(o.workdir, 'checkpoints'));
      if (old.length) print(`note: ${o.workdir} has checkpoints up to step ${old[old.length - 1]!.step}; this run starts fresh (--config.train.resumeDir=${o.workdir} continues one)`);
      // Run once: compiled at the lowest optimization level, which compiles several times faster.
      const init = await compileFunction(() => initState(t.seed, model), [], { client, name: 'init_state', log, optLevel: 0 });
      state = (await init.run([])) as DeviceState;
    }

    // On CPU one device unless --devices asks for more (the CPU plugin's devices share the same cores); on an
    // accelerator every device, data-parallel (× numPartitions model-parallel).
    const devices = o.mesh?.size ?? o.devices ?? (client.target === 'cpu' ? 1 : client.devices.length);
    const executor = await stepExecutor({
      client, devices, modelPartitions: cfg.partitioning.numPartitions, partitionStates: cfg.partitioning.partitionStates, log,
      ...(o.mesh ? { mesh: o.mesh } : {}),
      fn: optimizerStep({ model, schedule, adamw: { b1: t.optimizer.b1, b2: t.optimizer.b2, eps: 1e-8, weight_decay: t.optimizer.weightDecay }, excludeWd: t.optimizer.excludeWd, seed: t.seed }),
      specs: [specs, batchSpecs(model, t.batchSize), stepSpec()],
      ...(o.fastCompile ? { optLevel: 0 } : {}),
    });
    print(`train step on ${executor.where}`);
    // Compile the eval's encoders now, so that their compile time is not in the first eval's.
    if (data.eval && !o.noEval) evaluator = await makeEvaluator(data.eval);
    const evalNow = async (atStep: number): Promise<ZeroShotResult | null> => {
      if (!data.eval || o.noEval) return null;
      const one = await paramsOnOneDevice(client, state.params);
      const z = await evaluate(one.params, `@ step ${atStep}`).finally(() => one.release());
      const scalars: Record<string, number> = { 'eval/zeroshot_top1': z.top1, 'eval/chance': z.chance };
      if (z.top5 !== null) scalars['eval/zeroshot_top5'] = z.top5;
      mlog.write(atStep, scalars);
      mlog.flush();
      return z;
    };

    // ---- the loop ----
    train = await openTrainLoader({
      data: data.train, batchSize: t.batchSize, imageSize: model.img.imageSize, vocab: tokenizer, maxLen: model.txt.maxLen,
      clsToken: t.aug.txt.clsToken, seed: t.seed, augment: { areaRange: t.aug.areaRange, aspectRatioRange: t.aug.aspectRatioRange, flip: t.aug.flip },
      onWarning: dataWarnings.onWarning,
      ...(position ? { start: position } : {}), ...(o.workers !== undefined ? { workers: o.workers } : {}),
    });
    const trainStats = train.stats;
    const end = o.stopAfter !== undefined ? Math.min(schedule.totalSteps, step + o.stopAfter) : schedule.totalSteps;
    const losses: number[] = [];
    let checkpoint: string | null = null;
    let savedAt = -1;
    let zeroShot: ZeroShotResult | null = null;
    const ckDir = path.join(o.workdir, 'checkpoints');
    const lastGood = (): string => {
      const last = listCheckpoints(ckDir).at(-1);
      return last ? `the last good checkpoint is ${last.file} (step ${last.step}), left as it was`
        : resumed ? `no checkpoint was saved in this run; the one it resumed from is ${resumed.file} (step ${resumed.meta.step})` : 'no checkpoint was saved before it';
    };
    const save = async (why: string) => {
      const host = await toHostState(state);
      // A state with NaN or inf (an update that overflowed) is never written over a good checkpoint.
      for (const [group, map] of Object.entries(host)) {
        for (const [name, tensor] of Object.entries(map as TensorMap)) {
          if (!(tensor.data as Float32Array).every(Number.isFinite)) {
            throw new FlipError(`${group}.${name} holds NaN or inf after step ${step}: training stopped, the model diverged; not saved, ${lastGood()}. ` +
              'Lower --config.train.learningRate (or raise warmupEpochs) and resume from it');
          }
        }
      }
      checkpoint = saveCheckpoint(ckDir, host, { step, position, samples, config: cfg });
      savedAt = step;
      print(`checkpoint (${why}): ${checkpoint}`);
    };
    if (step >= end) print(`nothing to train: step ${step} of ${schedule.totalSteps}`);
    else print(`training steps ${step + 1}..${end} of ${schedule.totalSteps}`);
    let window = { steps: 0, loss: 0, tau: 0, start: performance.now() };
    let trainSeconds = 0;
    const startStep = step;
    let interrupted = false;
    // The bar's rates: exponential moving averages of seconds per step and of the loss.
    let secPerStep = 0, emaLoss = 0, lastAt = performance.now();
    try {
      while (step < end) {
        if (o.stop?.aborted) {
          interrupted = true;
          break;
        }
        const batch: Batch | null = await train.next();
        if (!batch) throw new FlipError(`the training data ran out at step ${step}`);
        const ts = performance.now();
        const [next, { loss, tau, lr, gradNorm }] = await executor.run(state, batch, step);
        state = next as DeviceState;
        // NaN or inf: stop before this state is saved anywhere; the last checkpoint on disk stays the last good one.
        const bad = ([['train/loss', loss], ['train/grad_norm', gradNorm], ['train/tau', tau]] as const).find(([, v]) => !Number.isFinite(v));
        if (bad) {
          mlog.write(step + 1, { 'train/loss': loss, 'train/grad_norm': gradNorm, 'train/tau': tau, 'train/lr': lr });
          mlog.flush();
          throw new FlipError(`${bad[0]} is ${bad[1]} at step ${step + 1} (lr ${lr.toExponential(2)}): training stopped, the model diverged; ${lastGood()}. ` +
            `Lower --config.train.learningRate (or raise warmupEpochs) and resume from it`);
        }
        step++;
        samples += batch.count;
        position = batch.position;
        losses.push(loss);
        const now = performance.now();
        if (step > startStep + 1) trainSeconds += (now - ts) / 1000; // the first step also warms up the executable
        window.steps++;
        window.loss += loss;
        window.tau += tau;
        const epoch = step / schedule.stepsPerEpoch;
        if (bar) {
          const dt = (now - lastAt) / 1000;
          secPerStep = step === startStep + 1 ? dt : step === startStep + 2 ? dt : 0.9 * secPerStep + 0.1 * dt;
          emaLoss = step === startStep + 1 ? loss : 0.9 * emaLoss + 0.1 * loss;
          bar.update({ step, total: schedule.totalSteps, epoch, loss: emaLoss, tau, lr, samplesPerSec: t.batchSize / secPerStep, etaSec: (end - step) * secPerStep }, step === end);
        }
        lastAt = now;
        if (step % t.logEverySteps === 0 || step === end) {
          const secs = (performance.now() - window.start) / 1000;
          const sps = (window.steps * t.batchSize) / secs;
          const eta = ((end - step) * secs) / window.steps;
          const line = progressLine({ step, total: schedule.totalSteps, epoch, loss: window.loss / window.steps, tau: window.tau / window.steps, lr, samplesPerSec: sps, etaSec: eta });
          // On a terminal the bar shows every step; a plain line stays at each epoch's end (and the last step).
          if (!bar || step % schedule.stepsPerEpoch === 0 || step === end) print(line);
          mlog.write(step, {
            'train/loss': window.loss / window.steps, 'train/tau': window.tau / window.steps, 'train/lr': lr,
            'train/samples_per_sec': sps, 'train/grad_norm': gradNorm, 'train/epoch': epoch,
          });
          window = { steps: 0, loss: 0, tau: 0, start: performance.now() };
        }
        if (step % schedule.stepsPerEpoch === 0) {
          const last = step === schedule.totalSteps;
          if (epoch % t.visEveryEpochs === 0 && !last) zeroShot = await evalNow(step);
          if (epoch % t.saveEveryEpochs === 0 || last) await save(`epoch ${epoch}`);
        }
      }
    } finally {
      bar?.done();
    }
    await train.close();
    train = null;
    if (interrupted) print(`interrupted at step ${step}`);
    if (step === schedule.totalSteps && !interrupted) zeroShot = await evalNow(step);
    if (savedAt !== step) await save(interrupted ? 'interrupted' : step === schedule.totalSteps ? 'end' : 'stop');
    else if (interrupted) print(`checkpoint (interrupted): ${checkpoint} (saved at this step)`);
    mlog.flush();
    const skipped = describeSkipped(trainStats.skipped);
    if (skipped) warn(`data: skipped ${skipped} training sample(s) or shard tail(s) in all; training went on`);
    const seconds = (performance.now() - t0) / 1000;
    const ran = step - startStep;
    if (ran > 1) print(`trained ${ran} steps in ${formatDuration(trainSeconds)} (${(((ran - 1) * t.batchSize) / trainSeconds).toFixed(1)} samples/s after the first step); total ${formatDuration(seconds)}`);
    if (zeroShot) print(describeZeroShot(zeroShot));
    if (interrupted || step < schedule.totalSteps) print(`resume with: flip run ... --config.train.resumeDir=${o.workdir}`);
    return { step, stepsRun: ran, losses, zeroShot, checkpoint, interrupted, seconds, skipped: { ...trainStats.skipped } };
  } finally {
    bar?.done();
    await train?.close();
    metrics?.close();
    if (!o.client) client.dispose();
  }
}
