// The config of a `flip run`: a configs/*.ts module's default export, `--config.<field>=<value>` overrides (our
// camelCase paths, or the official ml_collections names such as `learning_rate` and `model.model_img.mask_ratio`),
// and checks of the values the trainer relies on.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FlipConfig } from './types.ts';
import { applyOverrides, ConfigError } from './overrides.ts';
import { validateConfig } from './validate.ts';

/** configs/synthetic_cpu.ts: what `flip run` trains without --config (configs/default.ts is the official default.py, for TPU pods). */
export const DEFAULT_CONFIG = path.resolve(import.meta.dirname, './synthetic_cpu.ts');

/** The default export of a config module (a FlipConfig). */
export async function loadConfigModule(file: string = DEFAULT_CONFIG): Promise<FlipConfig> {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new ConfigError(`config file not found: ${file}`);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
  } catch (e) {
    throw new ConfigError(`cannot load config ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  const c = mod.default as Partial<FlipConfig> | undefined;
  if (!c || typeof c !== 'object' || !c.model || !c.train) {
    throw new ConfigError(`${file}: its default export must be a FlipConfig ({name, model, partitioning, train}; see configs/types.ts)`);
  }
  return c as FlipConfig;
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Where an official configs/default.py name lives in a FlipConfig (tried when the name is not a path as written). */
export function officialAliases(field: string): string[] {
  const special: Record<string, string> = {
    laion_path: 'train.data.laionPath',
    eval_dataset: 'train.data.evalDataset',
    seed_jax: 'train.seed',
    exclude_wd: 'train.optimizer.excludeWd',
    opt_type: 'train.optimizer.type',
    opt_mu_dtype: 'train.optimizer.muDtype',
    'aug.txt.max_len': 'model.txt.maxLen',
  };
  if (special[field]) return [special[field]];
  let f = field.split('.').map(camel).join('.');
  f = f.replace(/^model\.modelImg\b/, 'model.img').replace(/^model\.modelTxt\b/, 'model.txt').replace(/^model\.(img|txt)\.patches\.size$/, 'model.$1.patchSize');
  f = f.replace(/^opt\./, 'optimizer.');
  return [f, `train.${f}`];
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

/** Load `file` (default configs/synthetic_cpu.ts), apply the overrides, check it. */
export async function resolveConfig(file: string | undefined, overrides: Readonly<Record<string, string>>): Promise<FlipConfig> {
  const base = await loadConfigModule(file);
  const c = applyOverrides(base, overrides, officialAliases);
  checkConfig(c);
  // The sizes (hidden size by heads, image by patch, ...) are checked here, before any data is written or compiled.
  return validateConfig(c);
}
