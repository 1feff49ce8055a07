// Donation: parameters whose buffers the program may reuse for results (JAX's `donate_argnums`), as IR annotations.
import { FlipError } from '../ir/errors.ts';
import type { ArgInfo, Func } from '../ir/func.ts';
import { showType } from '../ir/types.ts';

/**
 * Mark parameter `param` as donated to result `result` for each pair (ArgInfo.aliasOutput, which the emitter writes
 * as `tf.aliasing_output`). Each pair must have the same type on both sides; a result takes at most one parameter.
 */
export function donate(f: Func, pairs: ReadonlyArray<readonly [param: number, result: number]>, what = `@${f.name}`): Func {
  if (!pairs.length) return f;
  const taken = new Set<number>();
  const paramInfo: ArgInfo[] = f.paramInfo.map((i) => ({ ...i }));
  for (const [p, r] of pairs) {
    const pv = f.params[p], rv = f.results[r];
    if (!pv) throw new FlipError(`${what}: donated parameter ${p} does not exist (${f.params.length} parameters)`);
    const pname = f.paramInfo[p]?.name ?? String(p);
    if (!rv || showType(pv.type) !== showType(rv.type)) {
      throw new FlipError(`${what}: donated input ${pname} is ${showType(pv.type)} but result ${r} is ${rv ? showType(rv.type) : 'missing'}: return the donated arguments' new values first, leaf for leaf`);
    }
    if (taken.has(r)) throw new FlipError(`${what}: result ${r} is donated to twice`);
    taken.add(r);
    paramInfo[p] = { ...paramInfo[p], aliasOutput: r };
  }
  return { ...f, paramInfo };
}
