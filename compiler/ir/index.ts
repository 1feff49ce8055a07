// compiler/ir: dtypes, tensor types, the primitive op set, Func/Module, shape rules, verifier, printer.
export * from './dtype.ts';
export * from './types.ts';
export * from './prims.ts';
export * from './shape.ts';
export * from './func.ts';
export * from './verify.ts';
export * from './print.ts';
export * from './errors.ts';
export * from './cost.ts';
