// Other work on the machine while the bench times something (a shared 2-core box runs other people's tests): how
// many cores other processes keep busy, from /proc/stat minus this process's own CPU time, and a gate that waits
// (bounded) for them to go quiet before a measurement. flip_jax.py records the other load of its own runs too.
import { readFileSync } from 'node:fs';

/** Seconds of busy CPU time of the whole machine since boot (all cores), or null off Linux. */
export function machineBusySeconds(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
    if (!cpu) return null;
    // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait. USER_HZ is 100 on Linux.
    const f = cpu.trim().split(/\s+/).slice(1).map(Number);
    const busy = f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0);
    return busy / 100;
  } catch {
    return null;
  }
}

const ownSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** A window over which the cores used by other processes are measured. */
export class OtherLoad {
  readonly #machine0: number | null;
  readonly #own0: number;
  readonly #t0: number;
  constructor() {
    this.#machine0 = machineBusySeconds();
    this.#own0 = ownSeconds();
    this.#t0 = performance.now();
  }
  /** Mean cores busy with other processes' work since the window opened (null where /proc/stat is missing). */
  cores(): number | null {
    const m = machineBusySeconds();
    if (m === null || this.#machine0 === null) return null;
    const wall = (performance.now() - this.#t0) / 1000;
    if (wall <= 0) return 0;
    return Math.max(0, (m - this.#machine0 - (ownSeconds() - this.#own0)) / wall);
  }
}

export interface QuietGate {
  /** Seconds waited in all. */
  waited: number;
  /** Wait until other processes use under `threshold` cores over a 1 s window (at most `maxSeconds`); the seconds waited. */
  wait(what: string): Promise<number>;
}

/**
 * A gate with a total budget: each wait lasts at most `maxSeconds`, and once `totalSeconds` have been spent waiting
 * the gate stops waiting (the figures then carry the other load they were measured under).
 */
export function quietGate(o: { threshold?: number; maxSeconds?: number; totalSeconds?: number; log?: (s: string) => void } = {}): QuietGate {
  const threshold = o.threshold ?? 0.2, maxSeconds = o.maxSeconds ?? 30, totalSeconds = o.totalSeconds ?? 120;
  const gate: QuietGate = {
    waited: 0,
    async wait(what: string): Promise<number> {
      const t0 = performance.now();
      let last: number | null = null;
      while (gate.waited + (performance.now() - t0) / 1000 < totalSeconds && (performance.now() - t0) / 1000 < maxSeconds) {
        const w = new OtherLoad();
        await new Promise((r) => setTimeout(r, 1000));
        last = w.cores();
        if (last === null || last < threshold) break;
      }
      const s = (performance.now() - t0) / 1000;
      gate.waited += s;
      if (s > 1.5) o.log?.(`waited ${s.toFixed(0)}s for other processes to go quiet before ${what} (${last === null ? '?' : last.toFixed(2)} cores busy with them at the end)`);
      return s;
    },
  };
  return gate;
}
