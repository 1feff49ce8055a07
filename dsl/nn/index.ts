// dsl/nn: parameters with logical axes and initializers, `init`, and the t5x/Flax layers FLIP is built from.
export * from './param.ts';
export * from './context.ts';
export * from './layers.ts';
export * from './encoder.ts';
export * from './posembed.ts';
export * from './patch.ts';
