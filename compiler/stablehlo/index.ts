// compiler/stablehlo: IR Module/Func → StableHLO MLIR text that PJRT plugins compile (one lowering rule per primitive).
import type { Func, Module } from '../ir/func.ts';
import { module } from '../ir/func.ts';
import { emitWith, type EmitOptions } from './emit.ts';
import { LOWERING } from './rules.ts';

export { EmitError, type EmitOptions, type LowerCtx, type LowerRule, type LowerRules } from './emit.ts';
export { LOWERING, reduceInit } from './rules.ts';
export { ConstantError, decimalFloat, denseLiteral, floatBits, floatFromBits, hexFloat, roundToFloat, tensorText } from './text.ts';

/** The whole module: `module @<name> attributes {mhlo.num_partitions = ...}` with the entry as `func.func public @main`. */
export function emitModule(m: Module, opts: EmitOptions = {}): string {
  return emitWith(LOWERING, m, opts);
}

/** One function as a module of its own (`moduleName` defaults to the function's name). */
export function emitFunc(f: Func, opts: EmitOptions = {}): string {
  return emitWith(LOWERING, module([f]), opts);
}
