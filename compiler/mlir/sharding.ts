// How a sharded entry parameter or result is split over SPMD partitions, read from its GSPMD
// `mhlo.sharding` string or its Shardy `sdy.sharding` attribute (with the module's `sdy.mesh`).
import type { AttrAst, FuncAst, ModuleAst, NamedAttr } from './ast.ts';
import { FlipError } from '../ir/errors.ts';

/**
 * A tiling of an array over partitions: `tiles[i]` pieces along dimension i; `coords(p)` is the
 * tile partition p holds (partitions with equal coords hold replicas of one tile).
 */
export interface Tiling {
  tiles: number[];
  coords(partition: number): number[];
}

export class ShardingError extends FlipError {
  override name = 'ShardingError';
}

const replicated = (rank: number): Tiling => ({ tiles: new Array<number>(rank).fill(1), coords: () => new Array<number>(rank).fill(0) });

/** Row-major strides of a shape. */
function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** Parses an HloSharding string: `{replicated}`, `{maximal device=0}`, `{devices=[4,1,2]<=[8] last_tile_dim_replicate}`, `{devices=[2,2]<=[2,2]T(1,0)}`, `{devices=[2]0,1}`. */
export function parseHloSharding(text: string, rank: number, partitions: number): Tiling {
  const s = text.trim();
  if (/^\{\s*(replicated|manual|maximal device=\d+)\s*\}$/.test(s)) return replicated(rank);
  const m = /^\{\s*devices=\[([\d,\s]+)\]\s*(?:<=\[([\d,\s]+)\](?:T\(([\d,\s]+)\))?|([\d,\s]+?))\s*(last_tile_dim_replicate|last_tile_dims=\{[^}]*\})?\s*(?:metadata=\{.*\})?\s*\}$/.exec(s);
  if (!m) throw new ShardingError(`unsupported sharding ${text}`);
  const ints = (x: string): number[] => x.split(',').map((v) => v.trim()).filter(Boolean).map(Number);
  const tileShape = ints(m[1]!);
  const count = tileShape.reduce((a, b) => a * b, 1);
  let ids: number[];
  if (m[2] !== undefined) {
    // Iota form: iota(reshape dims), transposed by perm, flattened.
    const dims = ints(m[2]);
    const perm = m[3] !== undefined ? ints(m[3]) : dims.map((_, i) => i);
    if (dims.reduce((a, b) => a * b, 1) !== count || perm.length !== dims.length) throw new ShardingError(`malformed iota tile assignment in ${text}`);
    const st = strides(dims);
    const tdims = perm.map((p) => dims[p]!);
    const tst = strides(tdims);
    ids = new Array<number>(count);
    for (let flat = 0; flat < count; flat++) {
      let src = 0;
      for (let k = 0; k < tdims.length; k++) src += (Math.floor(flat / tst[k]!) % tdims[k]!) * st[perm[k]!]!;
      ids[flat] = src;
    }
  } else {
    ids = ints(m[4]!);
  }
  if (ids.length !== count) throw new ShardingError(`${text}: ${count} tiles but ${ids.length} devices`);
  let dataDims = tileShape.length;
  if (m[5] === 'last_tile_dim_replicate') dataDims -= 1;
  else if (m[5]) dataDims -= m[5].slice('last_tile_dims={'.length, -1).split(',').filter((x) => x.trim()).length;
  if (dataDims !== rank) throw new ShardingError(`${text} tiles ${dataDims} dimensions of a rank-${rank} array`);
  if (ids.some((d) => d < 0 || d >= partitions)) throw new ShardingError(`${text} names a device outside the ${partitions} partitions`);
  const st = strides(tileShape);
  const where = new Map<number, number[]>();
  ids.forEach((d, flat) => where.set(d, tileShape.slice(0, dataDims).map((n, k) => Math.floor(flat / st[k]!) % n)));
  return {
    tiles: tileShape.slice(0, dataDims),
    coords: (p) => {
      const c = where.get(p);
      if (!c) throw new ShardingError(`${text} does not place partition ${p}`);
      return c;
    },
  };
}

export interface Mesh {
  axes: { name: string; size: number }[];
  /** Partition of each mesh position (row-major); iota when the mesh does not list device ids. */
  deviceIds: number[] | null;
}

/** Reads `sdy.mesh @name = <["data"=4, "model"=2]>` (and `, device_ids=[...]`) ops of a module. */
export function sdyMeshes(m: ModuleAst): Map<string, Mesh> {
  const out = new Map<string, Mesh>();
  for (const item of m.body) {
    if (item.kind !== 'op' || item.name !== 'sdy.mesh' || !item.custom) continue;
    const h = /^@([\w$.\-]+)\s*=\s*<\s*\[(.*?)\](?:\s*,\s*device_ids=\[([\d,\s]*)\])?\s*>/.exec(item.custom.header);
    if (!h) continue;
    const axes = [...h[2]!.matchAll(/"([^"]+)"\s*=\s*(\d+)/g)].map((a) => ({ name: a[1]!, size: Number(a[2]) }));
    out.set(h[1]!, { axes, deviceIds: h[3] !== undefined ? h[3].split(',').filter((x) => x.trim()).map(Number) : null });
  }
  return out;
}

/** `#sdy.sharding<@mesh, [{"data"}, {"model", "x"}], replicated={...}>` as a tiling. */
export function parseSdySharding(body: string, rank: number, meshes: Map<string, Mesh>): Tiling {
  const m = /^@([\w$.\-]+)\s*,\s*\[(.*)\]/.exec(body.trim());
  const mesh = m ? meshes.get(m[1]!) : undefined;
  if (!m || !mesh) throw new ShardingError(`unsupported sdy sharding <${body}>${m ? ` (no sdy.mesh @${m[1]})` : ''}`);
  const dims = [...m[2]!.matchAll(/\{([^}]*)\}/g)].map((d) => d[1]!);
  if (dims.length !== rank) throw new ShardingError(`<${body}> shards ${dims.length} dimensions of a rank-${rank} array`);
  const axisIndex = new Map(mesh.axes.map((a, i) => [a.name, i]));
  const dimAxes = dims.map((d) => {
    const names = [...d.matchAll(/"([^"]+)"(:\(\d+\)\d+)?/g)];
    return names.map((n) => {
      if (n[2]) throw new ShardingError(`sub-axis shardings (${n[0]}) are not supported`);
      const i = axisIndex.get(n[1]!);
      if (i === undefined) throw new ShardingError(`<${body}> names axis "${n[1]}", not in the mesh`);
      return i;
    });
  });
  const meshShape = mesh.axes.map((a) => a.size);
  const meshStrides = strides(meshShape);
  const total = meshShape.reduce((a, b) => a * b, 1);
  const position = new Map<number, number>();
  for (let pos = 0; pos < total; pos++) position.set(mesh.deviceIds?.[pos] ?? pos, pos);
  return {
    tiles: dimAxes.map((axes) => axes.reduce((n, i) => n * meshShape[i]!, 1)),
    coords: (p) => {
      const pos = position.get(p);
      if (pos === undefined) throw new ShardingError(`partition ${p} is not in the mesh`);
      const mc = meshShape.map((n, i) => Math.floor(pos / meshStrides[i]!) % n);
      // Axes of one dimension are major to minor.
      return dimAxes.map((axes) => axes.reduce((c, i) => c * meshShape[i]! + mc[i]!, 0));
    },
  };
}

/** The tiling an argument or result attribute list asks for (replicated when it says nothing). */
export function tilingOf(attrs: NamedAttr[], rank: number, partitions: number, meshes: Map<string, Mesh>): Tiling {
  const gspmd = attrs.find((a) => a.name === 'mhlo.sharding')?.value;
  const sdy = attrs.find((a) => a.name === 'sdy.sharding')?.value;
  if (sdy) return parseSdySharding(sdyBody(sdy), rank, meshes);
  if (gspmd?.kind === 'string') return parseHloSharding(gspmd.value, rank, partitions);
  return replicated(rank);
}

function sdyBody(a: AttrAst): string {
  if (a.kind === 'opaque' && a.dialect === 'sdy' && a.name === 'sharding') return a.body;
  throw new ShardingError('sdy.sharding must be a #sdy.sharding<...> attribute');
}

const bare = (name: string): string => name.replace(/^%/, '');

/** The top-level `<...>` items of a list written `<a>, <b<c>>`. */
function angleItems(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '<' && depth++ === 0) start = i + 1;
    else if (text[i] === '>' && --depth === 0) out.push(text.slice(start, i));
  }
  return out;
}

/**
 * The sharding an entry argument written without one takes from its first use, as XLA's sharding propagation gives
 * it to the parameter: the `mhlo.sharding` of a `stablehlo.custom_call @Sharding(%arg)` (GSPMD) or the argument's
 * `in_shardings` entry of an `sdy.manual_computation` (Shardy). JAX's shard_map writes such modules: without this,
 * a whole array reaches a parameter XLA compiled for one tile.
 */
function impliedSharding(f: FuncAst, arg: string): AttrAst | undefined {
  const token = new RegExp(`%${arg.replace(/[$.\-]/g, '\\$&')}(?![\\w$.\\-])`);
  for (const op of f.body?.blocks[0]?.ops ?? []) {
    const uses = op.operands.some((o) => bare(o.name) === arg) || (op.custom !== null && token.test(op.custom.header));
    if (!uses) continue;
    if (op.name === 'stablehlo.custom_call' && op.operands.length === 1) {
      const target = op.properties.concat(op.attributes).find((a) => a.name === 'call_target_name')?.value;
      const name = target?.kind === 'string' ? target.value : target?.kind === 'symbol' ? target.path.join('::') : undefined;
      const sharding = op.attributes.find((a) => a.name === 'mhlo.sharding')?.value;
      if (name === 'Sharding' && sharding?.kind === 'string') return { kind: 'string', value: sharding.value, type: null };
    }
    if (op.name === 'sdy.manual_computation' && op.custom) {
      const h = /^\s*\(([^)]*)\)\s*in_shardings\s*=\s*\[(.*?)\]\s*out_shardings/.exec(op.custom.header);
      const k = h ? h[1]!.split(',').map((x) => bare(x.trim())).indexOf(arg) : -1;
      const item = k >= 0 ? angleItems(h![2]!)[k] : undefined;
      if (item !== undefined) return { kind: 'opaque', dialect: 'sdy', name: 'sharding', body: item };
    }
    return undefined;  // its first use says nothing
  }
  return undefined;
}

/**
 * Gives each entry argument without a sharding the one its first use implies (impliedSharding), in place, so that the
 * module compiles with the sharding `entryTilings` then splits the input by. Returns the arguments it annotated.
 */
export function annotateImpliedShardings(f: FuncAst): number[] {
  const done: number[] = [];
  f.args.forEach((a, i) => {
    if (a.attrs.some((x) => x.name === 'mhlo.sharding' || x.name === 'sdy.sharding')) return;
    const value = impliedSharding(f, bare(a.name));
    if (!value) return;
    a.attrs.push({ name: value.kind === 'string' ? 'mhlo.sharding' : 'sdy.sharding', quoted: false, value, pos: a.pos });
    done.push(i);
  });
  return done;
}

/** Per-parameter and per-result tilings of an entry function. */
export function entryTilings(m: ModuleAst, f: FuncAst, partitions: number): { args: Tiling[]; results: Tiling[] } {
  const meshes = sdyMeshes(m);
  const rank = (t: import('./ast.ts').TypeAst): number => (t.kind === 'tensor' && t.shape ? t.shape.length : 0);
  return {
    args: f.args.map((a) => tilingOf(a.attrs, rank(a.type), partitions, meshes)),
    results: f.results.map((r) => tilingOf(r.attrs, rank(r.type), partitions, meshes)),
  };
}
