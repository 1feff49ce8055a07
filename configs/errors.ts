// The error of a config that cannot be used as given: a missing or malformed config file, an unknown
// `--config.<field>`, a value of the wrong type, a value the trainer cannot run with.
import { FlipError } from '../compiler/ir/errors.ts';

export class ConfigError extends FlipError {
  override name = 'ConfigError';
}
