// `flip run`: the training program, composed of its parts. The options resolved once into a plan (plan.ts); the
// checkpoints it starts from read and checked (state.ts) before the plugin is opened; the data, synthetic or
// webdataset shards (data.ts); then either config.train.evalOnly's eval of a checkpoint (eval.ts), or the state
// (state.ts), the compiled train step (compiled_step.ts) and the loop (loop.ts: progress.ts's numbers, checkpoints.ts's
// saves every save_every_epochs and on interrupt, eval.ts's zero-shot eval every vis_every_epochs and at the end).
import { paramCount } from '../../dsl/nn/index.ts';
import { flipSpecs } from '../../models/flip.ts';
import { openClient } from '../../runtime-native/index.ts';
import { emptySkipCounts } from '../data/webdataset.ts';
import { MetricsLog } from '../metrics.ts';
import { metricsFor, outputFor } from '../multiprocess/index.ts';
import { RunCheckpoints } from './checkpoints.ts';
import { compileTrainStep } from './compiled_step.ts';
import { prepareData } from './data.ts';
import { RunZeroShot } from './eval.ts';
import { trainLoop } from './loop.ts';
import { runOutput } from './output.ts';
import { planRun, type RunOptions, type RunResult } from './plan.ts';
import { readStartCheckpoints, startState } from './state.ts';

export type { RunOptions, RunResult } from './plan.ts';
export { SYNTH_MAX } from './data.ts';
export { describeSkipped, describeZeroShot } from './output.ts';

/** Train (and evaluate) as the config says; see {@link RunOptions}. With `config.train.evalOnly`, evaluate a checkpoint. */
export async function runTraining(o: RunOptions): Promise<RunResult> {
  const startedAt = performance.now();
  const plan = planRun(o);
  // Over several processes only process 0 prints progress and draws the bar; the others' warnings say whose they are.
  const out = runOutput(outputFor(plan.processes.role, o));
  for (const note of plan.notes) out.print(note);
  const from = readStartCheckpoints(plan);
  // The plugin next: a missing one is reported before any data is written.
  const client = plan.client ?? await openClient(plan.openClient);
  let metrics: MetricsLog | null = null;
  try {
    const data = await prepareData(plan, out);
    const zeroShot = new RunZeroShot(plan, client, data, out);
    if (plan.evalOnly) {
      const ck = (from.resumed ?? from.pretrained)!;
      const z = await zeroShot.checkpoint(ck);
      return { step: ck.meta.step, stepsRun: 0, losses: [], zeroShot: z, checkpoint: ck.file, interrupted: false, seconds: (performance.now() - startedAt) / 1000, skipped: emptySkipCounts() };
    }

    // Only process 0 writes metrics.jsonl and the TensorBoard events (the others' sink writes nothing; the loop only writes and flushes).
    metrics = metricsFor(plan.processes.role, () => new MetricsLog(plan.workdir)) as MetricsLog;
    out.print(`flip run: ${plan.config.name}, ${(paramCount(flipSpecs(plan.model)) / 1e6).toFixed(2)}M params, batch ${plan.train.batchSize}, ` +
      `${plan.schedule.totalSteps} steps (${plan.train.numEpochs} virtual epochs of ${plan.schedule.stepsPerEpoch} steps), image mask ratio ${plan.model.img.maskRatio}, ` +
      `on ${client.platform.name} (${client.devices[0]!.kind})`);
    out.print(`workdir: ${plan.workdir}`);
    const cursor = await startState(plan, client, from, out);
    const executor = await compileTrainStep(plan, client, out);
    if (zeroShot.duringTraining) await zeroShot.compile();
    const checkpoints = new RunCheckpoints(plan, from.resumed, out.print);
    return await trainLoop({ plan, out, data, executor, cursor, checkpoints, zeroShot, metrics, startedAt });
  } finally {
    out.bar?.done();
    metrics?.close();
    if (!plan.client) client.dispose();
  }
}
