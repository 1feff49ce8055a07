// What `flip run` is asked (RunOptions), what it gives back (RunResult), and the plan resolved from the options once,
// before anything is opened or written: the schedule, the workdir's paths, the train step's settings, where the step
// runs, the compile level, the eval and data settings. Every other part of the run reads the plan, not the options.
import path from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import { axisSize, showMesh, type Mesh } from '../../compiler/passes/index.ts';
import type { FlipConfig, TrainerConfig } from '../../configs/types.ts';
import type { FlipModelConfig } from '../../models/flip.ts';
import type { Client, Coordination, OpenClientOptions, ProcessPlan, Target } from '../../runtime-native/index.ts';
import type { SkipCounts } from '../data/webdataset.ts';
import type { TerminalOut } from '../metrics.ts';
import { runProcesses, type RunProcesses } from '../multiprocess/index.ts';
import { stepSettings } from '../step.ts';
import { scheduleOf, type Schedule } from '../schedule.ts';
import type { StepSettings } from '../step.ts';
import type { ZeroShotResult } from '../zeroshot.ts';

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
  /**
   * A multi-process run (docs/distributed.md): this process's place in it, and the process group it joined
   * (`joinProcessGroup(processes)`: the store for the plugin's key-value callbacks, barriers, shutdown). Absent: one process.
   */
  processes?: ProcessPlan;
  group?: Coordination;
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

/** A run's options and config resolved once: what the parts of the run read. */
export interface RunPlan {
  /** The config as given (written into every checkpoint). */
  config: FlipConfig;
  model: FlipModelConfig;
  train: TrainerConfig;
  schedule: Schedule;
  /** config.train.evalOnly: the zero-shot eval of a checkpoint, nothing written. */
  evalOnly: boolean;
  workdir: string;
  /** workdir/checkpoints. */
  checkpointDir: string;
  /** workdir/data: where the synthetic set is written when no training data is configured. */
  synthDir: string;
  /** Lines printed before anything is opened: settings of the config that this trainer keeps otherwise. */
  notes: string[];
  /** The client to run on (it stays open), or null: open one with `openClient`. */
  client: Client | null;
  openClient: OpenClientOptions;
  /** The train step: the optimizer step's settings and where it runs. */
  step: {
    settings: StepSettings;
    /** --devices (CPU: the client's device count); default one CPU device, or every accelerator device. */
    devices?: number;
    mesh?: Mesh;
  };
  /** Options of every compile but the state init's: `{ optLevel: 0 }` with --fast-compile, else none. */
  compile: { optLevel?: number };
  /** Zero-shot evals during training (at vis_every_epochs and at the end); false with `noEval`. */
  evalDuringTraining: boolean;
  templates?: readonly string[];
  workers?: number;
  stopAfter?: number;
  stop?: AbortSignal;
  /** The run's processes (train/multiprocess): its group, writer role, and whether there are several. */
  processes: RunProcesses;
}

/** The plan of a run; a config this trainer cannot run is an error here, before anything is opened. */
export function planRun(o: RunOptions): RunPlan {
  const cfg = o.config;
  const t = cfg.train;
  const model = cfg.model;
  const schedule = scheduleOf(cfg);
  const processes = runProcesses(o);
  if (processes.multi && t.evalOnly) throw new FlipError(`config.train.evalOnly evaluates a checkpoint in one process: run flip eval (or flip run) without --num-processes`);
  if (t.optimizer.type !== 'adamw') throw new FlipError(`config.train.optimizer.type '${String(t.optimizer.type)}': only adamw is implemented`);
  if (t.evalOnly && !t.resumeDir && !t.pretrainDir) {
    throw new FlipError('config.train.evalOnly evaluates a checkpoint: give one with --config.train.resumeDir=DIR (or flip eval --checkpoint DIR)');
  }
  const notes: string[] = [];
  // The official utils/adamw.py makes mu zeros of mu_dtype but never casts the updated mu back (that line is commented
  // out), so from the first step on its first moments are f32 too: flip keeps them f32 from the start (same numbers).
  if (t.optimizer.muDtype !== 'f32' && !t.evalOnly) notes.push(`note: optimizer.muDtype '${t.optimizer.muDtype}': first moments stay f32, as the official adamw.py's are after its first update (models/README.md)`);
  if (!t.evalOnly && schedule.totalSteps > 0 && schedule.warmupSteps >= schedule.totalSteps) {
    notes.push(`note: train.warmupEpochs (${t.warmupEpochs}) ≥ train.numEpochs (${t.numEpochs}): the whole run is warm-up; the lr climbs ` +
      `towards ${schedule.peakLr.toExponential(2)} and never decays (lower warmupEpochs for a cosine phase)`);
  }
  if (processes.multi && !o.noEval) notes.push(`note: ${processes.group.processCount} processes: the zero-shot evals during training are off (evaluate a checkpoint with flip eval)`);
  if (!t.evalOnly) checkLayout(o, cfg);
  const cpuDevices = o.devices ?? ((o.target ?? 'cpu') === 'cpu' ? o.mesh?.size : undefined);
  return {
    config: cfg, model, train: t, schedule, evalOnly: t.evalOnly,
    workdir: o.workdir, checkpointDir: path.join(o.workdir, 'checkpoints'), synthDir: path.join(o.workdir, 'data'),
    notes,
    client: o.client ?? null,
    openClient: { target: o.target ?? 'cpu', ...(cpuDevices !== undefined ? { devices: cpuDevices } : {}), ...(o.plugin ? { plugin: o.plugin } : {}), ...(processes.multi ? { store: o.group! } : {}) },
    step: {
      settings: stepSettings(cfg),
      ...(o.devices !== undefined ? { devices: o.devices } : {}),
      ...(o.mesh ? { mesh: o.mesh } : {}),
    },
    compile: o.fastCompile ? { optLevel: 0 } : {},
    evalDuringTraining: !o.noEval && !processes.multi,
    ...(o.templates ? { templates: o.templates } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.stopAfter !== undefined ? { stopAfter: o.stopAfter } : {}),
    ...(o.stop ? { stop: o.stop } : {}),
    processes,
  };
}

/**
 * What the model axis and a multi-device layout need of the towers, checked before anything is compiled (the sharding
 * pass would say the same after the state's init had compiled): FLIP's rules split the attention heads and the MLP
 * hidden over `model`, so its size must divide each tower's numHeads and mlpDim; a tower with scanLayers runs on one
 * device only (compiler/passes/sharding refuses a loop on a mesh).
 */
function checkModelAxis(o: RunOptions, cfg: FlipConfig): void {
  const devices = o.mesh ? o.mesh.size : (o.devices ?? 1);
  const model = o.mesh ? axisSize(o.mesh, 'model') : devices > 1 ? cfg.partitioning.numPartitions : 1;
  const layout = o.mesh ? `--mesh ${showMesh(o.mesh)}` : `config.partitioning.numPartitions ${model}`;
  for (const tower of ['img', 'txt'] as const) {
    const t = cfg.model[tower].transformer;
    if (devices > 1 && t.scanLayers) {
      throw new FlipError(`config.model.${tower}.transformer.scanLayers: the layers' loop runs on one device only, and this run has ${devices}: ` +
        `run it on one device, or set --config.model.${tower}.transformer.scanLayers=false`);
    }
    for (const field of ['numHeads', 'mlpDim'] as const) {
      if (t[field] % model !== 0) {
        throw new FlipError(`${layout}: model=${model} does not divide config.model.${tower}.transformer.${field} (${t[field]}), which FLIP's ` +
          `sharding splits over the model axis: use a model axis that divides ${t[field]}`);
      }
    }
  }
}

/**
 * How the train step is laid out over devices, checked before anything is opened or compiled: --mesh's data axis
 * must split the batch and --devices must hold the mesh; --devices must be a multiple of
 * config.partitioning.numPartitions and its data-parallel part must split the batch.
 */
function checkLayout(o: RunOptions, cfg: FlipConfig): void {
  const batch = cfg.train.batchSize;
  const parts = cfg.partitioning.numPartitions;
  checkModelAxis(o, cfg);
  if (o.mesh) {
    const m = showMesh(o.mesh);
    const data = axisSize(o.mesh, 'data');
    if (o.devices !== undefined && o.devices < o.mesh.size) throw new FlipError(`--mesh ${m} needs ${o.mesh.size} devices but --devices is ${o.devices}: give --devices ${o.mesh.size} (or leave it out)`);
    if (batch % data !== 0) {
      throw new FlipError(`--mesh ${m}: the batch size ${batch} (config.train.batchSize) does not split over data=${data}: ` +
        `use a data axis that divides ${batch}, or --config.train.batchSize=${Math.ceil(batch / data) * data}`);
    }
    return;
  }
  if (o.devices === undefined || o.devices === 1) return;
  if (o.devices % parts !== 0) throw new FlipError(`--devices ${o.devices} is not a multiple of config.partitioning.numPartitions (${parts})`);
  const data = o.devices / parts;
  if (batch % data !== 0) {
    throw new FlipError(`--devices ${o.devices}: the batch size ${batch} (config.train.batchSize) does not split over ${data} data-parallel devices` +
      `${parts > 1 ? ` (${o.devices} / numPartitions ${parts})` : ''}: use a device count whose data-parallel part divides ${batch}, or --config.train.batchSize=${Math.ceil(batch / data) * data}`);
  }
}

/**
 * The devices the train step needs, against the client's (opened, nothing compiled yet): an accelerator's count is
 * known only now; with every accelerator device data-parallel, the batch must split over them.
 */
export function checkDevices(plan: RunPlan, client: Client): void {
  if (plan.evalOnly) return;
  const { mesh, devices } = plan.step;
  // Over several processes the mesh spans every process's devices (train/multiprocess/mesh.ts).
  const pool = plan.processes.multi ? client.globalDevices : client.devices;
  const need = mesh?.size ?? devices ?? (client.target === 'cpu' ? 1 : pool.length);
  const asked = mesh ? `--mesh ${showMesh(mesh)}` : `--devices ${need}`;
  if (pool.length < need) {
    throw new FlipError(`${asked} needs ${need} devices; the ${client.target} client has ${pool.length}${plan.processes.multi ? ' in all its processes' : ''}`);
  }
  if (!mesh && devices === undefined && need > 1) {
    const parts = plan.config.partitioning.numPartitions;
    const data = need / parts;
    if (need % parts !== 0 || plan.train.batchSize % data !== 0) {
      throw new FlipError(`the ${need} ${client.target} devices (all of them, data-parallel × numPartitions ${parts}) do not split the batch size ${plan.train.batchSize}: ` +
        `give --devices N or --mesh, or a batch size divisible by ${Number.isInteger(data) ? data : need}`);
    }
  }
}
