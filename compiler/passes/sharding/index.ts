// compiler/passes/sharding: meshes, logical axis rules, HloSharding text, and the pass that annotates a Func for XLA's SPMD partitioner.
export { MeshError, axisSize, mesh, meshCoords, parseMesh, sameMesh, showMesh, type Mesh, type MeshOptions } from './mesh.ts';
export {
  FLIP_AXIS_RULES, logicalToMesh, resolvePartitioning, standardLogicalAxisRules,
  type AxisRules, type MeshAxes, type PartitionSpec, type Partitioning, type PartitioningConfig, type StandardRulesOptions,
} from './rules.ts';
export { checkSpec, hloSharding, localShape, replicaIndex, replicatedSpec, shardOrigin, showSpec, tileCounts, tileIndex } from './spec.ts';
export { IndivisibleAxisError, UnmappedAxisError, defaultRole, describeSharding, shardFunc, type LeafRole, type LeafSharding, type ShardedFunc, type ShardingOptions } from './pass.ts';
