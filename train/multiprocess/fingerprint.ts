// Every process of a run must compile the same program: an SPMD step whose processes differ (another config, another
// flip version, another mesh) would hang in its first collective or compute garbage. So at the first compile each
// process puts the fingerprint of what it compiles (sha256 of the StableHLO text and the compile options) into the
// store, reads every peer's within the store's timeout, and stops with one line naming the first process that differs.
import { createHash } from 'node:crypto';
import { FlipError } from '../../compiler/ir/errors.ts';
import type { ProcessGroup } from './group.ts';

export class ProgramMismatchError extends FlipError {
  override name = 'ProgramMismatchError';
}

/** JSON with object keys sorted, so the same options always give the same text. */
function stableJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (typeof v === 'bigint') return JSON.stringify(v.toString());
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString('base64'));
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The fingerprint of a compiled program: sha256 (hex) of its StableHLO text and its compile options (as
 * programs/compile.ts's programCompileOptions gives them; `cache`, which only says whether to reuse an executable,
 * is left out).
 */
export function programFingerprint(mlir: string, compileOptions: object = {}): string {
  const { cache: _cache, ...rest } = compileOptions as Record<string, unknown>;
  return createHash('sha256').update(mlir).update('\0').update(stableJson(rest)).digest('hex');
}

export const shortHash = (fp: string) => fp.slice(0, 12);

/**
 * `fingerprints[i]` is process i's. Null when all equal; otherwise the one line to stop with, naming the first process
 * that differs from process 0 and both short hashes.
 */
export function fingerprintMismatch(fingerprints: readonly string[], what = 'train step'): string | null {
  const first = fingerprints[0];
  for (let i = 1; i < fingerprints.length; i++) {
    if (fingerprints[i] !== first) {
      return `process ${i} compiled another ${what} than process 0 (program ${shortHash(fingerprints[i]!)} vs ${shortHash(first!)}): ` +
        'every process must run the same flip version with the same config, overrides and mesh';
    }
  }
  return null;
}

/** The store key process `processIndex` puts its fingerprint of program `tag` under. */
export const fingerprintKey = (tag: string, processIndex: number) => `flip/program/${tag}/${processIndex}`;

/**
 * Puts this process's fingerprint, reads every other process's (each get waits at most what is left of `timeoutMs`),
 * and throws ProgramMismatchError (one line) on a difference, or a one-line error naming the process whose fingerprint
 * did not come in time. `tag` names the program (e.g. `train_step`); it must be the same on every process.
 */
export async function checkSameProgram(group: ProcessGroup, tag: string, fingerprint: string, timeoutMs: number): Promise<void> {
  await group.put(fingerprintKey(tag, group.processIndex), fingerprint);
  const deadline = Date.now() + timeoutMs;
  const all: string[] = [];
  for (let i = 0; i < group.processCount; i++) {
    if (i === group.processIndex) {
      all.push(fingerprint);
      continue;
    }
    const left = Math.max(1, deadline - Date.now());
    try {
      all.push(await group.get(fingerprintKey(tag, i), left));
    } catch (e) {
      throw new ProgramMismatchError(`process ${i} did not publish the fingerprint of its ${tag} within ${Math.round(timeoutMs / 1000)} s (${(e as Error).message.split('\n')[0]})`);
    }
  }
  const bad = fingerprintMismatch(all, tag);
  if (bad) throw new ProgramMismatchError(bad);
}
