// `flip run`: the training program, composed of its parts. The options resolved once into a plan (plan.ts); the
// checkpoints it starts from read and checked (state.ts) before the plugin is opened; the data, synthetic or
// webdataset shards (data.ts); then either config.train.evalOnly's eval of a checkpoint (eval.ts), or the state
// (state.ts), the compiled train step (compiled_step.ts) and the loop (loop.ts: progress.ts's numbers, checkpoints.ts's
// saves every save_every_epochs and on interrupt, eval.ts's zero-shot eval every vis_every_epochs and at the end).
import path from 'node:path';
import { paramCount } from '../../dsl/nn/index.ts';
import { flipSpecs } from '../../models/flip.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { emptySkipCounts } from '../data/webdataset.ts';
import { MetricsLog } from '../metrics.ts';
import { metricsFor, outputFor } from '../multiprocess/index.ts';
import { RunCheckpoints } from './checkpoints.ts';
import { compileTrainStep } from './compiled_step.ts';
import { prepareData } from './data.ts';
import { RunZeroShot } from './eval.ts';
import { trainLoop } from './loop.ts';
import { runOutput } from './output.ts';
import { checkDevices, planRun, type RunOptions, type RunResult } from './plan.ts';
import { readStartCheckpoints, startState } from './state.ts';
import { newRunId, setAsideOtherRunMetrics, WorkdirLock } from './workdir.ts';

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
  // One run at a time in a workdir (an eval writes nothing there: it takes no lock); over several processes sharing
  // it, process 0 holds the lock for all of them (another run's process 0 then stops, and its peers with it).
  const lock = plan.evalOnly || !plan.processes.role.isWriter ? null : WorkdirLock.acquire(plan.workdir, out.print);
  let client: Client | null = null;
  let metrics: MetricsLog | null = null;
  try {
    const from = readStartCheckpoints(plan);
    // The plugin next: a missing one is reported before any data is written.
    client = plan.client ?? await openClient(plan.openClient);
    checkDevices(plan, client);
    const data = await prepareData(plan, out);
    const zeroShot = new RunZeroShot(plan, client, data, out);
    if (plan.evalOnly) {
      const ck = (from.resumed ?? from.pretrained)!;
      const z = await zeroShot.checkpoint(ck);
      return { step: ck.meta.step, stepsRun: 0, losses: [], zeroShot: z, checkpoint: ck.file, interrupted: false, seconds: (performance.now() - startedAt) / 1000, skipped: emptySkipCounts() };
    }

    // This workdir's run continues (metrics.jsonl appended to) only when resuming from its own checkpoints; another
    // run's numbers left there (by a run that saved no checkpoint) are moved aside first. Over several processes only
    // process 0 writes metrics.jsonl and the TensorBoard events (the others' sink writes nothing; the loop only writes and flushes).
    const continues = from.resumed !== null && path.resolve(path.dirname(from.resumed.file)) === path.resolve(plan.checkpointDir);
    if (!continues && plan.processes.role.isWriter) {
      const moved = setAsideOtherRunMetrics(plan.workdir);
      if (moved) out.print(moved);
    }
    const runId = from.resumed?.meta.run ?? newRunId();
    metrics = metricsFor(plan.processes.role, () => new MetricsLog(plan.workdir, runId)) as MetricsLog;
    out.print(`flip run: ${plan.config.name}, ${(paramCount(flipSpecs(plan.model)) / 1e6).toFixed(2)}M params, batch ${plan.train.batchSize}, ` +
      `${plan.schedule.totalSteps} steps (${plan.train.numEpochs} virtual epochs of ${plan.schedule.stepsPerEpoch} steps), image mask ratio ${plan.model.img.maskRatio}, ` +
      `on ${client.platform.name} (${client.devices[0]!.kind})`);
    out.print(`workdir: ${plan.workdir}`);
    const cursor = await startState(plan, client, from, out);
    const executor = await compileTrainStep(plan, client, out);
    if (zeroShot.duringTraining) await zeroShot.compile();
    const checkpoints = new RunCheckpoints(plan, from.resumed, out.print, runId);
    return await trainLoop({ plan, out, data, executor, cursor, checkpoints, zeroShot, metrics, startedAt });
  } finally {
    out.bar?.done();
    metrics?.close();
    if (client && !plan.client) client.dispose();
    lock?.release();
  }
}
