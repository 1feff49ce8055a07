// The StableHLO printer: module and function headers, SSA names, `#loc` aliases, and the context lowering rules write into.
import { isFloat, type DType } from '../ir/dtype.ts';
import { FlipError } from '../ir/errors.ts';
import type { Func, Module, Op, Value } from '../ir/func.ts';
import type { Prim } from '../ir/prims.ts';
import { verifyFunc } from '../ir/verify.ts';
import type { Loc, TensorType } from '../ir/types.ts';
import { denseLiteral, decimalFloat, mlirString, tensorText, type ConstantValue } from './text.ts';

export class EmitError extends FlipError {
  override name = 'EmitError';
}

/** What a lowering rule writes through: names of values, type text, lines, nested regions, helper constants. */
export interface LowerCtx {
  /** The SSA name of an IR value (`%3`, `%arg0`, `%5#1`). */
  v(x: Value): string;
  /** `tensor<...>` of a value or type. */
  t(x: Value | TensorType): string;
  /** Names the op's results and returns the left-hand side (`%3`, `%3:2`); call once, before writing the op's line. */
  bind(op: Op, prefix?: string): string;
  /** A line that carries the op's source location (`... loc(#loc3)`). */
  stmt(text: string): void;
  /** A line without a location (region headers and bodies). */
  line(text: string): void;
  /** Writes `body` one level deeper (a region's ops). */
  nested(body: () => void): void;
  /** Fresh block-argument names for a region (`%arg3`, ...), unique in the function as MLIR's nested scopes need. */
  blockArgs(n: number): string[];
  /** A fresh name for a value a rule creates itself (region bodies, init values). */
  fresh(prefix?: string): string;
  /** Writes a scalar (or shaped) `stablehlo.constant` and returns its name. */
  constant(dtype: DType, value: ConstantValue, shape?: readonly number[]): string;
  /** Gives an IR value a name written elsewhere (a result of a multi-result op whose results do not map 1:1, `%w#3`). */
  alias(x: Value, name: string): void;
  /** Writes the ops of `f` (a loop body) at the current depth, its parameters named `args`; returns its results' names. */
  inline(f: Func, args: readonly string[]): string[];
}

/** One lowering rule: writes the StableHLO for one IR op. */
export type LowerRule<P extends Prim> = (op: Op<P>, ctx: LowerCtx) => void;
/** The table type: `tsc` refuses a primitive without a rule. */
export type LowerRules = { [P in Prim]: LowerRule<P> };

/** Numbers the distinct source locations of a module and prints them as JAX does: `#loc3 = loc("file.ts":12:5)`. */
class LocTable {
  private readonly aliases = new Map<string, string>();
  private readonly defs: string[] = [];
  ref(loc: Loc | undefined): string {
    if (!loc) return '';
    const text = `loc(${mlirString(loc.file)}:${loc.line}:${loc.col})`;
    let alias = this.aliases.get(text);
    if (!alias) {
      alias = `#loc${this.aliases.size + 1}`;
      this.aliases.set(text, alias);
      this.defs.push(`${alias} = ${text}`);
    }
    return ` loc(${alias})`;
  }
  /** Alias definitions go before the module: every MLIR parser accepts a definition before its use (forward ones only newer). */
  header(): string[] {
    return this.defs;
  }
}

const INDENT = '  ';

class FuncPrinter implements LowerCtx {
  readonly out: string[] = [];
  private depth = 2;
  private readonly names = new Map<number, string>();
  private readonly used = new Set<string>();
  private numbered = 0;
  private suffix = 0;
  private args = 0;
  /** How many loop bodies are being written: their ops carry locations too. */
  private bodies = 0;
  private current: Op | undefined;

  constructor(private readonly locs: LocTable, private readonly rules: LowerRules) {}

  v(x: Value): string {
    const n = this.names.get(x.id);
    if (n === undefined) throw new EmitError(`value %${x.id} (${x.def?.prim ?? 'parameter'}) is used before it is defined`);
    return n;
  }
  t(x: Value | TensorType): string {
    return tensorText('type' in x ? x.type : x);
  }
  fresh(prefix?: string): string {
    if (prefix === undefined) return `%${this.numbered++}`;
    let name = `%${prefix}`;
    while (this.used.has(name)) name = `%${prefix}_${this.suffix++}`;
    this.used.add(name);
    return name;
  }
  bind(op: Op, prefix?: string): string {
    const base = this.fresh(prefix);
    if (op.results.length === 1) this.names.set(op.results[0]!.id, base);
    else op.results.forEach((r, i) => this.names.set(r.id, `${base}#${i}`));
    return op.results.length === 1 ? base : `${base}:${op.results.length}`;
  }
  bindParam(p: Value): string {
    const name = `%arg${this.args++}`;
    this.names.set(p.id, name);
    return name;
  }
  blockArgs(n: number): string[] {
    return Array.from({ length: n }, () => `%arg${this.args++}`);
  }
  stmt(text: string): void {
    this.line(text + (this.depth === 2 || this.bodies > 0 ? this.locs.ref(this.current?.loc) : ''));
  }
  line(text: string): void {
    this.out.push(INDENT.repeat(this.depth) + text);
  }
  nested(body: () => void): void {
    this.depth++;
    try {
      body();
    } finally {
      this.depth--;
    }
  }
  constant(dtype: DType, value: ConstantValue, shape: readonly number[] = []): string {
    const name = this.fresh(isFloat(dtype) ? 'cst' : 'c');
    this.stmt(`${name} = stablehlo.constant ${denseLiteral(value, dtype, shape)} : ${tensorText({ dtype, shape, axes: [] })}`);
    return name;
  }
  alias(x: Value, name: string): void {
    this.names.set(x.id, name);
  }
  inline(f: Func, args: readonly string[]): string[] {
    if (args.length !== f.params.length) throw new EmitError(`@${f.name} takes ${f.params.length} arguments, got ${args.length}`);
    f.params.forEach((p, i) => this.names.set(p.id, args[i]!));
    const outer = this.current;
    this.bodies++;
    try {
      for (const op of f.ops) this.lower(op);
    } finally {
      this.bodies--;
      this.current = outer;
    }
    return f.results.map((r) => this.v(r));
  }
  lower(op: Op): void {
    this.current = op;
    try {
      (this.rules[op.prim] as LowerRule<Prim>)(op, this);
    } finally {
      this.current = undefined;
    }
  }
}

export interface EmitOptions {
  /** `module @<name>`; defaults to the entry function's name. */
  moduleName?: string;
  /** `mhlo.num_partitions` (SPMD device count); Module.attrs wins when it sets the attribute. */
  numPartitions?: number;
  numReplicas?: number;
}

function attrValue(key: string, v: number | string | boolean): string {
  if (typeof v === 'string') return mlirString(v);
  if (typeof v === 'boolean') return String(v);
  if (key === 'mhlo.num_partitions' || key === 'mhlo.num_replicas') return `${v} : i32`;
  return Number.isInteger(v) ? `${v} : i64` : `${decimalFloat(v, 'f64')} : f64`;
}

const BARE_KEY = /^[A-Za-z_][A-Za-z0-9_$.]*$/;

/** `{a = 1, ...}` for arg/result/module attribute dictionaries; empty text when there are none. */
function attrDict(entries: readonly [string, string][]): string {
  return entries.length ? `{${entries.map(([k, v]) => `${BARE_KEY.test(k) ? k : mlirString(k)} = ${v}`).join(', ')}}` : '';
}

/** A symbol name: bare when MLIR allows it, quoted otherwise. */
function symbol(name: string): string {
  return `@${/^[A-Za-z_][A-Za-z0-9_$.]*$/.test(name) ? name : mlirString(name)}`;
}

function printFunc(f: Func, entry: boolean, rules: LowerRules, locs: LocTable): string[] {
  const problems = verifyFunc(f);
  if (problems.length) throw new EmitError(`cannot emit invalid IR for @${f.name}:\n  ${problems.join('\n  ')}`);
  const p = new FuncPrinter(locs, rules);
  const params = f.params.map((x, i) => {
    const info = f.paramInfo[i] ?? {};
    const entries: [string, string][] = [];
    if (info.sharding !== undefined) entries.push(['mhlo.sharding', mlirString(info.sharding)]);
    if (info.aliasOutput !== undefined) entries.push(['tf.aliasing_output', `${info.aliasOutput} : i32`]);
    const attrs = attrDict(entries);
    return `${p.bindParam(x)}: ${p.t(x)}${attrs ? ` ${attrs}` : ''}${info.name !== undefined ? ` loc(${mlirString(info.name)})` : ''}`;
  });
  const results = f.results.map((r, i) => {
    const info = f.resultInfo[i] ?? {};
    const entries: [string, string][] = [];
    if (info.name !== undefined) entries.push(['jax.result_info', mlirString(info.name)]);
    if (info.sharding !== undefined) entries.push(['mhlo.sharding', mlirString(info.sharding)]);
    const attrs = attrDict(entries);
    return `${p.t(r)}${attrs ? ` ${attrs}` : ''}`;
  });
  for (const op of f.ops) p.lower(op);
  const ret = f.results.length ? `return ${f.results.map((r) => p.v(r)).join(', ')} : ${f.results.map((r) => p.t(r)).join(', ')}` : 'return';
  return [
    `${INDENT}func.func ${entry ? 'public @main' : `private ${symbol(f.name)}`}(${params.join(', ')}) -> (${results.join(', ')}) {`,
    ...p.out,
    `${INDENT}${INDENT}${ret}`,
    `${INDENT}}${locs.ref(f.loc)}`,
  ];
}

/** The function emitted as `@main`: the one named `main`, else the first. */
function entryOf(m: Module): Func {
  const f = m.funcs.find((g) => g.name === 'main') ?? m.funcs[0];
  if (!f) throw new EmitError('cannot emit a module without functions');
  return f;
}

export function emitWith(rules: LowerRules, m: Module, opts: EmitOptions = {}): string {
  const entry = entryOf(m);
  const attrs: Record<string, number | string | boolean> = {
    'mhlo.num_partitions': opts.numPartitions ?? 1,
    'mhlo.num_replicas': opts.numReplicas ?? 1,
    ...m.attrs,
  };
  const locs = new LocTable();
  const body = [entry, ...m.funcs.filter((f) => f !== entry)].flatMap((f) => printFunc(f, f === entry, rules, locs));
  const head = `module ${symbol(opts.moduleName ?? entry.name)} attributes ${attrDict(Object.entries(attrs).map(([k, v]) => [k, attrValue(k, v)]))} {`;
  return [...locs.header(), head, ...body, '}', ''].join('\n');
}
