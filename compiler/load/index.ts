// compiler/load: from a user's .ts file and an entry name to a traced IR Func — type-check, find the entry, import, read its input shapes, trace.
//
// How an entry declares its input shapes. TS types carry dtype and axis names only (docs/DESIGN.md), so the sizes
// must come from values. They come from an export named `<entry>Inputs` (or, in a config file, `inputs`):
//
//   export function mlp(x: Tensor<'f32', ['batch', 'embed']>, params: MlpParams) { … }
//   export const mlpInputs = { x: spec('f32', { batch: 8, embed: 64 }), params: { w1: spec('f32', { embed: 64, mlp: 256 }), … } };
//
// Why an export beside the entry rather than a flag or a convention on parameter names: it is ordinary TS, so tsc
// checks it with the model (a typo in `spec` is a type error, not a run-time surprise); it is a pytree like the
// argument itself, so nested params need no new syntax; and configs (`--config configs/x.ts`) can override it to
// compile the same model at another size. The export is looked up in the config first (`<entry>Inputs`, then
// `inputs`), then in the model file (`<entry>Inputs`). It is either
//   - a record keyed by parameter name (`{x: …, params: …}`), or an array of positional arguments, or
//   - a function returning one, called with the config's default export (or its `config` export; undefined
//     without --config), so a model can derive input sizes from a config object: `mlpInputs(cfg) => ({…})`.
// Leaves are TensorSpecs (`spec(dtype, {axis: size, …})`); JS scalars are static arguments. Where a parameter's
// declared type names a literal dtype or axis names, the spec must agree (checked here, before tracing).
import path from 'node:path';
import { DTYPES, FlipError, ShapeError, isDType, showType, type TensorType } from '../ir/index.ts';
import { flatten, isStaticLeaf, isTensorSpecLike } from '../trace/index.ts';
import { lower, type LowerOptions, type Program } from '../lower/index.ts';
import { exportedFunctions, relative, typeCheck, type ExportedFunction } from './check.ts';
import { importUserModule } from './ts_import.ts';

export { importUserModule } from './ts_import.ts';
export { REPO_ROOT, TypeCheckError, declarationLoc, exportedFunctions, typeCheck, type DeclaredTensor, type ExportedFunction, type ParamInfo } from './check.ts';

export class EntryError extends FlipError {
  override name = 'EntryError';
}
export class InputSpecError extends FlipError {
  override name = 'InputSpecError';
}

export interface LoadOptions {
  /** The exported function to trace (undefined: an EntryError that lists the exported functions). */
  entry: string | undefined;
  /** A config module that may export `inputs` / `<entry>Inputs` and a default config object. */
  config?: string;
  /**
   * Applied to the config module's default export before an inputs function is called with it (flipc compile's
   * `--config.<field>=<value>` overrides). Needs `config`, and an inputs export that is a function.
   */
  configure?: (config: unknown) => unknown;
  /** Progress lines (timings) go here; nothing is written without it. */
  log?: (line: string) => void;
}

export interface LoadedEntry {
  /** The file as given, relative to the working directory. */
  readonly file: string;
  readonly entry: ExportedFunction;
  readonly fn: (...args: never[]) => unknown;
  /** The positional arguments to trace with: pytrees of TensorSpecs and static JS values. */
  readonly args: readonly unknown[];
  /** Where the input shapes came from, for messages: `examples/mlp.ts: mlpInputs`. */
  readonly inputsFrom: string;
  /**
   * The entry's own lowering options, from an export `<entry>Lowering` beside it (`{ donate: [0] }`: JAX's
   * `donate_argnums`), so that flipc compiles an entry exactly as the program that runs it does.
   */
  readonly lowering: Pick<LowerOptions, 'donate'>;
}

type ModuleRecord = Record<string, unknown>;

async function importModule(file: string): Promise<ModuleRecord> {
  return importUserModule(file);
}

function isPlainRecord(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

function exampleInputs(entry: ExportedFunction): string {
  const fields = entry.params.map((p) => {
    const t = p.tensors.find((d) => d.path === '');
    const axes = t?.axes ?? ['batch', 'embed'];
    return `${p.name}: spec('${t?.dtype ?? 'f32'}', { ${axes.map((a, i) => `${a}: ${i === 0 ? 8 : 64}`).join(', ')} })`;
  });
  return `export const ${entry.name}Inputs = { ${fields.join(', ')} }`;
}

/** The input declaration for `entry`: from the config module, then the model module. */
async function findInputs(
  entry: ExportedFunction, file: string, mod: ModuleRecord, config: { file: string; mod: ModuleRecord } | undefined,
  configure?: (config: unknown) => unknown,
): Promise<{ value: unknown; from: string }> {
  const candidates: [string, ModuleRecord, string][] = [];
  if (config) candidates.push([config.file, config.mod, `${entry.name}Inputs`], [config.file, config.mod, 'inputs']);
  candidates.push([file, mod, `${entry.name}Inputs`]);
  const hit = candidates.find(([, m, name]) => m[name] !== undefined);
  if (!hit) {
    throw new InputSpecError(
      `no input shapes for '${entry.name}': export '${entry.name}Inputs' from ${file} ` +
        `(e.g. ${exampleInputs(entry)}), or pass --config with an 'inputs' export; see flipc compile --help`,
    );
  }
  const [from, m, name] = hit;
  let value = m[name];
  if (configure && !config) throw new InputSpecError('config overrides need a config module: pass --config <configs/x.ts>');
  if (typeof value === 'function') {
    let cfg = config ? (config.mod['default'] ?? config.mod['config']) : undefined;
    if (configure) cfg = configure(cfg);
    value = await (value as (c: unknown) => unknown)(cfg);
  } else if (configure) {
    throw new InputSpecError(`${from}: ${name} is a fixed value, not a function of the config, so config overrides cannot change it`);
  }
  return { value, from: `${from}: ${name}` };
}

/** Order the declaration's arguments by the entry's parameters, refusing missing and unknown ones. */
function argumentList(entry: ExportedFunction, value: unknown, from: string): unknown[] {
  const params = entry.params;
  const required = params.filter((p) => !p.optional).length;
  const names = params.map((p) => p.name).join(', ');
  if (Array.isArray(value)) {
    if (value.length < required || value.length > params.length)
      throw new InputSpecError(`${from} lists ${value.length} arguments, but ${entry.name}(${names}) takes ${required === params.length ? required : `${required} to ${params.length}`}`);
    return value;
  }
  if (!isPlainRecord(value)) throw new InputSpecError(`${from} must be a record keyed by parameter name ({${names}}) or an array of arguments`);
  const unknown = Object.keys(value).filter((k) => !params.some((p) => p.name === k));
  if (unknown.length) throw new InputSpecError(`${from} has '${unknown.join("', '")}', which ${entry.name}(${names}) does not take`);
  const missing = params.filter((p) => !p.optional && !(p.name in value)).map((p) => p.name);
  if (missing.length) throw new InputSpecError(`${from} gives no shape for ${missing.map((m) => `'${m}'`).join(', ')} of ${entry.name}(${names})`);
  const last = params.reduce((n, p, i) => (p.name in value ? i + 1 : n), 0);
  return params.slice(0, last).map((p) => value[p.name]);
}

/** The value at a dotted pytree path (undefined where the path leaves the tree). */
function valueAt(tree: unknown, dotted: string): unknown {
  let v = tree;
  for (const key of dotted ? dotted.split('.') : []) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Every leaf a supported TensorSpec or a static value; each agrees with what the parameter's TS type declares. */
function checkLeaves(entry: ExportedFunction, args: readonly unknown[], from: string): void {
  args.forEach((arg, i) => {
    const param = entry.params[i]!;
    const flat = flatten(arg);
    const byPath = new Map<string, TensorType>();
    flat.leaves.forEach((leaf, k) => {
      const where = [param.name, flat.paths[k]].filter(Boolean).join('.');
      if (!isTensorSpecLike(leaf)) {
        if (!isStaticLeaf(leaf)) throw new InputSpecError(`${from}: input '${where}' is neither a spec(dtype, {axis: size}) nor a JS scalar`);
        return;
      }
      const t = leaf as TensorType;
      if (!isDType(t.dtype)) throw new InputSpecError(`${from}: input '${where}' has unsupported dtype '${t.dtype}' (flip supports ${DTYPES.join(', ')})`);
      if (t.shape.length !== t.axes.length || t.shape.some((d) => !Number.isInteger(d) || d < 0))
        throw new InputSpecError(`${from}: input '${where}' has shape [${t.shape.join(', ')}] for axes [${t.axes.join(', ')}]; sizes are non-negative integers, one per axis`);
      byPath.set(flat.paths[k]!, t);
    });
    for (const d of param.tensors) {
      const t = byPath.get(d.path);
      const where = [param.name, d.path].filter(Boolean).join('.');
      if (!t) {
        const v = valueAt(arg, d.path);
        if (isStaticLeaf(v)) throw new InputSpecError(`${from}: input '${where}' is ${v === undefined ? 'missing' : JSON.stringify(v)}, but ${entry.name} declares it ${d.text}: give a spec(dtype, {axis: size})`);
        continue;
      }
      const axesOk = !d.axes || (d.ordered ? d.axes.join() === t.axes.join() : d.axes.length === t.axes.length && d.axes.every((a) => t.axes.includes(a)));
      if ((d.dtype && d.dtype !== t.dtype) || !axesOk)
        throw new ShapeError(`${from}: input '${where}' is ${showType(t)}, but ${entry.name} declares it ${d.text} (${entry.where})`);
    }
  });
}

/** Type-check `file` (and a config), find `entry` among its exports, import it and resolve its input shapes. */
export async function loadEntry(file: string, opts: LoadOptions): Promise<LoadedEntry> {
  const log = opts.log ?? (() => {});
  const shown = relative(path.resolve(file));
  let t0 = performance.now();
  const [sf] = typeCheck([file, ...(opts.config ? [opts.config] : [])]);
  log(`type-checked ${shown}${opts.config ? ` and ${relative(path.resolve(opts.config))}` : ''} in ${Math.round(performance.now() - t0)} ms`);
  const functions = exportedFunctions(sf!).filter((f) => !f.name.endsWith('Inputs'));
  const entry = functions.find((f) => f.name === opts.entry);
  if (!entry) {
    const list = functions.length ? functions.map((f) => f.name).join(', ') : 'none';
    if (opts.entry === undefined) throw new EntryError(`name the function to compile with --entry (exported functions of ${shown}: ${list})`);
    throw new EntryError(`${shown} exports no function '${opts.entry}' (exported functions: ${list})`);
  }
  t0 = performance.now();
  const mod = await importModule(file);
  const config = opts.config ? { file: relative(path.resolve(opts.config)), mod: await importModule(opts.config) } : undefined;
  log(`imported in ${Math.round(performance.now() - t0)} ms`);
  const fn = mod[entry.name];
  if (typeof fn !== 'function') throw new EntryError(`${shown}: export '${entry.name}' is not a function at run time`);
  const { value, from } = await findInputs(entry, shown, mod, config, opts.configure);
  const args = argumentList(entry, value, from);
  checkLeaves(entry, args, from);
  return { file: shown, entry, fn: fn as (...args: never[]) => unknown, args, inputsFrom: from, lowering: loweringOf(mod, entry, shown) };
}

function loweringOf(mod: ModuleRecord, entry: ExportedFunction, shown: string): Pick<LowerOptions, 'donate'> {
  const name = `${entry.name}Lowering`;
  const v = mod[name];
  if (v === undefined) return {};
  const donate = isPlainRecord(v) ? v['donate'] : undefined;
  const ok = isPlainRecord(v) && Object.keys(v).every((k) => k === 'donate') &&
    (donate === undefined || (Array.isArray(donate) && donate.every((d) => Number.isInteger(d) && d >= 0 && d < entry.params.length)));
  if (!ok) throw new EntryError(`${shown}: export '${name}' must be { donate?: argument indices of ${entry.name} (0..${entry.params.length - 1}) }`);
  return donate ? { donate: donate as number[] } : {};
}

/**
 * Load and lower, as `flipc compile` does: the entry through compiler/lower with its own lowering options
 * (`<entry>Lowering`), its parameter names, its declaration as the function's location, and optionally a mesh.
 */
export async function lowerEntry(file: string, opts: LoadOptions & Pick<LowerOptions, 'mesh' | 'partitionStates'>): Promise<{ program: Program; loaded: LoadedEntry }> {
  const loaded = await loadEntry(file, opts);
  const t0 = performance.now();
  const program = lower(loaded.fn, loaded.args, {
    ...loaded.lowering, name: loaded.entry.name, argNames: loaded.entry.params.map((p) => p.name), loc: loaded.entry.loc,
    ...(opts.mesh ? { mesh: opts.mesh, ...(opts.partitionStates !== undefined ? { partitionStates: opts.partitionStates } : {}) } : {}),
  });
  opts.log?.(`traced ${loaded.entry.name}: ${program.func.ops.length} ops in ${Math.round(performance.now() - t0)} ms`);
  return { program, loaded };
}
