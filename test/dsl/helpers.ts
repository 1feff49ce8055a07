// Shared by the DSL tests: trace a function on specs, check the IR verifies, and read back what was emitted.
import { expect } from 'vitest';
import { showType, verifyFunc, type Func, type Op } from '../../compiler/ir/index.ts';
import { traceFunc } from '../../dsl/index.ts';

/** Trace `fn` on `specs`; the Func must verify. */
export function trace(fn: (...args: never[]) => unknown, specs: readonly unknown[]): Func {
  const { func } = traceFunc(fn, specs);
  expect(verifyFunc(func)).toEqual([]);
  return func;
}

export const prims = (f: Func): string[] => f.ops.map((o) => o.prim);
export const resultType = (f: Func, i = 0): string => showType(f.results[i]!.type);
export const opsOf = (f: Func, prim: string): Op[] => f.ops.filter((o) => o.prim === prim);
