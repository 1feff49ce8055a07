// Sharding for model authors: `shard(x, ['batch', 'length', 'mlp'])`, t5x's `with_sharding_constraint`, and `mesh()`.
//
// Model code names logical axes only; which devices they land on is decided later, when the sharding pass
// (compiler/passes/sharding) resolves the names against a mesh and logical axis rules. So a model traces the same for
// one device or a pod, and `shard` is the identity wherever no mesh is given (as t5x's constraint is a no-op without
// one).
import type { Axes } from './axes.ts';
import { cast, emit, fail, userOp } from './core.ts';
import type { DType } from '../compiler/ir/index.ts';
import type { Tensor } from './tensor.ts';

export { mesh, parseMesh, showMesh, FLIP_AXIS_RULES, standardLogicalAxisRules, type Mesh, type AxisRules, type PartitioningConfig } from '../compiler/passes/index.ts';

/**
 * `shard(h, ['batch', 'length', 'mlp'])`: constrain how `h` is laid out across devices, by logical axis name, one
 * per dimension (`null`: not split). The names go through the logical axis rules (`batch→data`, `mlp→model`, ...);
 * XLA then keeps `h` in that layout, which guides the partitioning of the ops around it. Without names, x's own
 * axis names are the logical ones. Returns x unchanged in value and type; its gradient gets the same constraint.
 *
 * FLIP's model has these after the MLP's gelu (`batch length mlp`), on q/k/v (`batch length heads kv`), and on the
 * masked patches (`batch length embed`).
 *
 * On a mesh, every name must have a rule (one mapping it to `null`, replicated, is fine) and the mesh axes a name maps
 * to must divide its dimension; else the sharding pass raises UnmappedAxisError or IndivisibleAxisError, naming this
 * constraint (`shard [batch, length, mlp] at file:line`), the tensor's axes and the mesh.
 */
export function shard<D extends DType, A extends Axes>(x: Tensor<D, A>, axes?: { readonly [K in keyof A]: string | null }): Tensor<D, A> {
  return cast(userOp('shard', () => {
    const logical: readonly (string | null)[] = axes ? [...(axes as readonly (string | null)[])] : [...x.axes];
    if (logical.length !== x.rank) fail(`${logical.length} logical axes [${logical.join(', ')}] for a rank-${x.rank} tensor [${x.axes.join(', ')}]`);
    const named = logical.filter((a): a is string => a !== null);
    if (new Set(named).size !== named.length) fail(`logical axes [${logical.join(', ')}] repeat a name`);
    return emit('sharding_constraint', [x], { sharding: '{replicated}', logical });
  }));
}
