// The training loop: batches through the compiled step until the schedule's end (or stopAfter, or a stop request),
// a NaN or inf stopping it before anything is saved, the zero-shot eval every vis_every_epochs and a checkpoint every
// save_every_epochs; then the last eval, the last save and the run's summary.
import { FlipError } from '../../compiler/ir/errors.ts';
import type { Batch, DataLoader } from '../data/loader.ts';
import type { StepExecutor } from '../executor.ts';
import { formatDuration, type MetricsLog } from '../metrics.ts';
import type { ZeroShotResult } from '../zeroshot.ts';
import type { RunCheckpoints } from './checkpoints.ts';
import { openTrainData, type RunData } from './data.ts';
import type { RunZeroShot } from './eval.ts';
import { describeSkipped, describeZeroShot, type RunOutput } from './output.ts';
import type { RunPlan, RunResult } from './plan.ts';
import { StepProgress } from './progress.ts';
import type { DeviceState, RunCursor } from './state.ts';

export interface LoopParts {
  plan: RunPlan;
  out: RunOutput;
  data: RunData;
  executor: StepExecutor;
  /** Where training starts; the loop moves it on. */
  cursor: RunCursor;
  checkpoints: RunCheckpoints;
  zeroShot: RunZeroShot;
  metrics: MetricsLog;
  /** performance.now() at the start of the run (for its total time). */
  startedAt: number;
}

export async function trainLoop(p: LoopParts): Promise<RunResult> {
  const { plan, out, cursor, checkpoints, metrics } = p;
  const { schedule, train: t } = plan;
  const { print, warn } = out;
  let train: DataLoader | null = await openTrainData(plan, p.data, cursor.position, print);
  try {
    const trainStats = train.stats;
    const startStep = cursor.step;
    const end = plan.stopAfter !== undefined ? Math.min(schedule.totalSteps, startStep + plan.stopAfter) : schedule.totalSteps;
    const losses: number[] = [];
    let zeroShot: ZeroShotResult | null = null;
    if (cursor.step >= end) print(`nothing to train: step ${cursor.step} of ${schedule.totalSteps}`);
    else print(`training steps ${cursor.step + 1}..${end} of ${schedule.totalSteps}`);
    const progress = new StepProgress(plan, out, metrics, startStep, end);
    let interrupted = false;
    try {
      while (cursor.step < end) {
        if (plan.stop?.aborted) {
          interrupted = true;
          break;
        }
        const batch: Batch | null = await train.next();
        if (!batch) throw new FlipError(`the training data ran out at step ${cursor.step}`);
        const ts = performance.now();
        const [next, m] = await p.executor.run(cursor.state, batch, cursor.step);
        const { loss, tau, lr, gradNorm } = m;
        cursor.state = next as DeviceState;
        // NaN or inf: stop before this state is saved anywhere; the last checkpoint on disk stays the last good one.
        const bad = ([['train/loss', loss], ['train/grad_norm', gradNorm], ['train/tau', tau]] as const).find(([, v]) => !Number.isFinite(v));
        if (bad) {
          metrics.write(cursor.step + 1, { 'train/loss': loss, 'train/grad_norm': gradNorm, 'train/tau': tau, 'train/lr': lr });
          metrics.flush();
          throw new FlipError(`${bad[0]} is ${bad[1]} at step ${cursor.step + 1} (lr ${lr.toExponential(2)}): training stopped, the model diverged; ${checkpoints.lastGood()}. ` +
            checkpoints.divergenceAdvice());
        }
        cursor.step++;
        cursor.samples += batch.count;
        cursor.position = batch.position;
        losses.push(loss);
        const step = cursor.step;
        progress.stepDone(step, ts, m);
        if (step % schedule.stepsPerEpoch === 0) {
          const epoch = step / schedule.stepsPerEpoch;
          const last = step === schedule.totalSteps;
          if (epoch % t.visEveryEpochs === 0 && !last) zeroShot = await p.zeroShot.atStep(cursor.state.params, step, metrics);
          if (epoch % t.saveEveryEpochs === 0 || last) await checkpoints.save(cursor, `epoch ${epoch}`);
        }
      }
    } finally {
      out.bar?.done();
    }
    await train.close();
    train = null;

    // ---- the end: the last eval and save, the summary ----
    const step = cursor.step;
    if (interrupted) print(`interrupted at step ${step}`);
    if (step === schedule.totalSteps && !interrupted) zeroShot = await p.zeroShot.atStep(cursor.state.params, step, metrics);
    if (checkpoints.savedAt !== step) await checkpoints.save(cursor, interrupted ? 'interrupted' : step === schedule.totalSteps ? 'end' : 'stop');
    else if (interrupted) print(`checkpoint (interrupted): ${checkpoints.file} (saved at this step)`);
    metrics.flush();
    const skipped = describeSkipped(trainStats.skipped);
    if (skipped) warn(`data: skipped ${skipped} training sample(s) or shard tail(s) in all; training went on`);
    const seconds = (performance.now() - p.startedAt) / 1000;
    const ran = step - startStep;
    const trainSeconds = progress.trainSeconds;
    if (ran > 1) print(`trained ${ran} steps in ${formatDuration(trainSeconds)} (${(((ran - 1) * t.batchSize) / trainSeconds).toFixed(1)} samples/s after the first step); total ${formatDuration(seconds)}`);
    if (zeroShot) print(describeZeroShot(zeroShot));
    if (interrupted || step < schedule.totalSteps) print(`resume with: flip run ... --config.train.resumeDir=${plan.workdir}`);
    return { step, stepsRun: ran, losses, zeroShot, checkpoint: checkpoints.file, interrupted, seconds, skipped: { ...trainStats.skipped } };
  } finally {
    await train?.close();
  }
}
