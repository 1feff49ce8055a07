// The processes of one run as the trainer sees them: its index and count, and the coordination store's calls it
// needs (put, blocking get with a timeout, barrier). The store itself (process 0 hosts it; runtime-native's KV
// service) is built elsewhere; anything with these calls is a ProcessGroup. `singleProcess()` is the one-process run:
// there is nobody to wait for, so a get of a key this process did not put fails at once instead of waiting.
import { FlipError } from '../../compiler/ir/errors.ts';
import type { Coordination } from '../../runtime-native/index.ts';

export interface ProcessGroup {
  /** This process, 0..processCount-1 (process 0 hosts the store and is the writer). */
  readonly processIndex: number;
  readonly processCount: number;
  put(key: string, value: string): Promise<void>;
  /** The value of `key`, waiting up to `timeoutMs` for some process to put it; rejects (one line) after that. */
  get(key: string, timeoutMs: number): Promise<string>;
  /** Resolves when every process reached barrier `name`; rejects (one line) after `timeoutMs`. */
  barrier(name: string, timeoutMs: number): Promise<void>;
}

export class ProcessGroupError extends FlipError {
  override name = 'ProcessGroupError';
}

/** Checks the index and count a group reports: count ≥ 1, index in [0, count). */
export function checkGroup(g: Pick<ProcessGroup, 'processIndex' | 'processCount'>): void {
  const { processIndex: i, processCount: n } = g;
  if (!Number.isInteger(n) || n < 1) throw new ProcessGroupError(`process count ${n} is not a positive integer`);
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new ProcessGroupError(`process index ${i} is not in [0, ${n})`);
}

/** The group of a one-process run: put/get in this process's memory, barriers pass at once. */
export function singleProcess(): ProcessGroup {
  const kv = new Map<string, string>();
  return {
    processIndex: 0,
    processCount: 1,
    async put(key, value) {
      kv.set(key, value);
    },
    async get(key) {
      const v = kv.get(key);
      if (v === undefined) throw new ProcessGroupError(`key '${key}' was never put (one-process run: no other process can put it)`);
      return v;
    },
    async barrier() {},
  };
}

/**
 * The ProcessGroup of runtime-native's coordination store (what `flip run` joined): the same calls, with the store's
 * own errors (a timeout, a process gone, named) passed on as they are.
 */
export function storeGroup(c: Pick<Coordination, 'processIndex' | 'processCount' | 'put' | 'get' | 'barrier'>): ProcessGroup {
  checkGroup(c);
  return {
    processIndex: c.processIndex,
    processCount: c.processCount,
    put: (key, value) => c.put(key, value),
    get: (key, timeoutMs) => c.get(key, timeoutMs),
    barrier: (name, timeoutMs) => c.barrier(name, timeoutMs),
  };
}
