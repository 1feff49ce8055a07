// A run's saves: the device state copied to the host, refused when it holds NaN or inf (the last good checkpoint
// stays the latest), and written with the step, data position and config (train/checkpoint.ts).
import path from 'node:path';
import { flatten } from '../../compiler/trace/index.ts';
import { FlipError } from '../../compiler/ir/errors.ts';
import { listCheckpoints, saveCheckpoint, type HostState, type LoadedCheckpoint } from '../checkpoint.ts';
import type { StateLeaf } from '../executor.ts';
import type { TensorMap } from '../../io/safetensors.ts';
import { listProcessCheckpoints, saveStatePieces } from '../multiprocess/index.ts';
import type { RunPlan } from './plan.ts';
import type { DeviceState, RunCursor } from './state.ts';

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

/**
 * A run never mixes with another run's checkpoints: it writes workdir/checkpoints, and a save there would overwrite
 * the other run's checkpoint of the same step, prune its older ones, and leave a resume hint that continues the
 * other run. So a run refuses (before anything is opened or written) a workdir whose checkpoints/ holds checkpoints,
 * unless it resumes from one of them. Eval-only runs write no checkpoint.
 */
export function checkCheckpointDirFree(plan: RunPlan, resumed: LoadedCheckpoint | null): void {
  if (plan.evalOnly) return;
  if (resumed && path.resolve(path.dirname(resumed.file)) === path.resolve(plan.checkpointDir)) return;
  // One-process checkpoint files and per-process checkpoint folders (a run of several processes) alike.
  const old = [...listCheckpoints(plan.checkpointDir), ...listProcessCheckpoints(plan.checkpointDir)].sort((a, b) => a.step - b.step);
  if (!old.length) return;
  const what = resumed ? `this run resumes from ${resumed.file}` : 'this run starts fresh';
  throw new FlipError(`${plan.checkpointDir} holds another run's checkpoints (steps ${old.map((c) => c.step).join(', ')}) and ${what}: ` +
    `continue that run with --config.train.resumeDir=${plan.workdir}, or give this one another --workdir (nothing was written)`);
}

/** The checkpoints a training run writes into workdir/checkpoints. */
export class RunCheckpoints {
  /** The last checkpoint this run saved, and its step (-1: none yet). */
  file: string | null = null;
  savedAt = -1;

  constructor(
    private readonly plan: RunPlan,
    /** The checkpoint the run resumed from, if it did. */
    private readonly resumed: LoadedCheckpoint | null,
    private readonly print: (line: string) => void,
    /** The run's id, written into every checkpoint. */
    private readonly run?: string,
  ) {}

  /** For the message of a run that stopped on NaN or inf: the checkpoint to resume from. */
  lastGood(): string {
    const last = listCheckpoints(this.plan.checkpointDir).at(-1);
    const resumed = this.resumed;
    return last ? `the last good checkpoint is ${last.file} (step ${last.step}), left as it was`
      : resumed ? `no checkpoint was saved in this run; the one it resumed from is ${resumed.file} (step ${resumed.meta.step})` : 'no checkpoint was saved before it';
  }

  /**
   * What to do after a divergence: resume from the last good checkpoint when there is one (this run's or the one it
   * resumed from), else start again; never "resume" from nothing.
   */
  divergenceAdvice(): string {
    const last = listCheckpoints(this.plan.checkpointDir).at(-1);
    const lower = 'Lower --config.train.learningRate (or raise warmupEpochs)';
    if (last) return `${lower} and resume from it (--config.train.resumeDir=${path.dirname(this.plan.checkpointDir)})`;
    if (this.resumed) return `${lower} and resume from it (--config.train.resumeDir=${this.plan.config.train.resumeDir || this.resumed.file})`;
    return `${lower} and start the run again`;
  }

  async save(at: RunCursor, why: string): Promise<void> {
    if (this.plan.processes.multi) {
      // Every process writes the blocks it holds; process 0 the index (train/multiprocess/checkpoint.ts).
      this.file = await saveStatePieces(this.plan.processes, at.state, { dir: this.plan.checkpointDir, step: at.step, samples: at.samples, position: at.position, config: this.plan.config, ...(this.run ? { run: this.run } : {}) });
      this.savedAt = at.step;
      this.print(`checkpoint (${why}): ${this.file}`);
      return;
    }
    const host = await toHostState(at.state);
    // A state with NaN or inf (an update that overflowed) is never written over a good checkpoint.
    for (const [group, map] of Object.entries(host)) {
      for (const [name, tensor] of Object.entries(map as TensorMap)) {
        if (!(tensor.data as Float32Array).every(Number.isFinite)) {
          throw new FlipError(`${group}.${name} holds NaN or inf after step ${at.step}: training stopped, the model diverged; not saved, ${this.lastGood()}. ` +
            this.divergenceAdvice());
        }
      }
    }
    this.file = saveCheckpoint(this.plan.checkpointDir, host, { step: at.step, position: at.position, samples: at.samples, config: this.plan.config, ...(this.run ? { run: this.run } : {}) });
    this.savedAt = at.step;
    this.print(`checkpoint (${why}): ${this.file}`);
  }
}
