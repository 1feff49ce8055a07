// What a flip process needs from its environment at start-up, before anything else runs, and the restart that
// gives it (docs/runtime.md, "Host memory"). Plain JavaScript: bin/start.mjs (both CLIs) calls it before TypeScript is loaded.
//
// The CPU plugin allocates each execution's temporary buffer (635 MiB for flip_small's train step at mask 0.5) with
// malloc on a PJRT thread. glibc gives each thread its own arena, whose heaps hold at most 64 MiB, so a block that
// large is always a fresh mmap of its own, unmapped again when the step ends: ~160k page faults, each a 4 KiB page
// zeroed by the kernel, every step. With one arena for all threads (glibc.malloc.arena_max=1) the block comes from
// the main heap, where the addon's keepHostMemory (no mmap, no trimming) keeps it for the next step. glibc reads its
// tunables only when a process starts, so a CPU process without the setting restarts itself once, in place (execve:
// the same pid and stdio).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ONE_ARENA = 'glibc.malloc.arena_max=1';
/** Set by the restart: the GLIBC_TUNABLES the process was started with ('' when it had none). */
export const STARTED_WITH = 'FLIP_STARTED_GLIBC_TUNABLES';

const addonPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'flip_pjrt.node');

/**
 * The host-memory mode FLIP_HOST_MALLOC asks for: 'keep' (unset, empty or `keep`), 'system', or null for any other
 * value (openClient, which reads it through this function too, refuses it by name; the start-up leaves such a
 * process as it is).
 * @param {NodeJS.ProcessEnv} env
 * @returns {'keep' | 'system' | null}
 */
export function hostMallocMode(env) {
  const v = env.FLIP_HOST_MALLOC;
  if (v === undefined || v === '' || v === 'keep') return 'keep';
  return v === 'system' ? 'system' : null;
}

/**
 * The facts the decision reads: the OS and the C library's version (glibc's, or undefined for another libc).
 * @returns {{ platform: string, glibc: string | undefined }}
 */
export function hostFacts() {
  const glibc = process.platform === 'linux'
    ? /** @type {{ header?: { glibcVersionRuntime?: string } }} */ (process.report?.getReport())?.header?.glibcVersionRuntime
    : undefined;
  return { platform: process.platform, glibc };
}

/**
 * The target a command line runs on: the value of its `--target` (`--target gpu` or `--target=gpu`), else 'cpu'.
 * @param {readonly string[]} args
 */
export function targetOf(args) {
  let target = 'cpu';
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') break;
    if (args[i] === '--target' && i + 1 < args.length) target = args[++i];
    else if (args[i].startsWith('--target=')) target = args[i].slice('--target='.length);
  }
  return target;
}

/**
 * The environment this process should have started with, or null when it has it already or nothing would change:
 * glibc.malloc.arena_max=1 added to GLIBC_TUNABLES on Linux with glibc >= 2.26 (the first with tunables) when the
 * command runs on the CPU (`args`: its arguments; elsewhere the per-execution buffers are device memory, and many
 * host threads keep their own arenas). The user's own choices win: a GLIBC_TUNABLES that already names
 * glibc.malloc.arena_max, or a FLIP_HOST_MALLOC other than keep (`system`: glibc's defaults), leaves the process as
 * it is.
 * @param {NodeJS.ProcessEnv} env
 * @param {{ platform: string, glibc: string | undefined }} facts
 * @param {readonly string[]} args
 * @returns {Record<string, string> | null}
 */
export function startEnv(env, facts, args = []) {
  if (env[STARTED_WITH] !== undefined) return null;
  if (hostMallocMode(env) !== 'keep') return null;
  if (facts.platform !== 'linux' || !facts.glibc || targetOf(args) !== 'cpu') return null;
  const [major, minor] = facts.glibc.split('.').map(Number);
  if (!(major > 2 || (major === 2 && minor >= 26))) return null;
  const own = env.GLIBC_TUNABLES ?? '';
  if (/(^|:)glibc\.malloc\.arena_max=/.test(own)) return null;
  /** @type {Record<string, string>} */
  const out = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out.GLIBC_TUNABLES = own ? `${own}:${ONE_ARENA}` : ONE_ARENA;
  out[STARTED_WITH] = own;
  return out;
}

/**
 * The environment as the user gave it, for a child that is not flip (the bench's JAX half): the restart's
 * GLIBC_TUNABLES taken back out.
 * @param {NodeJS.ProcessEnv} env
 * @returns {NodeJS.ProcessEnv}
 */
export function userEnv(env) {
  const started = env[STARTED_WITH];
  if (started === undefined) return { ...env };
  const out = { ...env };
  delete out[STARTED_WITH];
  if (started === '') delete out.GLIBC_TUNABLES;
  else out.GLIBC_TUNABLES = started;
  return out;
}

/**
 * Restart this process in place with {@link startEnv}'s environment, when it has one: the same executable, Node
 * options and arguments. Returns (and the process goes on as it is) when there is nothing to change, when the addon
 * is not built yet, or when the restart fails. Call it first, before any work or output.
 */
export function restartForHost() {
  const env = startEnv(process.env, hostFacts(), process.argv.slice(2));
  if (!env || !fs.existsSync(addonPath)) return;
  /** @type {{ restart?: (file: string, argv: string[], env: string[]) => string }} */
  let addon;
  try {
    addon = createRequire(import.meta.url)(addonPath);
  } catch {
    return;
  }
  if (typeof addon.restart !== 'function') return;
  addon.restart(process.execPath, [process.argv0, ...process.execArgv, ...process.argv.slice(1)], Object.entries(env).map(([k, v]) => `${k}=${v}`));
}
