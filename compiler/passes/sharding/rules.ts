// Logical axis rules (t5x/flax): which mesh axes a logical axis name (`batch`, `embed`, `mlp`, ...) is sharded over.
import type { Mesh } from './mesh.ts';
import { MeshError, mesh } from './mesh.ts';

/** What a logical axis maps to: one mesh axis, several (major to minor), or none (replicated). */
export type MeshAxes = string | readonly string[] | null;

/** Priority-ordered `[logical, mesh]` pairs, as t5x's `logical_axis_rules`. */
export type AxisRules = readonly (readonly [string, MeshAxes])[];

/**
 * Per dimension, the mesh axes it is split over (major to minor); `[]` is not split. JAX's `PartitionSpec`,
 * normalised: every dimension has an entry, and each entry is a list.
 */
export type PartitionSpec = readonly (readonly string[])[];

export interface StandardRulesOptions {
  /** 2: also shard activations' `embed` over `model` (t5x's 2-D activation sharding). Default 1. */
  activationPartitioningDims?: 1 | 2;
  /** 2: also shard parameters' `embed` over `data` (t5x's 2-D parameter sharding). Default 1. */
  parameterPartitioningDims?: 1 | 2;
  /** Rules appended after the standard ones (lower priority). */
  additionalRules?: AxisRules;
}

/** t5x's `standard_logical_axis_rules`: the same table, in the same priority order. */
export function standardLogicalAxisRules(opts: StandardRulesOptions = {}): AxisRules {
  const act = opts.activationPartitioningDims ?? 1;
  const par = opts.parameterPartitioningDims ?? 1;
  const common: [string, MeshAxes][] = [
    ['batch', 'data'], ['vocab', 'model'], ['mlp', 'model'], ['heads', 'model'], ['kv', null], ['joined_kv', 'model'],
  ];
  let rules: [string, MeshAxes][];
  if (act === 1 && par === 1) rules = [['batch', 'data'], ['vocab', 'model'], ['embed', null], ['mlp', 'model'], ['heads', 'model'], ['kv', null], ['joined_kv', 'model']];
  else if (act === 2 && par === 1) rules = [...common, ['embed', 'model']];
  else if (act === 1 && par === 2) rules = [...common, ['embed', 'data']];
  else rules = [...common, ['embed', 'model'], ['embed', 'data']];
  const replicated: [string, MeshAxes][] = [
    ['relpos_buckets', null], ['abspos_buckets', null], ['length', null], ['layers', null], ['stack', null], ['mlp_activations', null],
  ];
  return [...rules, ...replicated, ...(opts.additionalRules ?? [])];
}

/**
 * The rules FLIP trains with: t5x's 1-D defaults (`batch→data`; `vocab`, `mlp`, `heads`, `joined_kv` → `model`;
 * `embed`, `kv`, `length` replicated) plus the names its train.py appends for the patch/projection kernels and
 * the text embedding (`_null0..2`, `classes` → replicated), and flip's name for the projection heads' output (`proj`, as the official `_null1`: replicated).
 */
export const FLIP_AXIS_RULES: AxisRules = standardLogicalAxisRules({
  additionalRules: [['_null0', null], ['_null1', null], ['_null2', null], ['classes', null], ['proj', null]],
});

const asList = (m: MeshAxes): readonly string[] => (m === null ? [] : typeof m === 'string' ? [m] : m);

/**
 * flax's `logical_to_mesh_axes`: walk the rules in priority order; a rule `[name, mesh]` assigns `mesh` to the
 * dimension called `name` if that dimension is still unassigned and none of `mesh`'s axes is used by another
 * dimension. Names no rule assigns (and `null` names) are not split. Mesh axes the mesh lacks are dropped.
 */
export function logicalToMesh(names: readonly (string | null)[], rules: AxisRules, m?: Mesh): PartitionSpec {
  const dups = names.filter((n, i) => n !== null && names.indexOf(n) !== i);
  if (dups.length) throw new MeshError(`logical axes [${names.join(', ')}] repeat ${dups.join(', ')}`);
  const result: (readonly string[] | undefined)[] = names.map(() => undefined);
  const used = new Set<string>();
  for (const [name, target] of rules) {
    const pos = names.indexOf(name);
    if (pos < 0 || result[pos] !== undefined) continue;
    const axes = asList(target);
    if (axes.some((a) => used.has(a))) continue;
    result[pos] = axes;
    for (const a of axes) used.add(a);
  }
  return result.map((axes) => (axes ?? []).filter((a) => !m || m.axes.includes(a)));
}

/** FLIP's `config.partitioning`: how many devices the `model` axis gets, and whether optimizer states are split further. */
export interface PartitioningConfig {
  /** Size of the `model` mesh axis (t5x `num_partitions`); the rest of the devices form `data`. Default 1. */
  numPartitions?: number;
  /** Shard each optimizer state over the mesh axis its parameter is not sharded over (FLIP's `partition_states`). Default false. */
  partitionStates?: boolean;
  /** Replace the logical axis rules (default FLIP_AXIS_RULES). */
  rules?: AxisRules;
  /** Rules appended to `rules` (lower priority). */
  additionalRules?: AxisRules;
}

export interface Partitioning {
  mesh: Mesh;
  rules: AxisRules;
  partitionStates: boolean;
}

/**
 * The mesh and rules for `deviceCount` devices: `{data: deviceCount / numPartitions, model: numPartitions}`, as t5x's
 * default mesh on CPU/GPU (data major, model minor, so a model group is adjacent devices); `meshOverride` (e.g. from
 * `--mesh`) replaces the shape but keeps the config's rules.
 */
export function resolvePartitioning(cfg: PartitioningConfig = {}, deviceCount: number, meshOverride?: Mesh): Partitioning {
  const rules = [...(cfg.rules ?? FLIP_AXIS_RULES), ...(cfg.additionalRules ?? [])];
  const partitionStates = cfg.partitionStates ?? false;
  if (meshOverride) {
    if (meshOverride.size > deviceCount) throw new MeshError(`the mesh needs ${meshOverride.size} devices but ${deviceCount} are available`);
    return { mesh: meshOverride, rules, partitionStates };
  }
  const np = cfg.numPartitions ?? 1;
  if (!Number.isInteger(np) || np < 1 || deviceCount % np !== 0)
    throw new MeshError(`numPartitions ${np} must be a positive divisor of the device count ${deviceCount}`);
  return { mesh: mesh({ data: deviceCount / np, model: np }), rules, partitionStates };
}
