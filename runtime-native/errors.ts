// Errors of the runtime: PJRT's own failures (with its absl status code) and plugin problems a user can fix.
import { FlipError } from '../compiler/ir/errors.ts';

/** absl status code names, as PJRT_Error_GetCode reports them. */
export type PjrtCode =
  | 'CANCELLED' | 'UNKNOWN' | 'INVALID_ARGUMENT' | 'DEADLINE_EXCEEDED' | 'NOT_FOUND' | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION' | 'ABORTED' | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED' | 'INTERNAL' | 'UNAVAILABLE' | 'DATA_LOSS' | 'UNAUTHENTICATED';

/**
 * A failure reported by the PJRT plugin (compile errors, bad arguments, execution errors), or a
 * misuse of a runtime handle (a disposed or donated buffer, a disposed client), with the plugin's
 * message and status code.
 */
export class PjrtError extends Error {
  override name = 'PjrtError';
  constructor(message: string, readonly code: PjrtCode) {
    super(message);
  }
}

/**
 * No usable plugin: none installed for a target, a path that does not exist or is not a PJRT
 * plugin, an API version too old, or no device for the plugin. The message says what to do.
 */
export class PluginError extends FlipError {
  override name = 'PluginError';
  constructor(message: string, readonly code: PjrtCode = 'FAILED_PRECONDITION') {
    super(message);
  }
}

/**
 * A multi-process run that cannot go on: the coordinator cannot be reached, a process is missing or gone (its id and
 * host named), a barrier or a get timed out, a bad process plan. One line for the user; `code` is the absl code
 * (UNAVAILABLE: a process is gone; DEADLINE_EXCEEDED: a timeout; NOT_FOUND: a try-get missed; INVALID_ARGUMENT).
 */
export class CoordinationError extends FlipError {
  override name = 'CoordinationError';
  constructor(message: string, readonly code: PjrtCode = 'UNAVAILABLE') {
    super(message);
  }
}
