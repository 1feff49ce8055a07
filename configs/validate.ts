// Whether a FlipConfig's sizes fit together, checked before anything is built from it. The model section's rules live
// with the model's config types (models/flip.ts `modelConfigProblems`: models/ may not import configs/), and the model
// raises them itself whenever it is built (`new Flip`, so every entry, `flipSpecs`, `initParams`, and the
// `<entry>Inputs` that `flipc compile` reads); `validateConfig` is the same check for a whole config, for whoever loads
// one (`flip run`'s resolveConfig, load.ts, calls it after the overrides, so that the error comes before any data work).
// And `checkConfig`: the training values (batch size, epochs, rates, ...) that the trainer needs sane.
import { FlipError } from '../compiler/ir/index.ts';
import { modelConfigProblems } from '../models/flip.ts';
import { ConfigError } from './errors.ts';
import type { FlipConfig } from './types.ts';

/** Every field of `cfg` whose value does not fit (the model's sizes, the partitioning), each named by its path. */
export function configProblems(cfg: FlipConfig): string[] {
  const out = modelConfigProblems(cfg.model, 'model');
  const n = cfg.partitioning.numPartitions;
  if (!(Number.isInteger(n) && n >= 1)) out.push(`partitioning.numPartitions must be a positive integer, got ${JSON.stringify(n)}`);
  return out;
}

/**
 * One FlipError naming every field that does not fit, e.g. `config: model.img.hiddenSize 100 is not divisible by
 * model.img.transformer.numHeads 3; model.img.imageSize 100 is not divisible by model.img.patchSize 16x16`.
 */
export function validateConfig(cfg: FlipConfig): FlipConfig {
  const problems = configProblems(cfg);
  if (problems.length) throw new FlipError(`config${cfg.name ? ` '${cfg.name}'` : ''}: ${problems.join('; ')}`);
  return cfg;
}

/** A FlipConfig's values that the trainer needs sane, checked with the field named. */
export function checkConfig(c: FlipConfig): void {
  const t = c.train;
  const need = (ok: boolean, field: string, what: string, v: unknown) => {
    if (!ok) throw new ConfigError(`config.${field} must be ${what}, got ${JSON.stringify(v)}`);
  };
  const posInt = (v: number) => Number.isInteger(v) && v >= 1;
  need(posInt(t.batchSize), 'train.batchSize', 'a positive integer', t.batchSize);
  need(t.numEpochs > 0, 'train.numEpochs', 'positive', t.numEpochs);
  need(t.warmupEpochs >= 0, 'train.warmupEpochs', '≥ 0', t.warmupEpochs);
  need(posInt(t.samplesPerEpoch), 'train.samplesPerEpoch', 'a positive integer', t.samplesPerEpoch);
  need(t.samplesPerEpoch >= t.batchSize, 'train.samplesPerEpoch', `at least the batch size (${t.batchSize})`, t.samplesPerEpoch);
  need(t.learningRate >= 0, 'train.learningRate', '≥ 0', t.learningRate);
  need(posInt(t.logEverySteps), 'train.logEverySteps', 'a positive integer', t.logEverySteps);
  need(t.saveEveryEpochs > 0 && Number.isInteger(t.saveEveryEpochs), 'train.saveEveryEpochs', 'a positive integer', t.saveEveryEpochs);
  need(t.visEveryEpochs > 0 && Number.isInteger(t.visEveryEpochs), 'train.visEveryEpochs', 'a positive integer', t.visEveryEpochs);
  need(c.model.img.maskRatio >= 0 && c.model.img.maskRatio < 1, 'model.img.maskRatio', 'in [0, 1)', c.model.img.maskRatio);
  need(!(t.resumeDir && t.pretrainDir), 'train.resumeDir', "empty when train.pretrainDir is set (resume continues a run; pretrain starts one from another's params)", t.resumeDir);
}
