// Tracing: run a TS function on symbolic tensors, record the primitives it emits into an IR Func, and inline Funcs.
import {
  FlipError, FuncBuilder, sameType, showLoc, showType,
  type ArgInfo, type Func, type Loc, type Op, type Prim, type PrimAttrs, type TensorType, type Value,
} from '../ir/index.ts';
import { userLoc } from './loc.ts';
import { flatten, isTensorSpecLike, isValueLike, unflatten, type TreeDef } from './pytree.ts';

/**
 * How traced values look to user code. The DSL registers its Tensor class (see dsl/tensor.ts), so traced
 * functions receive Tensors; without a registration they receive IR Values.
 */
export interface Boxing {
  box(v: Value): unknown;
  /** The IR value inside `x`, or undefined if `x` is not a boxed value. */
  unbox(x: unknown): Value | undefined;
}
let boxing: Boxing = { box: (v) => v, unbox: () => undefined };
export function setBoxing(b: Boxing): void {
  boxing = b;
}
/** The IR value of a boxed tensor or a bare Value; undefined for anything else. */
export function unboxValue(x: unknown): Value | undefined {
  return boxing.unbox(x) ?? (isValueLike(x) ? (x as Value) : undefined);
}

/** The location that ops created now get; a DSL op pins its caller's line once so its sub-ops need no stack walks. */
let pinnedLoc: Loc | undefined;

/** Run `f` with the user's current source location pinned for every op it emits (the outermost pin wins). */
export function atUserLoc<T>(f: () => T): T {
  if (pinnedLoc) return f();
  pinnedLoc = userLoc();
  try {
    return f();
  } finally {
    pinnedLoc = undefined;
  }
}
/** The location ops get now: the pinned one, or the user's frame. */
export function currentLoc(): Loc | undefined {
  return pinnedLoc ?? userLoc();
}

/**
 * A FuncBuilder for one trace. It knows which values it defines; an operand defined by an enclosing trace
 * (a closure over an outer tensor, as in `grad((p) => loss(p, batch))`) becomes an extra trailing parameter,
 * and `captured` lists the outer values to pass for those parameters when the Func is inlined.
 */
export class TraceBuilder extends FuncBuilder {
  private readonly defined = new Set<number>();
  private readonly captures = new Map<number, Value>();
  readonly captured: Value[] = [];

  constructor(name: string, readonly parent: TraceBuilder | undefined) {
    super(name, currentLoc);
  }

  override param(type: TensorType, info: ArgInfo = {}): Value {
    const v = super.param(type, info);
    this.defined.add(v.id);
    return v;
  }

  override emit<P extends Prim>(prim: P, operands: readonly Value[], attrs: PrimAttrs[P], loc?: Loc): Value[] {
    const results = super.emit(prim, operands.map((v) => this.local(v)), attrs, loc);
    for (const r of results) this.defined.add(r.id);
    return results;
  }

  override adopt(op: Op): void {
    super.adopt(op);
    for (const r of op.results) this.defined.add(r.id);
  }

  /** Does this trace (including its captures) have `v`? */
  has(v: Value): boolean {
    return this.defined.has(v.id) || this.captures.has(v.id);
  }

  /** `v` as a value of this trace: itself if defined here, else the parameter that captures it from an enclosing trace. */
  local(v: Value): Value {
    if (this.defined.has(v.id)) return v;
    const known = this.captures.get(v.id);
    if (known) return known;
    let outer = this.parent;
    while (outer && !outer.has(v)) outer = outer.parent;
    if (!outer)
      throw new FlipError(`${showLoc(currentLoc())}: ${showType(v.type)} (%${v.id}) belongs to a trace that has ended or to no trace; ` +
        'tensors cannot leave the function that traced them (return them instead)');
    const p = this.param(v.type, { name: `captured.${this.captured.length}` });
    this.captures.set(v.id, p);
    this.captured.push(v);
    return p;
  }
}

const stack: TraceBuilder[] = [];

/** The builder of the innermost active trace; throws when nothing is being traced. */
export function currentBuilder(): TraceBuilder {
  const b = stack[stack.length - 1];
  if (!b) throw new FlipError(`${showLoc(currentLoc())}: tensor ops run only while tracing (inside traceFunc, jit or grad)`);
  return b;
}

/**
 * Run `fn` with the enclosing trace active instead of the innermost one: the values it creates belong to the enclosing
 * trace, and the inner trace captures them (as extra parameters) where it uses them. So a loop body (dsl `scan`) can
 * compute loop-invariant tables once, outside the loop, while it is being traced.
 */
export function inEnclosingTrace<T>(fn: () => T): T {
  const top = stack.pop();
  if (!top) throw new FlipError(`${showLoc(currentLoc())}: inEnclosingTrace: nothing is being traced`);
  try {
    if (!stack.length) throw new FlipError(`${showLoc(currentLoc())}: inEnclosingTrace: the active trace has no enclosing trace`);
    return fn();
  } finally {
    stack.push(top);
  }
}

/** Is a trace active? */
export function isTracing(): boolean {
  return stack.length > 0;
}

export interface TraceOptions {
  /** The Func's name (default: the function's own name, else `main`). */
  name?: string;
  /** Names of the positional arguments, the first segment of each parameter's path (default: read from `fn`'s source). */
  argNames?: readonly string[];
}

export interface Traced {
  readonly func: Func;
  /** The structure of the argument list (`argSpecs`): unflatten(inTree, leaves) rebuilds the arguments. */
  readonly inTree: TreeDef;
  /** The structure of what `fn` returned; its tensor leaves are `func.results`, in order. */
  readonly outTree: TreeDef;
  /**
   * Values of enclosing traces that `fn` closed over. They are `func`'s last parameters (after the argument
   * leaves): inline with `inlineFunc(func, [...argValues, ...captured])`.
   */
  readonly captured: readonly Value[];
}

/** The spec of an argument leaf: a TensorSpec, or a tensor / IR value (its type). Undefined for anything else. */
function leafType(x: unknown): TensorType | undefined {
  const v = unboxValue(x);
  if (v) return v.type;
  if (isTensorSpecLike(x)) {
    const t = x as TensorType;
    return { dtype: t.dtype, shape: [...t.shape], axes: [...t.axes] };
  }
  return undefined;
}

/** Parameter names of `fn` when its parameter list is plain identifiers (`(params, batch) => …`, `function f(x, n = 2)`). */
function paramNames(fn: (...args: never[]) => unknown): string[] | undefined {
  const src = Function.prototype.toString.call(fn);
  const m = /^(?:async\s+)?(?:function\b[^(]*)?\(([^)]*)\)/.exec(src) ?? /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src)
    ?? /^[A-Za-z_$][\w$]*\s*\(([^)]*)\)/.exec(src);
  if (!m) return undefined;
  // `a, b = 2`: identifiers, optionally with simple defaults; destructuring or rest parameters give up (argN names).
  const names = m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => /^([A-Za-z_$][\w$]*)\s*(?:=[^{}[\]()]*)?$/.exec(s)?.[1]);
  return names.every((n) => n !== undefined) ? (names as string[]) : undefined;
}

/**
 * Trace `fn(...args)` where `args` is `argSpecs` with each tensor leaf (a TensorSpec, or a Tensor whose type is
 * used) replaced by a symbolic tensor; JS scalars in `argSpecs` are passed through as static values. Returns the
 * Func (one parameter per tensor leaf, named by its path, e.g. `params.encoder.block0.mlp.kernel`; one result per
 * tensor leaf of the output) with the in/out tree structures. Traces nest: a trace started while another is active
 * may close over its values (see `captured`).
 */
export function traceFunc(fn: (...args: never[]) => unknown, argSpecs: readonly unknown[], opts: TraceOptions = {}): Traced {
  const loc = userLoc();
  const flat = flatten(argSpecs);
  const names = opts.argNames ?? paramNames(fn) ?? [];
  const name = opts.name ?? (fn.name && /^[A-Za-z_][\w]*$/.test(fn.name) ? fn.name : 'main');
  const builder = new TraceBuilder(name, stack[stack.length - 1]);
  const savedPin = pinnedLoc;
  pinnedLoc = undefined; // user code inside fn gets its own lines, even if a DSL op started this trace
  stack.push(builder);
  try {
    const boxed = flat.leaves.map((leaf, i) => {
      const [head, ...rest] = flat.paths[i]!.split('.');
      const path = [names[Number(head)] ?? `arg${head}`, ...rest].join('.');
      const type = leafType(leaf);
      if (!type) throw new FlipError(`${showLoc(loc)}: traceFunc: argument leaf '${path}' is neither a TensorSpec nor a tensor (got ${describe(leaf)})`);
      return boxing.box(builder.param(type, { name: path }));
    });
    const args = unflatten<unknown[]>(flat.treedef, boxed);
    const out = fn(...(args as never[]));
    const outFlat = flatten(out);
    const results = outFlat.leaves.map((leaf, i) => {
      const v = unboxValue(leaf);
      if (!v) throw new FlipError(`${showLoc(loc)}: traceFunc: output leaf '${outFlat.paths[i] || '<root>'}' is not a tensor (got ${describe(leaf)})`);
      return builder.local(v);
    });
    const resultInfo = outFlat.paths.map((p): ArgInfo => (p ? { name: p } : {}));
    const func = builder.finish(results, resultInfo, loc);
    return { func, inTree: flat.treedef, outTree: outFlat.treedef, captured: builder.captured };
  } finally {
    stack.pop();
    pinnedLoc = savedPin;
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

/**
 * Copy `func`'s ops into the active trace with fresh value ids, its parameters bound to `args` (values of the active
 * trace, or of an enclosing one: those are captured). Ops keep their source locations and checkpoint (remat) tags;
 * untagged ops join the checkpoint region active at the call, if any. Returns the values of `func`'s results.
 */
export function inlineFunc(func: Func, args: readonly Value[]): Value[] {
  const b = currentBuilder();
  if (args.length !== func.params.length)
    throw new FlipError(`${showLoc(currentLoc())}: inlineFunc: @${func.name} takes ${func.params.length} arguments, got ${args.length}`);
  const env = new Map<number, Value>();
  func.params.forEach((p, i) => {
    const a = args[i]!;
    if (!sameType(p.type, a.type))
      throw new FlipError(`${showLoc(currentLoc())}: inlineFunc: argument ${i} of @${func.name} is ${showType(a.type)}, expected ${showType(p.type)}`);
    env.set(p.id, b.local(a));
  });
  const lookup = (v: Value): Value => {
    const mapped = env.get(v.id);
    if (!mapped) throw new FlipError(`inlineFunc: @${func.name} uses %${v.id} before defining it`);
    return mapped;
  };
  for (const op of func.ops) {
    // Re-emitting (not adopting copies) gives fresh ids, re-checks types, and tags the op with the checkpoint region
    // active here; an op that carries its own region keeps it.
    const emitCopy = () => b.emit(op.prim, op.operands.map(lookup), op.attrs as never, op.loc);
    const results = op.remat ? b.withRemat(op.remat, emitCopy) : emitCopy();
    op.results.forEach((r, i) => env.set(r.id, results[i]!));
  }
  return func.results.map(lookup);
}
