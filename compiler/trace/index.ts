// compiler/trace: run a TS function on symbolic tensors into an IR Func; pytrees; source locations of the user's calls.
export * from './loc.ts';
export * from './pytree.ts';
export * from './spec.ts';
export * from './trace.ts';
