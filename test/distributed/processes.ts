// Starting the child processes of the multi-process tests and reading their JSON lines.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');

export interface Child {
  proc: ChildProcess;
  events: Record<string, unknown>[];
  stderr: string;
  /** Resolves with the first event called `name` (rejects when the process ends first). */
  event(name: string): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

export function startChild(args: readonly string[], env: NodeJS.ProcessEnv = {}, script = 'child.mts'): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(here, script), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  const waiters: { name: string; resolve: (e: Record<string, unknown>) => void }[] = [];
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    let nl;
    while ((nl = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as Record<string, unknown>;
      events.push(e);
      for (const w of waiters.filter((w) => w.name === e.event)) w.resolve(e);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const child: Child = {
    proc,
    events,
    get stderr() {
      return stderr;
    },
    event: (name) =>
      new Promise((resolve, reject) => {
        const seen = events.find((e) => e.event === name);
        if (seen) return resolve(seen);
        waiters.push({ name, resolve });
        void exited.then((code) => reject(new Error(`process ended (${code}) before '${name}': ${stderr}`)));
      }),
    exited,
  };
  return child;
}
