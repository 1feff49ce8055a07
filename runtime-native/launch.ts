// `flip launch --local N`: N processes of one multi-process run on this machine. Each gets FLIP_COORDINATOR (a free
// local port), FLIP_NUM_PROCESSES and FLIP_PROCESS_ID (and FLIP_LAUNCH=1); each line it writes comes out prefixed
// with [pI]; when one fails the others are ended (SIGTERM, then SIGKILL after a grace period), and the launch exits
// with the first failure's status (128 + the signal's number for a signal), or 0 when all succeed.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { CoordinationError } from './errors.ts';

export interface LaunchOptions {
  /** How many processes (>= 1). */
  processes: number;
  /** The program and its arguments, the same for every process (e.g. node, bin/flip.js, run, ...). */
  command: readonly string[];
  /** The coordinator's port (default: a free one). */
  port?: number;
  /** Environment of the children (default process.env), plus the FLIP_* variables. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where the prefixed lines go (default the launcher's stdout and stderr). */
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** After a failure, how long the others get to end on SIGTERM before SIGKILL (default 5000 ms). */
  killGraceMs?: number;
}

/** A TCP port nobody listens on right now (bound and released on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function statusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? os.constants.signals[signal] : undefined;
  return 128 + (n ?? 1);
}

/** Runs the processes; resolves with the exit status the launch should end with. */
export async function launchLocal(opts: LaunchOptions): Promise<number> {
  const n = opts.processes;
  if (!Number.isInteger(n) || n < 1) throw new CoordinationError(`the number of local processes must be a positive integer, got ${n}`, 'INVALID_ARGUMENT');
  if (opts.command.length === 0) throw new CoordinationError('nothing to launch: give the command after --', 'INVALID_ARGUMENT');
  const port = opts.port ?? (await freePort());
  const out = opts.stdout ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = opts.stderr ?? ((l: string) => process.stderr.write(`${l}\n`));
  const grace = opts.killGraceMs ?? 5000;
  const children: ChildProcess[] = [];
  let failure: number | undefined;
  const endOthers = () => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill('SIGTERM');
      setTimeout(() => {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }, grace).unref();
    }
  };
  const onTerm = () => {
    failure ??= 143;
    endOthers();
  };
  // Ctrl-C reaches the children from the terminal (same process group): they stop and save; the launcher waits.
  const onInt = () => {};
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  try {
    const exits = Array.from({ length: n }, (_, i) => {
      const [cmd, ...args] = opts.command;
      const child = spawn(cmd!, args, {
        cwd: opts.cwd,
        env: { ...(opts.env ?? process.env), FLIP_COORDINATOR: `127.0.0.1:${port}`, FLIP_NUM_PROCESSES: String(n), FLIP_PROCESS_ID: String(i), FLIP_LAUNCH: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      const lines = [
        new Promise<void>((r) => createInterface({ input: child.stdout! }).on('line', (l) => out(`[p${i}] ${l}`)).on('close', r)),
        new Promise<void>((r) => createInterface({ input: child.stderr! }).on('line', (l) => err(`[p${i}] ${l}`)).on('close', r)),
      ];
      return new Promise<number>((resolve) => {
        child.on('error', (e) => {
          err(`[p${i}] cannot start ${cmd}: ${e.message}`);
          failure ??= 127;
          endOthers();
          resolve(127);
        });
        child.on('exit', async (code, signal) => {
          await Promise.all(lines);
          const status = statusOf(code, signal);
          if (status !== 0 && failure === undefined) {
            failure = status;
            endOthers();
          }
          resolve(status);
        });
      });
    });
    await Promise.all(exits);
    return failure ?? 0;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
}
