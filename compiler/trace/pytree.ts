// Pytrees: nested plain objects and arrays whose leaves are tensors (or specs, values); JS scalars are static leaves.
import { FlipError } from '../ir/index.ts';

/**
 * The structure of a pytree without its tensor leaves. `static` nodes keep JS scalars (numbers, strings, booleans,
 * null, undefined), which tracing treats as compile-time constants rather than tensors.
 */
export type TreeDef =
  | { readonly kind: 'leaf' }
  | { readonly kind: 'static'; readonly value: StaticLeaf }
  | { readonly kind: 'array'; readonly items: readonly TreeDef[] }
  | { readonly kind: 'object'; readonly keys: readonly string[]; readonly items: readonly TreeDef[] };

export type StaticLeaf = number | string | boolean | bigint | null | undefined;

export interface FlattenOptions {
  /** Stop descending here and treat `x` as a leaf (default: tensor specs and IR values are leaves). */
  isLeaf?: (x: unknown) => boolean;
  /** Keep `x` in the TreeDef instead of the leaf list (default: JS scalars). */
  isStatic?: (x: unknown) => boolean;
}

export interface Flat<L = unknown> {
  readonly leaves: L[];
  /** Dotted path of each leaf: `params.encoder.block0.mlp.kernel`, array items by index (`layers.0.bias`). */
  readonly paths: string[];
  readonly treedef: TreeDef;
}

export function isStaticLeaf(x: unknown): x is StaticLeaf {
  return x === null || x === undefined || typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean' || typeof x === 'bigint';
}

/** Arrays and plain objects (prototype Object.prototype or null) are containers; class instances are leaves. */
export function isContainer(x: unknown): x is readonly unknown[] | Record<string, unknown> {
  if (Array.isArray(x)) return true;
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `{dtype, shape, axes}`: a TensorSpec (= IR TensorType) is a plain object but a leaf. */
export function isTensorSpecLike(x: unknown): boolean {
  if (x === null || typeof x !== 'object') return false;
  const r = x as Record<string, unknown>;
  return typeof r['dtype'] === 'string' && Array.isArray(r['shape']) && Array.isArray(r['axes']);
}

/** An IR Value (`{id, type, index}`) is a plain object but a leaf. */
export function isValueLike(x: unknown): boolean {
  if (x === null || typeof x !== 'object') return false;
  const r = x as Record<string, unknown>;
  return typeof r['id'] === 'number' && typeof r['index'] === 'number' && isTensorSpecLike(r['type']);
}

const defaultIsLeaf = (x: unknown) => isTensorSpecLike(x) || isValueLike(x);

const join = (prefix: string, key: string) => (prefix ? `${prefix}.${key}` : key);

/** Flatten a pytree into its leaves (depth first, object keys in insertion order), their paths, and its structure. */
export function flatten<L = unknown>(tree: unknown, opts: FlattenOptions = {}): Flat<L> {
  const isLeaf = opts.isLeaf ?? defaultIsLeaf;
  const isStatic = opts.isStatic ?? isStaticLeaf;
  const leaves: L[] = [];
  const paths: string[] = [];
  const seen = new Set<unknown>();
  const walk = (x: unknown, path: string): TreeDef => {
    if (isStatic(x)) return { kind: 'static', value: x as StaticLeaf };
    if (isLeaf(x) || !isContainer(x)) {
      leaves.push(x as L);
      paths.push(path);
      return { kind: 'leaf' };
    }
    if (seen.has(x)) throw new FlipError(`pytree: a container appears inside itself at '${path}'`);
    seen.add(x);
    let def: TreeDef;
    if (Array.isArray(x)) def = { kind: 'array', items: x.map((item, i) => walk(item, join(path, String(i)))) };
    else {
      const keys = Object.keys(x);
      def = { kind: 'object', keys, items: keys.map((k) => walk((x as Record<string, unknown>)[k], join(path, k))) };
    }
    seen.delete(x);
    return def;
  };
  const treedef = walk(tree, '');
  return { leaves, paths, treedef };
}

export function numLeaves(def: TreeDef): number {
  switch (def.kind) {
    case 'leaf': return 1;
    case 'static': return 0;
    default: return def.items.reduce((n, d) => n + numLeaves(d), 0);
  }
}

/** Rebuild a pytree of the given structure from its leaves (the inverse of flatten). */
export function unflatten<T = unknown>(def: TreeDef, leaves: readonly unknown[]): T {
  const want = numLeaves(def);
  if (leaves.length !== want) throw new FlipError(`unflatten: the tree has ${want} leaves, got ${leaves.length}`);
  let next = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case 'leaf': return leaves[next++];
      case 'static': return d.value;
      case 'array': return d.items.map(build);
      case 'object': {
        const out: Record<string, unknown> = {};
        d.keys.forEach((k, i) => { out[k] = build(d.items[i]!); });
        return out;
      }
    }
  };
  return build(def) as T;
}

/** Same containers, keys, and static values. */
export function sameTreeDef(a: TreeDef, b: TreeDef): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'leaf') return true;
  if (a.kind === 'static') return Object.is(a.value, (b as typeof a).value);
  const bi = b as typeof a;
  if (a.items.length !== bi.items.length) return false;
  if (a.kind === 'object' && a.keys.some((k, i) => k !== (bi as typeof a).keys[i])) return false;
  return a.items.every((d, i) => sameTreeDef(d, bi.items[i]!));
}

/** A compact rendering for error messages: `{params: {w: *, b: *}, lr: 0.1}`. */
export function showTreeDef(def: TreeDef): string {
  switch (def.kind) {
    case 'leaf': return '*';
    case 'static': return typeof def.value === 'string' ? JSON.stringify(def.value) : String(def.value);
    case 'array': return `[${def.items.map(showTreeDef).join(', ')}]`;
    case 'object': return `{${def.keys.map((k, i) => `${k}: ${showTreeDef(def.items[i]!)}`).join(', ')}}`;
  }
}

/** The type of `tree` after mapping its leaves of type L to R (static scalars stay). */
export type MapLeaves<T, L, R> = T extends L ? R
  : T extends StaticLeaf ? T
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: MapLeaves<T[K], L, R> }
  : T extends object ? { -readonly [K in keyof T]: MapLeaves<T[K], L, R> }
  : T;

/**
 * Map `fn` over the leaves of `tree` (and the matching leaves of `rest`, which must have the same structure);
 * static leaves are kept. `treeMap((p: Tensor, g: Tensor) => p.sub(g.mul(lr)), params, grads)`.
 */
export function treeMap<T, L, R>(fn: (leaf: L, ...rest: L[]) => R, tree: T, ...rest: unknown[]): MapLeaves<T, L, R> {
  const flat = flatten<L>(tree);
  const others = rest.map((t, k) => {
    const f = flatten<L>(t);
    if (!sameTreeDef(flat.treedef, f.treedef))
      throw new FlipError(`treeMap: tree ${k + 1} has structure ${showTreeDef(f.treedef)}, expected ${showTreeDef(flat.treedef)}`);
    return f.leaves;
  });
  return unflatten(flat.treedef, flat.leaves.map((leaf, i) => fn(leaf, ...others.map((o) => o[i]!))));
}
