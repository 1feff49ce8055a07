// Where a run's state starts: the checkpoints it resumes from (params, moments, step, data position) or takes its
// params from (pretrainDir), read and checked before the plugin is opened; then the state on the device, uploaded
// from one of them or freshly initialised.
import { flatten, unflatten } from '../../compiler/trace/index.ts';
import { FlipError } from '../../compiler/ir/errors.ts';
import type { Client } from '../../runtime-native/index.ts';
import { checkCheckpointFits, loadCheckpoint, type LoadedCheckpoint } from '../checkpoint.ts';
import { findProcessCheckpoint } from '../multiprocess/index.ts';
import { checkCheckpointDirFree } from './checkpoints.ts';
import { compileFunction, specLeaves } from '../compiled.ts';
import type { StreamPosition } from '../data/webdataset.ts';
import type { TensorMap } from '../../io/safetensors.ts';
import { initState, paramSpecs, stateSpecs } from '../step.ts';
import { isT5xCheckpoint } from '../../io/t5x.ts';
import { loadT5xCheckpoint } from '../t5x_checkpoint.ts';
import type { RunOutput } from './output.ts';
import type { RunPlan } from './plan.ts';

/** The state as device buffers with their dotted paths (params.<p>, mu.<p>, nu.<p>). */
export type DeviceState = { params: unknown; mu: unknown; nu: unknown };

/** How far a run is: its state on the device, the updates done, the samples seen and where the data continues. */
export interface RunCursor {
  state: DeviceState;
  step: number;
  samples: number;
  position: StreamPosition | null;
}

/** The checkpoints a run starts from: config.train.resumeDir's and config.train.pretrainDir's. */
export interface StartCheckpoints {
  resumed: LoadedCheckpoint | null;
  pretrained: LoadedCheckpoint | null;
}

/**
 * The run's checkpoints, read and checked against this config's model: a wrong path, an unreadable file or a
 * checkpoint of another model is reported before the plugin is opened or anything is written.
 */
export function readStartCheckpoints(plan: RunPlan): StartCheckpoints {
  const t = plan.train;
  const want = specLeaves(paramSpecs(plan.model));
  // The official format (a t5x checkpoint folder) is converted to flip's layout and checked as it is read.
  const load = (where: string, pretrain: boolean): LoadedCheckpoint => {
    if (isT5xCheckpoint(where)) return loadT5xCheckpoint(where, plan.model, { moments: !pretrain && !t.evalOnly, pretrain, configName: plan.config.name, batchSize: t.batchSize });
    const ck = loadCheckpoint(where, plan.processes.group);
    // A pretrain takes params only: what a checkpoint says of its data position is not this run's concern.
    return pretrain ? { ...ck, notes: [] } : ck;
  };
  // A run of several processes resumes from a per-process checkpoint first (loadCheckpoint prefers one-process ones).
  const multiFolder = t.resumeDir && plan.processes.multi && !isT5xCheckpoint(t.resumeDir) ? findProcessCheckpoint(t.resumeDir) : null;
  const perProcess = multiFolder ? loadCheckpoint(multiFolder, plan.processes.group) : null;
  const resumed = perProcess ?? (t.resumeDir ? load(t.resumeDir, false) : null);
  const pretrained = t.pretrainDir ? load(t.pretrainDir, true) : null;
  if (resumed) checkCheckpointFits(resumed, want, { moments: !t.evalOnly, configName: plan.config.name });
  if (pretrained) checkCheckpointFits(pretrained, want, { moments: false, configName: plan.config.name });
  // A resumed step past the schedule's end is not a step of this run (a checkpoint of a longer run, or one edited).
  if (resumed && !t.evalOnly && resumed.meta.step > plan.schedule.totalSteps) {
    throw new FlipError(`${resumed.file} records step ${resumed.meta.step}, past the end of this run's schedule (${plan.schedule.totalSteps} steps: ` +
      `${t.numEpochs} virtual epochs of ${plan.schedule.stepsPerEpoch}); nothing was written. Resume it with the config it was trained with, or raise --config.train.numEpochs`);
  }
  checkCheckpointDirFree(plan, resumed);
  return { resumed, pretrained };
}

/** Upload host tensors by path into the structure of `specs`, checking every shape. */
export function upload(client: Client, specs: unknown, map: TensorMap, what: string): unknown {
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

/** The state training starts from: resumed (params, moments, step, data position), pretrained (params only) or fresh. */
export async function startState(plan: RunPlan, client: Client, from: StartCheckpoints, out: RunOutput): Promise<RunCursor> {
  const { resumed, pretrained } = from;
  const specs = stateSpecs(plan.model);
  if (resumed) {
    const ck = resumed;
    const state = {
      params: upload(client, specs.params, ck.state.params, ck.file),
      mu: upload(client, specs.mu, ck.state.mu, ck.file),
      nu: upload(client, specs.nu, ck.state.nu, ck.file),
    };
    const { step, samples, position } = ck.meta;
    for (const n of ck.notes ?? []) out.print(n);
    out.print(`resumed from ${ck.file}: step ${step}, ${samples} samples seen`);
    return { state, step, samples, position };
  }
  if (pretrained) {
    const ck = pretrained;
    const zeros = zerosMap(specs.params);
    const state = { params: upload(client, specs.params, ck.state.params, ck.file), mu: upload(client, specs.mu, zeros, 'zeros'), nu: upload(client, specs.nu, zeros, 'zeros') };
    for (const n of ck.notes ?? []) out.print(n);
    out.print(`params from ${ck.file} (step ${ck.meta.step}); optimizer state, step and data position start fresh`);
    return { state, step: 0, samples: 0, position: null };
  }
  // Run once: compiled at the lowest optimization level, which compiles several times faster.
  const init = await compileFunction(() => initState(plan.train.seed, plan.model), [], { client, name: 'init_state', log: out.log, optLevel: 0 });
  return { state: (await init.run([])) as DeviceState, step: 0, samples: 0, position: null };
}
