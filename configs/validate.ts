// Whether a FlipConfig's sizes fit together, checked before anything is built from it. The model section's rules live
// with the model's config types (models/flip.ts `modelConfigProblems`: models/ may not import configs/), and the model
// raises them itself whenever it is built (`new Flip`, so every entry, `flipSpecs`, `initParams`, and the
// `<entry>Inputs` that `flipc compile` reads); `validateConfig` is the same check for a whole config, for whoever loads
// one (`flip run`'s resolveConfig should call it after the overrides, so that the error comes before any data work).
import { FlipError } from '../compiler/ir/index.ts';
import { modelConfigProblems } from '../models/flip.ts';
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
