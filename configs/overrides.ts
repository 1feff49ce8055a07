// `--config.<field>=<value>` overrides, as the official code's ml_collections flags: a dotted path into the
// config, a value parsed as the type the field already has. Unknown fields name the close ones. A FlipConfig's fields
// may also be given by the official ml_collections names (`learning_rate`, `model.model_img.mask_ratio`).
import { ConfigError } from './errors.ts';

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

/** Every leaf field's dotted path (arrays are leaves). */
export function configPaths(config: unknown, prefix = ''): string[] {
  if (!isObj(config)) return [prefix];
  return Object.entries(config).flatMap(([k, v]) => configPaths(v, prefix ? `${prefix}.${k}` : k));
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = t;
    }
  }
  return d[b.length]!;
}

/** Config fields whose path or last name is close to `name` (edit distance, or a shared last name). */
export function closeFields(config: unknown, name: string, max = 4): string[] {
  const last = (p: string) => p.slice(p.lastIndexOf('.') + 1);
  const scored = configPaths(config).map((p) => {
    const d = Math.min(editDistance(name, p), editDistance(last(name), last(p)) + (last(name) === name ? 0 : 1));
    return { p, d };
  });
  const limit = Math.max(2, Math.floor(last(name).length / 3));
  return scored.filter((s) => s.d <= limit).sort((a, b) => a.d - b.d || a.p.localeCompare(b.p)).slice(0, max).map((s) => s.p);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `a list of ${v.length ? describe(v[0]) + 's' : 'values'}`;
  if (v === null) return 'null';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'true or false';
  return `a ${typeof v}`;
}

/** List fields that are a square size, where one number N means N×N (the official configs write patches.size = (16, 16)). */
const SQUARE_FIELD = /(^|\.)(patchSize|patches\.size|patch_size)$/;

/** Parse `text` as a value of the same type as `current`. */
export function parseValue(field: string, text: string, current: unknown): unknown {
  const bad = (): never => {
    throw new ConfigError(`--config.${field}: expected ${describe(current)}, got '${text}'`);
  };
  const t = text.trim();
  switch (typeof current) {
    case 'number': {
      const n = t === '' ? NaN : Number(t);
      if (!Number.isFinite(n)) bad();
      return n;
    }
    case 'boolean':
      if (/^(true|1|yes)$/i.test(t)) return true;
      if (/^(false|0|no)$/i.test(t)) return false;
      return bad();
    case 'string':
      return text;
    default:
      break;
  }
  if (Array.isArray(current)) {
    // A square size (a patch's height and width) given as one number: N means N×N.
    if (SQUARE_FIELD.test(field) && /^\d+$/.test(t)) return current.map(() => Number(t));
    // JSON (`[0.5, 1]`) or a comma list (`0.5,1`); elements typed as the current ones.
    let items: unknown[];
    if (t.startsWith('[')) {
      try {
        const j = JSON.parse(t) as unknown;
        if (!Array.isArray(j)) return bad();
        items = j;
      } catch {
        return bad();
      }
    } else items = t === '' ? [] : t.split(',');
    const like = current[0];
    if (like === undefined) return items;
    return items.map((x, i) => parseValue(`${field}[${i}]`, String(x), like));
  }
  if (current === null || current === undefined) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return text;
    }
  }
  return bad();
}

/**
 * A copy of `config` with `overrides` (field path → text) applied. Paths may carry the `config.` prefix of the
 * command line; `aliases` gives other paths to try for a field that does not exist as written. Throws a ConfigError
 * naming the field for an unknown field, a group of fields, or a value of the wrong type.
 */
export function applyOverrides<C>(config: C, overrides: Readonly<Record<string, string>>, aliases: (field: string) => string[] = () => []): C {
  const out = structuredClone(config) as unknown as Obj;
  const lookup = (field: string): { node: unknown; key: string } => {
    const parts = field.split('.');
    let node: unknown = out;
    for (const p of parts.slice(0, -1)) node = isObj(node) && Object.hasOwn(node, p) ? node[p] : undefined;
    return { node, key: parts[parts.length - 1]! };
  };
  for (const [raw, text] of Object.entries(overrides)) {
    let field = raw.replace(/^config\./, '');
    let { node, key } = lookup(field);
    if (!isObj(node) || !Object.hasOwn(node, key)) {
      // Another spelling of a known field (e.g. the official config's names)?
      for (const alt of aliases(field)) {
        const l = lookup(alt);
        if (isObj(l.node) && Object.hasOwn(l.node, l.key)) {
          ({ node, key } = l);
          field = alt;
          break;
        }
      }
    }
    if (!isObj(node) || !Object.hasOwn(node, key)) {
      const close = closeFields(config, field);
      throw new ConfigError(`unknown config field '${field}'` + (close.length ? ` (did you mean ${close.map((c) => `'${c}'`).join(', ')}?)` : ' (flip run --help lists where the fields are)'));
    }
    const current = node[key];
    if (isObj(current)) {
      throw new ConfigError(`--config.${field} is a group of fields; set one of them: ${configPaths(current, field).slice(0, 6).join(', ')}${configPaths(current).length > 6 ? ', ...' : ''}`);
    }
    node[key] = parseValue(field, text, current);
  }
  return out as C;
}

/** The `config.<field>` entries of parsed command-line values, as field → text. */
export function overridesFrom(values: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (!k.startsWith('config.')) continue;
    if (typeof v === 'boolean') throw new ConfigError(`--${k} needs a value: --${k}=<value>`);
    out[k.slice(7)] = String(Array.isArray(v) ? v[v.length - 1] : v);
  }
  return out;
}

/** parseArgs option declarations for every `--config.<field>` in argv (node's strict parser needs each name). */
export function configOptionsIn(argv: readonly string[]): Record<string, { type: 'string' }> {
  const out: Record<string, { type: 'string' }> = {};
  for (const a of argv) {
    const m = /^--(config\.[^=]+)/.exec(a);
    if (m) out[m[1]!] = { type: 'string' };
  }
  return out;
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Where an official configs/default.py name lives in a FlipConfig (tried when the name is not a path as written). */
export function officialAliases(field: string): string[] {
  const special: Record<string, string> = {
    laion_path: 'train.data.laionPath',
    eval_dataset: 'train.data.evalDataset',
    seed_jax: 'train.seed',
    exclude_wd: 'train.optimizer.excludeWd',
    opt_type: 'train.optimizer.type',
    opt_mu_dtype: 'train.optimizer.muDtype',
    'aug.txt.max_len': 'model.txt.maxLen',
  };
  if (special[field]) return [special[field]];
  let f = field.split('.').map(camel).join('.');
  f = f.replace(/^model\.modelImg\b/, 'model.img').replace(/^model\.modelTxt\b/, 'model.txt').replace(/^model\.(img|txt)\.patches\.size$/, 'model.$1.patchSize');
  f = f.replace(/^opt\./, 'optimizer.');
  return [f, `train.${f}`];
}
