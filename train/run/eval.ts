// A run's zero-shot eval: the encoders compiled once (on first use, or ahead of training), the accuracy of params on
// the eval set printed (and, during training, written to the metrics), and config.train.evalOnly's eval of a
// checkpoint.
import { flatten } from '../../compiler/trace/index.ts';
import { FlipError } from '../../compiler/ir/errors.ts';
import { paramCount } from '../../dsl/nn/index.ts';
import { flipSpecs } from '../../models/flip.ts';
import type { Client } from '../../runtime-native/index.ts';
import type { LoadedCheckpoint } from '../checkpoint.ts';
import { paramsOnOneDevice, type StateLeaf } from '../executor.ts';
import type { MetricsLog } from '../metrics.ts';
import { imageEmbeddings, paramSpecs, stateSpecs, textEmbeddings } from '../step.ts';
import { zeroShotEvaluator, type ZeroShotEvaluator, type ZeroShotResult } from '../zeroshot.ts';
import { openEvalData, type EvalSet, type RunData } from './data.ts';
import { describeSkipped, describeZeroShot, type RunOutput } from './output.ts';
import type { RunPlan } from './plan.ts';
import { upload } from './state.ts';

export class RunZeroShot {
  private evaluator: ZeroShotEvaluator | null = null;

  constructor(
    private readonly plan: RunPlan,
    private readonly client: Client,
    private readonly data: RunData,
    private readonly out: RunOutput,
  ) {}

  /** Whether training evaluates (there is an eval set and evals are not switched off). */
  get duringTraining(): boolean {
    return this.data.eval !== null && this.plan.evalDuringTraining;
  }

  /** Compile the encoders now, so that their compile time is not in the first eval's. */
  async compile(): Promise<void> {
    this.evaluator = await this.makeEvaluator(this.data.eval!);
  }

  private async makeEvaluator(set: EvalSet): Promise<ZeroShotEvaluator> {
    const { model, train: t } = this.plan;
    return zeroShotEvaluator({
      client: this.client, classes: await set.classes(this.plan.templates), tokenizer: this.data.tokenizer, clsToken: t.aug.txt.clsToken, log: this.out.log, ...this.plan.compile,
      model: {
        encodeTexts: textEmbeddings(model), encodeImages: imageEmbeddings(model), paramSpecs: paramSpecs(model),
        batchSize: t.batchSize, imageSize: model.img.imageSize, channels: model.img.channels, maxLen: model.txt.maxLen,
      },
    });
  }

  /** Zero-shot accuracy of `params` (device buffers on device 0) on the eval set; eval images skipped are counted in the line. */
  async evaluate(params: unknown, what: string): Promise<ZeroShotResult> {
    const set = this.data.eval!;
    this.evaluator ??= await this.makeEvaluator(set);
    const images = await openEvalData(this.plan, this.data, set);
    const z = await this.evaluator.evaluate(params, images);
    const skipped = describeSkipped(images.stats.skipped);
    this.out.print(`eval ${what}: ${describeZeroShot(z)}${skipped ? `; skipped ${skipped}` : ''} [${z.seconds.toFixed(1)}s]`);
    return z;
  }

  /** The eval of the training state's params at `step`, into the metrics too; null when training does not evaluate. */
  async atStep(params: unknown, step: number, metrics: MetricsLog): Promise<ZeroShotResult | null> {
    if (!this.duringTraining) return null;
    const one = await paramsOnOneDevice(this.client, params);
    const z = await this.evaluate(one.params, `@ step ${step}`).finally(() => one.release());
    const scalars: Record<string, number> = { 'eval/zeroshot_top1': z.top1, 'eval/chance': z.chance };
    if (z.top5 !== null) scalars['eval/zeroshot_top5'] = z.top5;
    metrics.write(step, scalars);
    metrics.flush();
    return z;
  }

  /** config.train.evalOnly: a checkpoint's params, the zero-shot eval, nothing written. */
  async checkpoint(ck: LoadedCheckpoint): Promise<ZeroShotResult> {
    const { config: cfg, model } = this.plan;
    const client = this.client;
    if (!this.data.eval) throw new FlipError('config.train.evalOnly: there is no zero-shot eval set (config.train.data.evalDataset: an image folder or labelled shards)');
    this.out.print(`flip eval: ${ck.file} (step ${ck.meta.step}), config ${cfg.name}, ${(paramCount(flipSpecs(model)) / 1e6).toFixed(2)}M params; eval set: ${this.data.eval.describe}; on ${client.platform.name}`);
    const params = upload(client, stateSpecs(model).params, ck.state.params, ck.file);
    try {
      return await this.evaluate(params, `of step ${ck.meta.step}`);
    } finally {
      for (const b of flatten<StateLeaf>(params).leaves) b.dispose();
    }
  }
}
