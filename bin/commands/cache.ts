// `flip cache`: show the persistent compilation cache (programs/cache.ts), or clear it.
import type { Command } from '../cli.ts';
import { FlipError } from '../../compiler/ir/errors.ts';
import { CompileCache, compileCacheEnabled, type CacheEntry } from '../../programs/cache.ts';

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function entryLine(e: CacheEntry): string {
  return `  ${e.key.slice(0, 12)}  ${size(e.size).padStart(9)}  ${e.used.toISOString().slice(0, 19).replace('T', ' ')}  ${e.name}  (${e.plugin}, flip ${e.flip})`;
}

const command: Command = {
  summary: 'show the compilation cache (entries, size, folder) or clear it: cache clear',
  help: `usage: flip cache [--list]
       flip cache clear

flip keeps every executable XLA compiles (serialized by its PJRT plugin) in a cache folder, keyed by
the module text, the compile options, the plugin build and flip's version, so the second \`flip run\`
of a config loads its programs instead of compiling them ("loaded from the compilation cache").

Without arguments: the folder, the number of entries and their size (--list: one line per entry,
most recently used first). clear removes every entry.

Folder: $FLIP_COMPILE_CACHE_DIR, else compile/ in flip's cache ($FLIP_CACHE_DIR, default
~/.cache/flip/compile). Size cap: $FLIP_COMPILE_CACHE_MAX (default 2G; least recently used entries
go first). FLIP_COMPILE_CACHE=0 turns the cache off.`,
  options: {
    list: { type: 'boolean' },
  },
  async run({ values, positionals }) {
    const cache = new CompileCache();
    if (positionals[0] === 'clear') {
      if (positionals.length > 1) throw new FlipError(`unknown argument '${positionals[1]}' (flip cache --help)`);
      const n = cache.clear();
      console.log(`removed ${n} entr${n === 1 ? 'y' : 'ies'} from ${cache.dir}`);
      return 0;
    }
    if (positionals.length) throw new FlipError(`unknown argument '${positionals[0]}': use flip cache or flip cache clear`);
    const entries = cache.entries();
    const total = entries.reduce((a, e) => a + e.size, 0);
    const on = compileCacheEnabled();
    console.log(`compilation cache: ${cache.dir}${on ? '' : ' (off: FLIP_COMPILE_CACHE=0)'}`);
    console.log(`${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, ${size(total)} of ${size(cache.maxBytes)}`);
    if (values.list) for (const e of entries) console.log(entryLine(e));
    return 0;
  },
};

export default command;
