// `flip run`: argument parsing for training and zero-shot evaluation (the work is in train/run/).
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import { parseMesh } from '../../compiler/passes/index.ts';
import { CoordinationError, cpuMultiProcessRefusal, joinProcessGroup, resolvePlugin, TARGETS, type Coordination, type Target } from '../../runtime-native/index.ts';
import { resolveProcessPlan } from '../../runtime-native/cluster.ts';
import { configOptionsIn, overridesFrom } from '../../configs/overrides.ts';
import { resolveConfig } from '../../configs/load.ts';
import { runTraining } from '../../train/run/index.ts';
import type { Command } from '../cli.ts';

const help = `usage: flip run [--config configs/x.ts] [--config.<field>=<value> ...] [--target cpu|gpu|tpu] [--devices N] [--mesh data=4,model=2] [--workdir DIR]

Trains FLIP as the config says and evaluates it zero-shot. Without arguments: configs/synthetic_cpu.ts, a small
FLIP trained on CPU on a synthetic image-caption set (written into the workdir on first use), then
classified zero-shot on held-out images from prompts per class; the accuracy is printed next to chance.

Progress: on a terminal a live bar (step/total, epoch, loss, lr, samples/s, ETA) and a line per epoch;
otherwise a line every logEverySteps. In the workdir: checkpoints/checkpoint_<step>.{safetensors,json}
(params, AdamW moments; step, data position, config), metrics.jsonl and events.out.tfevents.* (TensorBoard:
tensorboard --logdir DIR; flip plot DIR draws the loss and accuracy curves into DIR/metrics.png).
Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and exits (status 130); a second quits at once.
Damaged data (a truncated shard, an image that does not decode, a caption with no token) is skipped,
warned about once per kind and counted; a NaN or inf loss stops the run (status 2) before anything is
saved over the last good checkpoint.

options:
  --config <file>            a configs/*.ts module whose default export is a FlipConfig (default configs/synthetic_cpu.ts)
  --config.<field>=<value>   override one field: our paths (--config.train.learningRate=1e-3,
                             --config.model.img.maskRatio=0) or the official names (--config.learning_rate=1e-3,
                             --config.model.model_img.mask_ratio=0.0); values are parsed as the field's type
                             (a list as 0.9,0.95 or [0.9, 0.95]; a patch size as one number: patchSize=16 is 16×16)
  --target <t>               cpu (default), gpu or tpu: which installed PJRT plugin to run on
  --plugin <path>            a PJRT plugin .so instead of the target's installed one
  --devices <n>              cpu only: the CPU client's device count
  --mesh <axes>              shard the train step over this device mesh, e.g. data=4,model=2 (instead of --devices ×
                             config.partitioning.numPartitions; on cpu it also sets the device count); see
                             docs/distributed.md
  --workdir <dir>            default ./runs/<config name>; one run's: a workdir holding another run's checkpoints is
                             refused unless this run resumes from them (--config.train.resumeDir=DIR)
  --workers <n>              data decode threads (default: cpus - 1)
  --fast-compile             compile at XLA's lowest backend optimization level: several times faster
                             compiles, slower steps (quick checks of a config)

multi-process (one program over several hosts' devices; docs/distributed.md):
  --coordinator <host:port>  process 0's address and the coordinator's port (process 0 listens on it)
  --num-processes <n>        how many processes take part
  --process-id <i>           this process's id, 0..n-1
  --coordination-timeout <s> seconds to reach the coordinator and for every process to join (default 60)
                             Without the flags: FLIP_COORDINATOR, FLIP_NUM_PROCESSES, FLIP_PROCESS_ID, else a Cloud
                             TPU VM slice's, SLURM's (srun) or Open MPI's (mpirun) environment; flip launch --local N
                             starts N processes here.

resume:   --config.train.resumeDir=DIR    continue a run exactly (params, optimizer state, step, data position)
tune:     --config.train.pretrainDir=DIR  start from another run's params (e.g. unmasked tuning:
          --config.model.img.maskRatio=0 with its own --config.train.learningRate and numEpochs)
eval:     --config.eval_only=true --config.train.resumeDir=DIR  only the zero-shot eval of that checkpoint
          (flip eval DIR does the same with the checkpoint's own config; flip eval --help)`;

function positiveInt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new FlipError(`--${name} must be a positive integer, got '${String(v)}'`);
  return n;
}

/** The workdir, or the folder it will be made in, must be a folder flip can write into: checked before anything runs. */
function checkWorkdir(workdir: string): void {
  let at = workdir;
  for (;;) {
    let st;
    try {
      st = statSync(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && path.dirname(at) !== at) {
        at = path.dirname(at);
        continue;
      }
      throw new FlipError(`--workdir ${workdir}: ${code ?? (e as Error).message}`);
    }
    if (!st.isDirectory()) throw new FlipError(`--workdir ${workdir}: ${at} is a file, not a folder; give another --workdir`);
    try {
      accessSync(at, constants.W_OK);
    } catch (e) {
      throw new FlipError(`--workdir ${workdir}: ${at} is not writable (${(e as NodeJS.ErrnoException).code}); give another --workdir`);
    }
    return;
  }
}

/** Whether npm exec (npx) started this process: its parent's command line is `npm exec ...` (Linux; else the env says). */
function underNpmExec(): boolean {
  if (process.env.npm_lifecycle_event !== 'npx') return false;
  try {
    return /^npm exec\b/.test(readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8').replaceAll('\0', ' '));
  } catch {
    return true;
  }
}

const command: Command = {
  summary: 'train FLIP and evaluate it zero-shot (default: a small model on synthetic data, on CPU)',
  help,
  // node's strict argument parser needs every option's name: declare the --config.<field> ones given.
  options: {
    config: { type: 'string' },
    target: { type: 'string' },
    plugin: { type: 'string' },
    devices: { type: 'string' },
    mesh: { type: 'string' },
    workdir: { type: 'string' },
    workers: { type: 'string' },
    'fast-compile': { type: 'boolean' },
    coordinator: { type: 'string' },
    'num-processes': { type: 'string' },
    'process-id': { type: 'string' },
    'coordination-timeout': { type: 'string' },
    ...configOptionsIn(process.argv.slice(2)),
  },
  async run({ values, positionals }) {
    if (positionals.length) throw new FlipError(`unexpected argument '${positionals[0]}' (options only; flip run --help)`);
    const target = (values.target as string | undefined) ?? 'cpu';
    if (!(TARGETS as readonly string[]).includes(target)) throw new FlipError(`--target must be one of ${TARGETS.join(', ')}, got '${target}'`);
    const devices = positiveInt(values.devices, 'devices');
    const mesh = values.mesh === undefined ? undefined : parseMesh(String(values.mesh));
    const workers = values.workers === undefined ? undefined : Number(values.workers);
    if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) throw new FlipError(`--workers must be an integer >= 0, got '${String(values.workers)}'`);
    const processes = await resolveProcessPlan(
      { coordinator: values.coordinator as string | undefined, numProcesses: values['num-processes'] as string | undefined, processId: values['process-id'] as string | undefined },
      { target },
    );
    const coordinationTimeout = values['coordination-timeout'] === undefined ? 60 : Number(values['coordination-timeout']);
    if (!(coordinationTimeout > 0 && coordinationTimeout <= 86400)) throw new FlipError(`--coordination-timeout must be a number of seconds in (0, 86400], got '${String(values['coordination-timeout'])}'`);
    if (processes && target === 'cpu') {
      let plugin = 'cpu';
      try {
        const r = resolvePlugin('cpu', values.plugin as string | undefined);
        plugin = r.installed ? `${r.installed.package} ${r.installed.version}` : r.library;
      } catch {
        // not installed: the name is enough
      }
      throw new CoordinationError(cpuMultiProcessRefusal(plugin, processes.numProcesses), 'UNIMPLEMENTED');
    }
    const config = await resolveConfig(values.config as string | undefined, overridesFrom(values));
    const workdir = path.resolve((values.workdir as string | undefined) ?? path.join('runs', config.name));
    checkWorkdir(workdir);

    const stop = new AbortController();
    // Under `npx flip run`, a terminal's Ctrl-C reaches flip twice: from the terminal (npm's process group) and
    // forwarded by npm a moment later. Within this window a second signal is that copy, not a second Ctrl-C.
    const copyWindowMs = underNpmExec() ? 300 : 0;
    let firstAt = 0;
    const onSigint = () => {
      if (stop.signal.aborted) {
        if (performance.now() - firstAt < copyWindowMs) return;
        console.error('\nflip run: interrupted again; quitting without saving (the last checkpoint stays as it was)');
        process.exit(130);
      }
      console.error('\nflip run: stopping after this step to save a checkpoint (Ctrl-C again to quit now)');
      firstAt = performance.now();
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint); // kill PID (or npm exec forwarding one): as a Ctrl-C, save and exit
    let group: Coordination | undefined;
    let ok = false;
    try {
      if (processes) {
        console.log(`flip run: process ${processes.processId} of ${processes.numProcesses} (coordinator ${processes.coordinator}, from ${processes.source}); waiting for the others ...`);
        group = await joinProcessGroup(processes, { timeoutMs: coordinationTimeout * 1000 });
      }
      const r = await runTraining({
        config, workdir, target: target as Target, stop: stop.signal, fastCompile: values['fast-compile'] === true,
        ...(devices !== undefined ? { devices } : {}),
        ...(mesh ? { mesh } : {}),
        ...(values.plugin ? { plugin: values.plugin as string } : {}),
        ...(workers !== undefined ? { workers } : {}),
        ...(processes && group ? { processes, group } : {}),
      });
      ok = true;
      return r.interrupted ? 130 : 0;
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      // All processes pass the shutdown barrier; a failed one leaves at once, and the others see it gone (named).
      if (group && ok) await group.shutdown(coordinationTimeout * 1000);
      else group?.abort();
    }
  },
};

export default command;
