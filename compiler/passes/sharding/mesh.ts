// Device meshes: named axes over a set of devices (`mesh({data: 4, model: 2})`), as JAX's `Mesh` and t5x's (data, model) mesh.
import { FlipError } from '../../ir/index.ts';

/**
 * A logical arrangement of devices as an n-d array with named axes, major to minor. Position p (row-major over
 * `shape`) is SPMD partition p: HloSharding tile assignments name positions, and the device assignment of the
 * compiled program maps position p to `devices[p]`.
 */
export interface Mesh {
  /** Axis names, major to minor: `['data', 'model']`. */
  readonly axes: readonly string[];
  /** Axis sizes, in `axes` order. */
  readonly shape: readonly number[];
  /** Client device index of each position (row-major); default 0..size-1. */
  readonly devices: readonly number[];
  /** Number of devices (product of `shape`). */
  readonly size: number;
}

export class MeshError extends FlipError {
  override name = 'MeshError';
}

export interface MeshOptions {
  /** Client device indices, one per mesh position in row-major order (default 0..size-1). */
  devices?: readonly number[];
}

/** `mesh({data: 4, model: 2})`: 8 devices as a 4x2 array; axis order is the record's key order. */
export function mesh(sizes: Readonly<Record<string, number>>, opts: MeshOptions = {}): Mesh {
  const axes = Object.keys(sizes);
  if (axes.length === 0) throw new MeshError('a mesh needs at least one axis, e.g. mesh({data: 8})');
  for (const a of axes) {
    if (!/^[A-Za-z_][\w]*$/.test(a)) throw new MeshError(`mesh axis name '${a}' is not an identifier`);
    const n = sizes[a]!;
    if (!Number.isInteger(n) || n < 1) throw new MeshError(`mesh axis '${a}' has size ${n}; sizes are positive integers`);
  }
  const shape = axes.map((a) => sizes[a]!);
  const size = shape.reduce((x, y) => x * y, 1);
  const devices = opts.devices ? [...opts.devices] : Array.from({ length: size }, (_, i) => i);
  if (devices.length !== size) throw new MeshError(`mesh ${showMesh({ axes, shape })} has ${size} positions but ${devices.length} devices were given`);
  if (new Set(devices).size !== devices.length || devices.some((d) => !Number.isInteger(d) || d < 0))
    throw new MeshError(`mesh devices [${devices.join(', ')}] must be distinct device indices`);
  return { axes, shape, devices, size };
}

/** `data=4,model=2` (what `--mesh` takes) → a mesh; `8` alone is `data=8`. */
export function parseMesh(text: string, opts: MeshOptions = {}): Mesh {
  const t = text.trim();
  if (/^\d+$/.test(t)) return mesh({ data: Number(t) }, opts);
  const sizes: Record<string, number> = {};
  for (const part of t.split(',')) {
    const m = /^\s*([A-Za-z_]\w*)\s*[=:]\s*(\d+)\s*$/.exec(part);
    if (!m) throw new MeshError(`cannot read mesh '${text}': expected axis=size pairs like data=4,model=2`);
    if (m[1]! in sizes) throw new MeshError(`mesh '${text}' names axis '${m[1]}' twice`);
    sizes[m[1]!] = Number(m[2]);
  }
  return mesh(sizes, opts);
}

/** `data=4,model=2`. */
export function showMesh(m: Pick<Mesh, 'axes' | 'shape'>): string {
  return m.axes.map((a, i) => `${a}=${m.shape[i]}`).join(',');
}

/** The size of a mesh axis; 1 for an axis the mesh does not have (a rule naming it shards nothing). */
export function axisSize(m: Mesh, axis: string): number {
  const i = m.axes.indexOf(axis);
  return i < 0 ? 1 : m.shape[i]!;
}

/** Mesh coordinates of position p (row-major). */
export function meshCoords(m: Mesh, p: number): number[] {
  const c = new Array<number>(m.shape.length);
  for (let i = m.shape.length - 1; i >= 0; i--) {
    c[i] = p % m.shape[i]!;
    p = Math.floor(p / m.shape[i]!);
  }
  return c;
}

export function sameMesh(a: Mesh, b: Mesh): boolean {
  return a.axes.join() === b.axes.join() && a.shape.join() === b.shape.join() && a.devices.join() === b.devices.join();
}
