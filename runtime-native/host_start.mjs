// What a flip process needs from its environment at start-up, before anything else runs, and the restart that
// gives it (docs/runtime.md, "Host memory"). Plain JavaScript: bin/flip.js calls it before TypeScript is loaded.
//
// The CPU plugin allocates each execution's temporary buffer (635 MiB for flip_small's train step) from a PJRT
// thread's malloc arena; a block that large is always its own fresh mmap, whose ~160k 4 KiB pages the kernel faults
// in and zeroes on every step (~15% of a CPU step). glibc's tunable glibc.malloc.hugetlb=1 has malloc ask for
// transparent huge pages (madvise) on the memory it maps: 2 MiB pages, 512x fewer faults. Tunables are read only
// when a process starts, so a process without it restarts itself once, in place (execve: the same pid and stdio).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HUGE_PAGES = 'glibc.malloc.hugetlb=1';
/** Set by the restart: the GLIBC_TUNABLES the process was started with ('' when it had none). */
export const STARTED_WITH = 'FLIP_STARTED_GLIBC_TUNABLES';

const addonPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'flip_pjrt.node');

/**
 * The facts the decision reads: the OS, the C library's version (glibc's, or undefined for another libc), the
 * kernel's transparent-huge-page mode (the bracketed word of /sys/kernel/mm/transparent_hugepage/enabled).
 * @returns {{ platform: string, glibc: string | undefined, thp: string | undefined }}
 */
export function hostFacts() {
  let glibc, thp;
  if (process.platform === 'linux') {
    glibc = /** @type {{ header?: { glibcVersionRuntime?: string } }} */ (process.report?.getReport())?.header?.glibcVersionRuntime;
    try {
      thp = /\[(\w+)\]/.exec(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];
    } catch {
      thp = undefined;
    }
  }
  return { platform: process.platform, glibc, thp };
}

/**
 * The environment this process should have started with, or null when it has it already or nothing would change:
 * glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES on Linux with glibc >= 2.35 (the first with the tunable) when the
 * kernel gives huge pages on request only (THP mode madvise; with `always` malloc's memory gets them anyway, with
 * `never` not at all). The user's own choices win: a GLIBC_TUNABLES that already names glibc.malloc.hugetlb, or
 * FLIP_HOST_MALLOC=system (glibc's defaults), leaves the process as it is.
 * @param {NodeJS.ProcessEnv} env
 * @param {{ platform: string, glibc: string | undefined, thp: string | undefined }} facts
 * @returns {Record<string, string> | null}
 */
export function startEnv(env, facts) {
  if (env[STARTED_WITH] !== undefined || env.FLIP_HOST_MALLOC === 'system') return null;
  if (facts.platform !== 'linux' || facts.thp !== 'madvise' || !facts.glibc) return null;
  const [major, minor] = facts.glibc.split('.').map(Number);
  if (!(major > 2 || (major === 2 && minor >= 35))) return null;
  const own = env.GLIBC_TUNABLES ?? '';
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(own)) return null;
  /** @type {Record<string, string>} */
  const out = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out.GLIBC_TUNABLES = own ? `${own}:${HUGE_PAGES}` : HUGE_PAGES;
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
  const env = startEnv(process.env, hostFacts());
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
