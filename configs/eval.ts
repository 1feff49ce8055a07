// `flip eval`: which config and workdir a checkpoint's zero-shot eval runs with. Without --config the checkpoint's own
// config (saved in its JSON) is the base, so `flip eval runs/x` evaluates a run as it was trained; overrides apply on
// top (e.g. another eval set). The run is `flip run` with config.train.evalOnly: params only, nothing written.
// Checkpoints are train/'s: the caller hands in their reader (train/checkpoint.ts `readAnyCheckpointMeta`: flip's own
// or a t5x checkpoint folder, which carries no config, so the default or --config is the base).
import path from 'node:path';
import { ConfigError } from './errors.ts';
import { loadConfigModule } from './load.ts';
import { applyOverrides, officialAliases } from './overrides.ts';
import type { FlipConfig } from './types.ts';
import { checkConfig } from './validate.ts';

/** Finds the checkpoint JSON that `where` names and reads it (train/checkpoint.ts `readCheckpointMeta`). */
export type ReadCheckpointMeta = (where: string) => { file: string; meta: { config: unknown } };

export interface EvalConfig {
  config: FlipConfig;
  /** The checkpoint JSON evaluated. */
  checkpoint: string;
  /** Where the config came from, for the log. */
  source: string;
  /** The run folder of the checkpoint (where a synthetic run keeps its data). */
  runDir: string;
}

const isFlipConfig = (c: unknown): c is FlipConfig =>
  !!c && typeof c === 'object' && typeof (c as FlipConfig).model === 'object' && typeof (c as FlipConfig).train === 'object';

/** The run folder a checkpoint JSON belongs to: `<run>/checkpoints/checkpoint_N.json` → `<run>`. */
export function runDirOf(checkpointFile: string): string {
  const dir = path.dirname(path.resolve(checkpointFile));
  return path.basename(dir) === 'checkpoints' ? path.dirname(dir) : dir;
}

/**
 * The eval's config: `configFile` (or the checkpoint's saved config, or the default) with `overrides`, evalOnly set,
 * and the checkpoint (`checkpoint`, or --config.train.resumeDir / pretrainDir; read with `readCheckpointMeta`) as the
 * params to load.
 */
export async function resolveEvalConfig(
  o: { configFile?: string; checkpoint?: string; overrides: Readonly<Record<string, string>> },
  readCheckpointMeta: ReadCheckpointMeta,
): Promise<EvalConfig> {
  let where = o.checkpoint;
  if (!where) {
    // A checkpoint given as an override (--config.train.resumeDir=..., --config.resume_dir=..., or pretrainDir).
    const probe = applyOverrides(await loadConfigModule(o.configFile), o.overrides, officialAliases);
    where = probe.train.resumeDir || probe.train.pretrainDir || undefined;
  }
  if (!where) throw new ConfigError('flip eval needs a checkpoint: flip eval DIR (a run folder, its checkpoints/ folder or a checkpoint_*.json), or --checkpoint DIR');
  const { file, meta } = readCheckpointMeta(where);
  let base: FlipConfig;
  let source: string;
  if (o.configFile) {
    base = await loadConfigModule(o.configFile);
    source = o.configFile;
  } else if (isFlipConfig(meta.config)) {
    base = meta.config;
    source = `the checkpoint's (${base.name})`;
  } else {
    base = await loadConfigModule();
    source = `the default (${base.name}; the checkpoint has no config of its own)`;
  }
  const c = applyOverrides(base, o.overrides, officialAliases);
  // Params only, from this checkpoint; whatever the training run resumed from does not matter here.
  c.train.evalOnly = true;
  c.train.resumeDir = '';
  c.train.pretrainDir = file;
  checkConfig(c);
  return { config: c, checkpoint: file, source, runDir: runDirOf(file) };
}
