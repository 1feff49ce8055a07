// From a PartitionSpec on a mesh to XLA's HloSharding text, and the block of the global array each mesh position holds.
import type { PartitionSpec } from './rules.ts';
import { MeshError, axisSize, meshCoords, type Mesh } from './mesh.ts';

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** A spec that splits nothing, for a tensor of rank `rank`. */
export function replicatedSpec(rank: number): PartitionSpec {
  return Array.from({ length: rank }, () => []);
}

/** `[data, -, model]`: how notes and errors show a spec. */
export function showSpec(spec: PartitionSpec): string {
  return `[${spec.map((axes) => (axes.length === 0 ? '-' : axes.length === 1 ? axes[0] : `(${axes.join(',')})`)).join(', ')}]`;
}

/** How many pieces each dimension is split into. */
export function tileCounts(spec: PartitionSpec, m: Mesh): number[] {
  return spec.map((axes) => product(axes.map((a) => axisSize(m, a))));
}

/** Throws unless the spec names mesh axes at most once each, and only axes of the mesh. */
export function checkSpec(spec: PartitionSpec, m: Mesh, what = 'spec'): void {
  const seen = new Set<string>();
  for (const a of spec.flat()) {
    if (!m.axes.includes(a)) throw new MeshError(`${what} ${showSpec(spec)} names mesh axis '${a}', which the mesh (${m.axes.join(', ')}) lacks`);
    if (seen.has(a)) throw new MeshError(`${what} ${showSpec(spec)} uses mesh axis '${a}' twice`);
    seen.add(a);
  }
}

/**
 * Canonical iota tile assignment `<=[dims]T(perm)`: the mesh's positions (an iota of shape `dims`) transposed by
 * `perm`. As XLA prints it: size-1 dims dropped, dims that stay adjacent under `perm` merged, and `<=[N]` when no
 * transpose is left.
 */
function iotaText(dims: readonly number[], perm: readonly number[]): string {
  let d = [...dims];
  let p = [...perm];
  // Drop size-1 dims (they move nothing) and renumber.
  const keep = d.map((n, i) => (n > 1 ? i : -1)).filter((i) => i >= 0);
  p = p.filter((i) => d[i]! > 1).map((i) => keep.indexOf(i));
  d = keep.map((i) => d[i]!);
  // Merge source dims i and i+1 where the transposed order keeps them together.
  for (let k = 0; k + 1 < p.length;) {
    const i = p[k]!;
    if (p[k + 1] === i + 1) {
      d.splice(i, 2, d[i]! * d[i + 1]!);
      p.splice(k + 1, 1);
      p = p.map((j) => (j > i ? j - 1 : j));
    } else k++;
  }
  const n = product(d);
  return p.every((j, k) => j === k) ? `<=[${n}]` : `<=[${d.join(',')}]T(${p.join(',')})`;
}

/**
 * XLA's HloSharding for `spec` on `m`, the string JAX puts in `mhlo.sharding`:
 *
 * - nothing split: `{replicated}`;
 * - dim i split `tile[i]` ways: `{devices=[tile...]<=...}`, with one more trailing dim and `last_tile_dim_replicate`
 *   when some mesh axes split nothing (each tile is then held by the devices along those axes).
 *
 * The device list is the mesh's positions with its axes reordered: first the axes that split dim 0 (major to
 * minor), then dim 1's, ..., then the unused axes in mesh order. E.g. on {data: 4, model: 2}, `[-, model]` is
 * `{devices=[1,2,4]<=[4,2]T(1,0) last_tile_dim_replicate}`: tile j of dim 1 lives on positions (d, j) for every d.
 */
export function hloSharding(spec: PartitionSpec, m: Mesh): string {
  checkSpec(spec, m);
  const tiles = tileCounts(spec, m);
  if (tiles.every((t) => t === 1)) return '{replicated}';
  const used = spec.flat();
  const unused = m.axes.filter((a) => !used.includes(a));
  const perm = [...used, ...unused].map((a) => m.axes.indexOf(a));
  const replicas = product(unused.map((a) => axisSize(m, a)));
  const dims = replicas > 1 ? [...tiles, replicas] : tiles;
  return `{devices=[${dims.join(',')}]${iotaText(m.shape, perm)}${replicas > 1 ? ' last_tile_dim_replicate' : ''}}`;
}

/** The shape each device holds: the global shape divided by the tile counts (each must divide evenly). */
export function localShape(spec: PartitionSpec, m: Mesh, shape: readonly number[]): number[] {
  const tiles = tileCounts(spec, m);
  return shape.map((n, i) => {
    if (n % tiles[i]! !== 0) throw new MeshError(`dimension ${i} (size ${n}) does not split evenly ${tiles[i]} ways by ${showSpec(spec)}`);
    return n / tiles[i]!;
  });
}

/** Which tile of each dimension mesh position p holds: mixed radix over the dim's mesh axes, major to minor. */
export function tileIndex(spec: PartitionSpec, m: Mesh, p: number): number[] {
  const c = meshCoords(m, p);
  return spec.map((axes) => axes.reduce((t, a) => t * axisSize(m, a) + c[m.axes.indexOf(a)]!, 0));
}

/** The start index, per dimension, of the block position p holds. */
export function shardOrigin(spec: PartitionSpec, m: Mesh, shape: readonly number[], p: number): number[] {
  const local = localShape(spec, m, shape);
  return tileIndex(spec, m, p).map((t, i) => t * local[i]!);
}

/** 0 for the first position holding its block (the one a download reads), 1.. for the copies along unused axes. */
export function replicaIndex(spec: PartitionSpec, m: Mesh, p: number): number {
  const used = new Set(spec.flat());
  const c = meshCoords(m, p);
  return m.axes.reduce((r, a, i) => (used.has(a) ? r : r * m.shape[i]! + c[i]!), 0);
}
