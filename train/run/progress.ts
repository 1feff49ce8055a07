// The numbers of a run's steps: the live bar, a progress line every logEverySteps (on a terminal, at each epoch's
// end), the train/* scalars of metrics.jsonl and TensorBoard, and the time spent in steps.
import type { StepMetricsHost } from '../executor.ts';
import { progressLine, type MetricsLog } from '../metrics.ts';
import type { RunOutput } from './output.ts';
import type { RunPlan } from './plan.ts';

export class StepProgress {
  /** Seconds spent in steps, the first one left out (it also warms up the executable). */
  trainSeconds = 0;
  private window = { steps: 0, loss: 0, tau: 0, start: performance.now() };
  // The bar's rates: exponential moving averages of seconds per step and of the loss.
  private secPerStep = 0;
  private emaLoss = 0;
  private lastAt = performance.now();

  constructor(
    private readonly plan: RunPlan,
    private readonly out: RunOutput,
    private readonly metrics: MetricsLog,
    /** The step this invocation started at, and the one it stops at. */
    private readonly startStep: number,
    private readonly end: number,
  ) {}

  /** Step `step` is done: it began at `began` (performance.now()) and gave `m`. */
  stepDone(step: number, began: number, m: StepMetricsHost): void {
    const { loss, tau, lr, gradNorm } = m;
    const { schedule, train: t } = this.plan;
    const { bar, print } = this.out;
    const { startStep, end } = this;
    const now = performance.now();
    if (step > startStep + 1) this.trainSeconds += (now - began) / 1000; // the first step also warms up the executable
    const window = this.window;
    window.steps++;
    window.loss += loss;
    window.tau += tau;
    const epoch = step / schedule.stepsPerEpoch;
    if (bar) {
      const dt = (now - this.lastAt) / 1000;
      this.secPerStep = step === startStep + 1 ? dt : step === startStep + 2 ? dt : 0.9 * this.secPerStep + 0.1 * dt;
      this.emaLoss = step === startStep + 1 ? loss : 0.9 * this.emaLoss + 0.1 * loss;
      bar.update({ step, total: schedule.totalSteps, epoch, loss: this.emaLoss, tau, lr, samplesPerSec: t.batchSize / this.secPerStep, etaSec: (end - step) * this.secPerStep }, step === end);
    }
    this.lastAt = now;
    if (step % t.logEverySteps === 0 || step === end) {
      const secs = (performance.now() - window.start) / 1000;
      const sps = (window.steps * t.batchSize) / secs;
      const eta = ((end - step) * secs) / window.steps;
      const line = progressLine({ step, total: schedule.totalSteps, epoch, loss: window.loss / window.steps, tau: window.tau / window.steps, lr, samplesPerSec: sps, etaSec: eta });
      // On a terminal the bar shows every step; a plain line stays at each epoch's end (and the last step).
      if (!bar || step % schedule.stepsPerEpoch === 0 || step === end) print(line);
      this.metrics.write(step, {
        'train/loss': window.loss / window.steps, 'train/tau': window.tau / window.steps, 'train/lr': lr,
        'train/samples_per_sec': sps, 'train/grad_norm': gradNorm, 'train/epoch': epoch,
      });
      this.window = { steps: 0, loss: 0, tau: 0, start: performance.now() };
    }
  }
}
