// One run at a time in a workdir, and one run's numbers per metrics file.
//
// The lock: `flip.lock` in the workdir ({pid, host, started}), made with O_EXCL before anything is written there and
// removed when the run ends (also on process.exit, e.g. a second Ctrl-C). A lock whose process is gone (same host, the
// pid no longer exists) is taken over with a line saying so; a live one (or one of another host, whose process cannot
// be checked from here) refuses the run. The metrics: a run that does not continue this workdir's run (a fresh run, or
// one resuming from a checkpoint elsewhere) finds metrics.jsonl and events files of another run only when that run
// saved no checkpoint (a workdir with checkpoints is refused, train/run/checkpoints.ts); they are moved into
// previous/<time>/ with a line saying where, never appended to or deleted.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';

export const LOCK_FILE = 'flip.lock';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

/** Whether process `pid` exists on this host (EPERM: it exists, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class WorkdirLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly file: string, private readonly madeDir: string | null) {
    process.on('exit', this.onExit);
  }

  /**
   * Lock `workdir` for this process (created if needed); `print` gets the line about a stale lock taken over. A lock
   * held by a live process is a FlipError naming it.
   */
  static acquire(workdir: string, print: (line: string) => void): WorkdirLock {
    const madeDir = existsSync(workdir) ? null : workdir;
    mkdirSync(workdir, { recursive: true });
    const file = path.join(workdir, LOCK_FILE);
    const me: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
    for (let attempt = 0; ; attempt++) {
      let fd: number;
      try {
        fd = openSync(file, 'wx');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
          throw new FlipError(`cannot lock ${workdir} (${file}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const held = readLock(file);
        if (!held) {
          throw new FlipError(`${workdir} is locked by ${file}, which does not say by whom: another flip run may be starting there; ` +
            `if none is, delete ${file}`);
        }
        const who = `pid ${held.pid} on ${held.host}, started ${held.started}`;
        if (held.host !== me.host) {
          throw new FlipError(`${workdir} is in use by another flip run (${who}; ${file}): wait for it or give this run another --workdir; ` +
            `if that run is gone, delete ${file}`);
        }
        if (alive(held.pid)) throw new FlipError(`${workdir} is in use by another flip run (${who}; ${file}): wait for it or give this run another --workdir`);
        print(`workdir: taking over the lock of a run that is gone (${who})`);
        unlinkSync(file);
        continue;
      }
      try {
        writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        closeSync(fd);
      }
      return new WorkdirLock(file, madeDir);
    }
  }

  /** Remove the lock (and the workdir, if this run made it and left it empty). */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    const held = readLock(this.file);
    if (held && held.pid === process.pid && held.host === hostname()) unlinkSync(this.file);
    if (this.madeDir && existsSync(this.madeDir) && readdirSync(this.madeDir).length === 0) rmdirSync(this.madeDir);
  }
}

function readLock(file: string): LockInfo | null {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockInfo>;
    if (typeof j.pid === 'number' && typeof j.host === 'string') return { pid: j.pid, host: j.host, started: String(j.started ?? '?') };
  } catch {
    // unreadable or cut short: said by the caller
  }
  return null;
}

const isEvents = (f: string) => f.startsWith('events.out.tfevents.');

/**
 * Before a run that does not continue this workdir's run writes its numbers: another run's metrics.jsonl and events
 * files are moved into `previous/<time>/`. Returns the line to print, or null when there was nothing to move.
 */
export function setAsideOtherRunMetrics(workdir: string): string | null {
  if (!existsSync(workdir)) return null;
  const files = readdirSync(workdir).filter((f) => f === 'metrics.jsonl' || isEvents(f));
  if (!files.length) return null;
  const to = path.join(workdir, 'previous', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(to, { recursive: true });
  for (const f of files) renameSync(path.join(workdir, f), path.join(to, f));
  const jsonl = files.includes('metrics.jsonl');
  const events = files.filter(isEvents).length;
  const what = [jsonl ? 'metrics.jsonl' : '', events ? `${events} events file(s)` : ''].filter(Boolean).join(' and ');
  return `workdir: ${what} of another run (one that saved no checkpoint here) moved to ${to}; this run's start afresh`;
}

/** A new run's id: its start time and a random suffix (kept in its checkpoints, so a resume continues it). */
export function newRunId(): string {
  return `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}-${Math.random().toString(36).slice(2, 8)}`;
}
