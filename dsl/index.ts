// dsl: what model authors import — Tensor, its ops (as methods and free functions), and tracing helpers.
export { Tensor } from './tensor.ts';
export type * from './axes.ts';
export type { AnyTensor, ConstantData } from './core.ts';
export type { HostData } from '../compiler/ir/index.ts';
export * from './ops_elementwise.ts';
export * from './ops_reduce.ts';
export * from './ops_shape.ts';
export * from './ops_linalg.ts';
export * from './ops_index.ts';
export * from './ops_create.ts';
export * from './ops_nn.ts';
export * from './shard.ts';
export { grad, valueAndGrad, stopGradient, gradientBarrier, checkpoint, scan, type ScanIndex, type ScanOptions, type Stacked, type Unstacked } from './transforms.ts';
export {
  traceFunc, inlineFunc, currentBuilder, isTracing, flatten, unflatten, treeMap, spec,
  type TensorSpec, type AxisSizes, type Traced, type TraceOptions, type TreeDef,
} from '../compiler/trace/index.ts';
