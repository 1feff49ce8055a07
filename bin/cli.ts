// Shared CLI plumbing: subcommand dispatch, and the rule that user errors print one message and exit 2.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isFlipError } from '../compiler/ir/errors.ts';

export interface Command {
  /** One line for the top-level help. */
  summary: string;
  /** Full `--help` text. */
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(args: { values: Record<string, unknown>; positionals: string[] }): Promise<number | void>;
}

// Errors of the file system that a user fixes (not bugs of flip): one line instead of a stack trace.
const USER_SYSTEM_ERRORS: Record<string, string> = {
  EROFS: 'read-only file system', EACCES: 'permission denied', EPERM: 'operation not permitted', ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded', EEXIST: 'a file is in the way', ENOTDIR: 'a file is in the way (not a folder)', EISDIR: 'is a folder, not a file',
  ENAMETOOLONG: 'name too long', EMFILE: 'too many open files',
};

/**
 * A device out of memory (PJRT's RESOURCE_EXHAUSTED, e.g. "Out of memory allocating 4e10 bytes"): the program is too
 * big for the device, which the user changes, not a bug. One line with what to do; null for any other error.
 */
export function outOfMemory(e: unknown): string | null {
  const err = e as { name?: unknown; code?: unknown; message?: unknown } | null;
  if (!err || typeof err !== 'object' || err.name !== 'PjrtError' || err.code !== 'RESOURCE_EXHAUSTED') return null;
  return `out of device memory: ${String(err.message).replace(/\.?\s*$/, '')}; the program needs more memory than the device has ` +
    '(make it smaller: a smaller batch or model; or spread it over more devices)';
}

/** `cannot <syscall> <path>: <what> (<CODE>)` for a Node system error of the kinds above, else null. */
export function systemError(e: unknown): string | null {
  const err = e as NodeJS.ErrnoException | null;
  if (!err || typeof err !== 'object' || typeof err.code !== 'string' || !(err.code in USER_SYSTEM_ERRORS) || typeof err.syscall !== 'string') return null;
  return `cannot ${err.syscall}${err.path ? ` ${err.path}` : ''}: ${USER_SYSTEM_ERRORS[err.code]} (${err.code})`;
}

/**
 * A command as bin/flip.ts and bin/flipc.ts register it: its module's loader, or the loader with the command's summary
 * beside it, so that `<prog> --help` lists the commands without importing them (a command's module imports what it
 * runs: the trainer, ts-morph, the MLIR parser; seconds in all). test/cli/startup.test.ts checks that a summary given
 * here is the command's own.
 */
export type Registration = (() => Promise<Command>) | { summary: string; load: () => Promise<Command> };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** flip's own code (sources or compiled); a frame elsewhere (models/, examples/, configs/, a user's folder) is the user's. */
const OWN_DIRS = ['bin', 'compiler', 'dsl', 'io', 'programs', 'runtime-native', 'train', 'dist'].map((d) => path.join(ROOT, d) + path.sep);

/**
 * An error thrown by the user's own code (a model function that throws while it is traced, a config module that throws
 * as it loads): `file:line:col: message` of the line that threw, relative to the working directory as the tracer's
 * locations are. Null when the top frame of the stack is flip's (or Node's): that is flip's bug, whose stack is kept.
 */
export function userThrow(e: unknown): string | null {
  // flip's own errors (a ConfigError, a ShapeError with the user's loc) already read as one line of their own.
  if (isFlipError(e as object) || !(e instanceof Error) || typeof e.stack !== 'string') return null;
  const frame = e.stack.split('\n').find((l) => /^\s+at /.test(l));
  const m = frame && /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?\s*$/.exec(frame);
  if (!m) return null;
  const file = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
  if (!path.isAbsolute(file) || file.includes(`${path.sep}node_modules${path.sep}`) || OWN_DIRS.some((d) => file.startsWith(d))) return null;
  const what = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${path.relative(process.cwd(), file).split(path.sep).join('/')}:${m[2]}:${m[3]}: ${what}${e.message.split('\n')[0]}`;
}

export async function main(prog: string, registry: Record<string, Registration>, argv = process.argv.slice(2)): Promise<never> {
  const commands = Object.fromEntries(Object.entries(registry).map(([n, r]) => [n, typeof r === 'function' ? r : r.load]));
  const verbose = argv.includes('--verbose');
  const name = argv[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines = [`usage: ${prog} <command> [options]`, '', 'commands:'];
    for (const [n, r] of Object.entries(registry)) lines.push(`  ${n.padEnd(12)} ${typeof r === 'function' ? (await r()).summary : r.summary}`);
    lines.push('', `${prog} <command> --help for the options of one command.`);
    console.log(lines.join('\n'));
    process.exit(name ? 0 : 2);
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    console.error(`${prog}: unknown command '${name}' (commands: ${Object.keys(commands).join(', ')})`);
    process.exit(2);
  }
  const cmd = await load();
  const rest = argv.slice(1);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.help);
    process.exit(0);
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...cmd.options, verbose: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    const code = await cmd.run({ values, positionals });
    process.exit(code ?? 0);
  } catch (e) {
    const argError = e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    const sys = systemError(e) ?? outOfMemory(e);
    if (!verbose && sys) {
      // The machine said no (a read-only or full disk, a path through a file, no permission): the user's to fix.
      console.error(`${prog} ${name}: ${sys}`);
      process.exit(2);
    }
    const thrown = userThrow(e);
    if (!verbose && thrown) {
      // The user's model (or config) threw: its line and message, not flip's frames below it (--verbose shows them).
      console.error(`${prog} ${name}: ${thrown}`);
      process.exit(2);
    }
    if (!verbose && (isFlipError(e) || argError)) {
      console.error(`${prog} ${name}: ${(e as Error).message}`);
      if (argError) console.error(`(${prog} ${name} --help lists the options)`);
      process.exit(2);
    }
    console.error(e);
    process.exit(isFlipError(e) || argError || thrown ? 2 : 1);
  }
}
