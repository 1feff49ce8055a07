// Source locations of DSL calls: the first stack frame outside flip's own library folders, mapped through source maps.
import { findSourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Loc } from '../ir/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Frames in these folders are flip's own (their sources, or compiled in dist/); the user's line is the first frame outside them. */
const LIBRARY_DIRS = ['compiler', 'dsl', 'runtime-native', 'programs'].flatMap((d) => [path.join(ROOT, d) + path.sep, path.join(ROOT, 'dist', d) + path.sep]);
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

function filePath(name: string): string {
  return name.startsWith('file://') ? fileURLToPath(name) : name;
}

function isUserFile(file: string): boolean {
  if (file.startsWith('node:') || file.includes(NODE_MODULES) || !path.isAbsolute(file)) return false;
  return !LIBRARY_DIRS.some((d) => file.startsWith(d));
}

/** Per frame file name (as V8 reports it): its path, or undefined when it is not user code. Few distinct names: cache. */
const userFiles = new Map<string, string | undefined>();
function userFile(name: string): string | undefined {
  if (userFiles.has(name)) return userFiles.get(name);
  const file = filePath(name);
  const r = isUserFile(file) ? file : undefined;
  userFiles.set(name, r);
  return r;
}

// Structured call sites instead of a formatted `stack`: V8 then skips formatting every frame.
const rawSites = (_e: Error, sites: NodeJS.CallSite[]): NodeJS.CallSite[] => sites;

/** Generated position → the user's Loc (source-mapped, relative to cwd). Tools that run TS (vitest, tsx) report generated positions. */
const mapped = new Map<string, Loc>();

function mapPosition(file: string, line: number, col: number, prepare: typeof Error.prepareStackTrace, site: NodeJS.CallSite): Loc {
  let loc: Loc = { file, line, col };
  // Node's own source maps (tsx, --enable-source-maps) answer directly.
  const map = findSourceMap(file);
  const entry = map?.findEntry(line - 1, col - 1);
  if (entry && 'originalLine' in entry && typeof entry.originalLine === 'number') {
    loc = { file: filePath(entry.originalSource), line: entry.originalLine + 1, col: entry.originalColumn + 1 };
  } else if (prepare) {
    // A source-map-aware prepareStackTrace (vitest's) maps one frame when asked to format it.
    const text = String(prepare(new Error(''), [site]));
    const m = /\(?([^\s()]+):(\d+):(\d+)\)?\s*$/.exec(text);
    if (m) loc = { file: filePath(m[1]!), line: Number(m[2]), col: Number(m[3]) };
  }
  return { ...loc, file: path.relative(process.cwd(), loc.file).split(path.sep).join('/') };
}

function captureSites(limit: number): NodeJS.CallSite[] {
  const prepare = Error.prepareStackTrace;
  const saved = Error.stackTraceLimit;
  const holder: { stack?: NodeJS.CallSite[] } = {};
  try {
    Error.prepareStackTrace = rawSites;
    Error.stackTraceLimit = limit;
    Error.captureStackTrace(holder, userLoc);
    return holder.stack ?? []; // formatting is lazy: read it while rawSites is installed
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = saved;
  }
}

/**
 * The user's source location of the current call: file (relative to process.cwd()), line and column of the first
 * frame outside compiler/, dsl/, runtime-native/, programs/, node_modules and node internals. Undefined if there is none.
 * Cost: one short structured stack capture (no string formatting); source mapping is cached per position.
 */
export function userLoc(): Loc | undefined {
  // Most calls find the user within a few frames; look deeper only if not.
  for (const limit of [12, 200]) {
    const sites = captureSites(limit);
    for (const site of sites) {
      const name = site.getFileName();
      const file = name && userFile(name);
      if (!file) continue;
      const line = site.getLineNumber() ?? 0, col = site.getColumnNumber() ?? 0;
      const key = `${file}:${line}:${col}`;
      let loc = mapped.get(key);
      if (!loc) mapped.set(key, (loc = mapPosition(file, line, col, Error.prepareStackTrace, site)));
      return loc;
    }
    if (sites.length < limit) break;
  }
  return undefined;
}
