// The persistent compilation cache: a compiled executable, serialized by its plugin (PJRT_Executable_Serialize), kept
// in a file keyed by everything that decides what XLA would make of the module, and loaded back
// (PJRT_Executable_DeserializeAndLoad) instead of compiling again, in this process or the next one.
//
// The key is a sha256 over: the module text, the CompileOptionsProto bytes the compile would get, the plugin build (its
// file's path, size and mtime, its PJRT C API version and its own attributes: xla_version, StableHLO versions), the
// client's platform and devices, and flip's version. Entries are files `<key>.xlaexe` under
// `$FLIP_COMPILE_CACHE_DIR`, else `<flip cache>/compile` (`$FLIP_CACHE_DIR/compile`, default ~/.cache/flip/compile),
// written atomically (io/atomic.ts). Each file holds a header (magic, metadata as JSON with the payload's sha256)
// then the plugin's bytes, so an entry cut short or damaged on disk is found before the plugin reads it: it is dropped
// with a one-line note and the module is compiled again. The folder is capped (default 2 GiB,
// `$FLIP_COMPILE_CACHE_MAX`): a hit touches its file's mtime and the least recently used entries go first.
// `FLIP_COMPILE_CACHE=0` turns it off; a plugin that cannot serialize turns it off for that plugin, with a note.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlipError } from '../compiler/ir/errors.ts';
import { compileOptions } from '../compiler/proto/index.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { cacheDir, type Client, type CompileOptions, type Executable } from '../runtime-native/index.ts';

const MAGIC = 'FLIPXLA1';
const EXT = '.xlaexe';
/** Default size cap of the cache folder. */
export const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;

/** What an entry's header records (shown by `flip cache`). */
export interface EntryMeta {
  /** The program's name (the module's entry). */
  name: string;
  /** The plugin: package and version, or its path. */
  plugin: string;
  flip: string;
  created: string;
  bytes: number;
  sha256: string;
}

export interface CacheEntry extends EntryMeta {
  key: string;
  file: string;
  /** File size (header and payload). */
  size: number;
  /** Last use (the file's mtime). */
  used: Date;
}

export interface CompileCacheOptions {
  /** The folder (default {@link compileCacheDir}). */
  dir?: string;
  /** Size cap in bytes (default `$FLIP_COMPILE_CACHE_MAX`, else 2 GiB). */
  maxBytes?: number;
  /** Where one-line notes go (a dropped entry, a plugin that cannot serialize); default stderr. */
  note?: (line: string) => void;
}

/** The cache folder: `$FLIP_COMPILE_CACHE_DIR`, else `compile/` in flip's cache ($FLIP_CACHE_DIR, ~/.cache/flip). */
export function compileCacheDir(): string {
  const d = process.env.FLIP_COMPILE_CACHE_DIR;
  return d ? path.resolve(d) : path.join(cacheDir(), 'compile');
}

/** `$FLIP_COMPILE_CACHE_MAX` as bytes: a number with an optional K/M/G suffix (powers of 1024). */
export function maxBytesFromEnv(value = process.env.FLIP_COMPILE_CACHE_MAX): number {
  if (value === undefined || value === '') return DEFAULT_MAX_BYTES;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$/i.exec(value);
  if (!m) throw new FlipError(`FLIP_COMPILE_CACHE_MAX must be a size such as 500M or 2G, got '${value}'`);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.floor(Number(m[1]) * scale);
}

/** Whether the cache is on: `FLIP_COMPILE_CACHE=0` (or false/off/no) turns it off; anything else, or unset, leaves it on. */
export function compileCacheEnabled(value = process.env.FLIP_COMPILE_CACHE): boolean {
  if (value === undefined || value === '') return true;
  const v = value.trim().toLowerCase();
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  throw new FlipError(`FLIP_COMPILE_CACHE must be 1 or 0, got '${value}'`);
}

let flipVersionText: string | undefined;
function flipVersion(): string {
  if (flipVersionText === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version?: string };
      flipVersionText = pkg.version ?? 'unknown';
    } catch {
      flipVersionText = 'unknown';
    }
  }
  return flipVersionText;
}

// The plugin build, as far as a file can say it: path, size and mtime of its library, and what it reports.
function pluginIdentity(client: Client): unknown {
  let file: { size: number; mtimeMs: number } | string;
  try {
    const st = fs.statSync(client.plugin.path);
    file = { size: st.size, mtimeMs: st.mtimeMs };
  } catch (e) {
    file = (e as NodeJS.ErrnoException).code ?? 'unreadable';
  }
  const p = client.plugin;
  return { path: p.path, file, apiVersion: p.apiVersion, package: p.package ?? null, version: p.version ?? null, attributes: sortedObject(p.attributes) };
}

function sortedObject(o: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

const hex = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** Executables that came from the cache rather than from XLA (what the compile log line says). */
const fromCache = new WeakSet<Executable>();

/** Whether `exe` was loaded from the compilation cache (false: XLA compiled it). */
export function loadedFromCache(exe: Executable): boolean {
  return fromCache.has(exe);
}

// Plugins (by path) whose executables could not be serialized: not asked again in this process.
const cannotSerialize = new Set<string>();

export class CompileCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #note: (line: string) => void;
  #writeFailed = false; // noted once
  // Executables loaded or compiled through this cache in this process, per client (opts.cache: reuse them).
  readonly #live = new WeakMap<Client, Map<string, Promise<Executable>>>();

  constructor(opts: CompileCacheOptions = {}) {
    this.dir = path.resolve(opts.dir ?? compileCacheDir());
    this.maxBytes = opts.maxBytes ?? maxBytesFromEnv();
    if (!(this.maxBytes >= 0)) throw new FlipError(`the compilation cache's size cap must be a number of bytes >= 0, got ${this.maxBytes}`);
    this.#note = opts.note ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** The key of `module` compiled with `options` on `client` (hex sha256). */
  key(client: Client, module: string | Uint8Array, options: CompileOptions): string {
    const { cache: _c, parameters: _p, ...init } = options;
    const parts = {
      flip: flipVersion(),
      module: hex(module),
      options: hex(compileOptions(init)),
      plugin: pluginIdentity(client),
      platform: client.platform,
      devices: client.devices.map((d) => `${d.id}:${d.kind}`),
    };
    return hex(JSON.stringify(parts));
  }

  #file(key: string): string {
    return path.join(this.dir, `${key}${EXT}`);
  }

  /**
   * The executable for `module` and `options` on `client`: loaded from the cache when an entry exists, else compiled
   * by XLA and stored. A damaged entry is dropped (one-line note) and the module compiled again.
   */
  async compile(client: Client, module: string, options: CompileOptions, name = 'main'): Promise<Executable> {
    const key = this.key(client, module, options);
    const reuse = options.cache !== false;
    const live = reuse ? this.#liveFor(client) : undefined;
    const held = live?.get(key);
    if (held) {
      const exe = await held.catch(() => undefined);
      if (exe && !exe.disposed) return exe;
      live!.delete(key);
    }
    const p = this.#compile(client, key, module, options, name);
    if (live) {
      live.set(key, p);
      p.catch(() => live.delete(key));
    }
    return p;
  }

  #liveFor(client: Client): Map<string, Promise<Executable>> {
    let m = this.#live.get(client);
    if (!m) this.#live.set(client, (m = new Map()));
    return m;
  }

  async #compile(client: Client, key: string, module: string, options: CompileOptions, name: string): Promise<Executable> {
    const bytes = this.read(key);
    if (bytes) {
      try {
        const exe = await client.loadSerialized(bytes, { ...options, cache: false });
        fromCache.add(exe);
        this.#touch(key);
        return exe;
      } catch (e) {
        if (client.disposed) throw e;
        this.#drop(key, `the plugin could not load it (${firstLine(e)})`);
      }
    }
    const exe = await client.compile(module, { ...options, cache: false });
    this.#store(client, key, exe, name);
    return exe;
  }

  /** The payload of entry `key`, or null when there is none (a damaged entry is dropped with a note). */
  read(key: string): Uint8Array | null {
    const file = this.#file(key);
    let data: globalThis.Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      return null;
    }
    const parsed = parseEntry(data);
    if (typeof parsed === 'string') {
      this.#drop(key, parsed);
      return null;
    }
    return parsed.payload;
  }

  #store(client: Client, key: string, exe: Executable, name: string): void {
    if (cannotSerialize.has(client.plugin.path)) return;
    let payload: Uint8Array;
    try {
      payload = exe.serialize();
    } catch (e) {
      cannotSerialize.add(client.plugin.path);
      this.#note(`flip: the compilation cache is off for ${pluginName(client)}: it cannot serialize executables (${firstLine(e)})`);
      return;
    }
    if (payload.byteLength > this.maxBytes) return;
    const meta: EntryMeta = { name, plugin: pluginName(client), flip: flipVersion(), created: new Date().toISOString(), bytes: payload.byteLength, sha256: hex(payload) };
    try {
      makeDirs(this.dir);
      writeFileAtomic(this.#file(key), encodeEntry(meta, payload), (reason) => new FlipError(reason));
    } catch (e) {
      if (!this.#writeFailed) this.#note(`flip: not stored in the compilation cache (${firstLine(e)}); compiles still work, they are not kept`);
      this.#writeFailed = true;
      return;
    }
    this.evict(key);
  }

  #touch(key: string): void {
    const now = new Date();
    try {
      fs.utimesSync(this.#file(key), now, now);
    } catch {
      // evicted meanwhile by another process: it was loaded already
    }
  }

  #drop(key: string, why: string): void {
    fs.rmSync(this.#file(key), { force: true });
    this.#note(`flip: dropped compilation cache entry ${key.slice(0, 12)} (${why}); compiling again`);
  }

  /** Entries, most recently used first (unreadable or foreign files are listed with name '?'). */
  entries(): CacheEntry[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: CacheEntry[] = [];
    for (const f of names) {
      if (!f.endsWith(EXT) || f.startsWith('.')) continue;
      const file = path.join(this.dir, f);
      let st: fs.Stats;
      let meta: EntryMeta | undefined;
      try {
        st = fs.statSync(file);
        meta = readMeta(file);
      } catch {
        continue;
      }
      const m = meta ?? { name: '?', plugin: '?', flip: '?', created: '?', bytes: 0, sha256: '' };
      out.push({ ...m, key: f.slice(0, -EXT.length), file, size: st.size, used: st.mtime });
    }
    return out.sort((a, b) => b.used.getTime() - a.used.getTime());
  }

  /** Count and total size of the entries. */
  stats(): { dir: string; count: number; bytes: number; maxBytes: number } {
    const e = this.entries();
    return { dir: this.dir, count: e.length, bytes: e.reduce((a, x) => a + x.size, 0), maxBytes: this.maxBytes };
  }

  /** Remove least recently used entries until the folder is within the cap (never `keep`); returns how many went. */
  evict(keep?: string): number {
    // Sizes and mtimes only (no header reads): this runs after every store.
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return 0;
    }
    const files: { key: string; file: string; size: number; used: number }[] = [];
    for (const f of names) {
      if (!f.endsWith(EXT) || f.startsWith('.')) continue;
      const file = path.join(this.dir, f);
      try {
        const st = fs.statSync(file);
        files.push({ key: f.slice(0, -EXT.length), file, size: st.size, used: st.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
    let total = files.reduce((a, x) => a + x.size, 0);
    if (total <= this.maxBytes) return 0;
    files.sort((a, b) => a.used - b.used);
    let removed = 0;
    for (const e of files) {
      if (total <= this.maxBytes) break;
      if (e.key === keep) continue;
      fs.rmSync(e.file, { force: true });
      total -= e.size;
      removed++;
    }
    return removed;
  }

  /** Remove every entry (and stale temporary files); returns the number of entries removed. */
  clear(): number {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return 0;
    }
    let n = 0;
    for (const f of names) {
      if (f.endsWith(EXT) && !f.startsWith('.')) n++;
      else if (!(f.startsWith('.') && f.endsWith('.tmp'))) continue;
      fs.rmSync(path.join(this.dir, f), { force: true });
    }
    return n;
  }
}

// mkdir -p one level at a time (Node's recursive mkdir can spin forever under /proc).
function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing.reverse()) fs.mkdirSync(d);
}

function pluginName(client: Client): string {
  const p = client.plugin;
  return p.package ? `${p.package} ${p.version}` : p.path;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

// File layout: MAGIC (8 bytes), header length (u32 LE), header JSON (EntryMeta), payload.
function encodeEntry(meta: EntryMeta, payload: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(meta));
  const out = new Uint8Array(12 + head.length + payload.byteLength);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, head.length, true);
  out.set(head, 12);
  out.set(payload, 12 + head.length);
  return out;
}

function headerOf(data: Uint8Array): { meta: EntryMeta; end: number } | string {
  if (data.length < 12 || new TextDecoder().decode(data.subarray(0, 8)) !== MAGIC) return 'not a flip cache entry';
  const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(8, true);
  if (12 + n > data.length) return 'its header is cut short';
  try {
    const meta = JSON.parse(new TextDecoder().decode(data.subarray(12, 12 + n))) as EntryMeta;
    if (typeof meta.sha256 !== 'string' || typeof meta.bytes !== 'number') return 'its header is damaged';
    return { meta, end: 12 + n };
  } catch {
    return 'its header is damaged';
  }
}

function parseEntry(data: Uint8Array): { meta: EntryMeta; payload: Uint8Array } | string {
  const h = headerOf(data);
  if (typeof h === 'string') return h;
  const payload = data.subarray(h.end);
  if (payload.byteLength !== h.meta.bytes) return `${payload.byteLength} bytes where ${h.meta.bytes} were written`;
  if (hex(payload) !== h.meta.sha256) return 'its checksum does not match';
  return { meta: h.meta, payload };
}

function readMeta(file: string): EntryMeta | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const head = new Uint8Array(64 * 1024);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    const h = headerOf(head.subarray(0, n));
    return typeof h === 'string' ? undefined : h.meta;
  } finally {
    fs.closeSync(fd);
  }
}

/** `opts` name XLA dump options: a compile for its dump files, which a cached executable would not write. */
export function dumpsFiles(options: CompileOptions): boolean {
  return Object.keys(options.envOverrides ?? {}).some((k) => k.startsWith('xla_dump'));
}

let defaultCache: CompileCache | undefined;

/**
 * The cache compileProgram uses when not told otherwise: null when `FLIP_COMPILE_CACHE=0`, else one for
 * {@link compileCacheDir} (made again when the folder setting changes).
 */
export function defaultCompileCache(): CompileCache | null {
  if (!compileCacheEnabled()) return null;
  const dir = compileCacheDir();
  const max = maxBytesFromEnv();
  if (!defaultCache || defaultCache.dir !== dir || defaultCache.maxBytes !== max) defaultCache = new CompileCache({ dir, maxBytes: max });
  return defaultCache;
}
