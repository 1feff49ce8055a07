// compiler/passes: IR → IR rewrites: autodiff (VJP), remat, simplification, sharding.
export { vjpFunc, type VjpOptions } from './autodiff.ts';
export { VJP_RULES, isStopGradient, type VjpArgs, type VjpRule, type VjpRules } from './vjp_rules.ts';
export { REMAT_POLICIES, SAVEABLE, Recompute, residuals, type Residuals } from './remat.ts';
export { simplify, dce, splatValue, type SimplifyOptions } from './simplify.ts';
export { OpEmitter } from './emit.ts';
export { donate } from './donate.ts';
export * from './sharding/index.ts';
