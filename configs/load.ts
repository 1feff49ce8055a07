// The config of a `flip run`: a configs/*.ts module's default export, with the `--config.<field>=<value>` overrides
// (overrides.ts) applied and the result checked (validate.ts).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { importUserModule } from '../compiler/load/ts_import.ts';
import { ConfigError } from './errors.ts';
import { applyOverrides, officialAliases } from './overrides.ts';
import type { FlipConfig } from './types.ts';
import { checkConfig, validateConfig } from './validate.ts';

/** configs/synthetic_cpu.ts: what `flip run` trains without --config (configs/default.ts is the official default.py, for TPU pods). */
export const DEFAULT_CONFIG = path.resolve(import.meta.dirname, './synthetic_cpu.ts');

/** The default export of a config module (a FlipConfig). */
export async function loadConfigModule(file: string = DEFAULT_CONFIG): Promise<FlipConfig> {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new ConfigError(`config file not found: ${file}`);
  let mod: { default?: unknown };
  try {
    mod = (await importUserModule(abs)) as { default?: unknown };
  } catch (e) {
    throw new ConfigError(`cannot load config ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  const c = mod.default as Partial<FlipConfig> | undefined;
  if (!c || typeof c !== 'object' || !c.model || !c.train) {
    throw new ConfigError(`${file}: its default export must be a FlipConfig ({name, model, partitioning, train}; see configs/types.ts)`);
  }
  return c as FlipConfig;
}

/** Load `file` (default configs/synthetic_cpu.ts), apply the overrides, check it. */
export async function resolveConfig(file: string | undefined, overrides: Readonly<Record<string, string>>): Promise<FlipConfig> {
  const base = await loadConfigModule(file);
  const c = applyOverrides(base, overrides, officialAliases);
  checkConfig(c);
  // The sizes (hidden size by heads, image by patch, ...) are checked here, before any data is written or compiled.
  return validateConfig(c);
}
