// Contractions over named axes: einsum and dot, lowered to reduce + dot_general + transpose.
import { showType, type DType } from '../compiler/ir/index.ts';
import type { Axes, DotOut, EinsumOut } from './axes.ts';
import { axisIndex, cast, emit, fail, reduceAxes, userOp, type AnyTensor } from './core.ts';
import type { Tensor } from './tensor.ts';

/** Reorder x's axes to `order` (a permutation of them); no op if already so. */
function permuteTo(x: AnyTensor, order: readonly string[]): AnyTensor {
  const perm = order.map((a) => axisIndex(x, a));
  return perm.every((p, i) => p === i) ? x : emit('transpose', [x], { permutation: perm });
}

/**
 * Contract `x` with `y`: axes in `contract` are summed over, other shared axes are batch axes, the rest are free.
 * The dot_general result is [batch…, x free…, y free…]; with `natural` it is transposed to x's remaining axes in x's
 * order, then y's new ones.
 */
function contract(x: AnyTensor, y: AnyTensor, contracted: readonly string[], natural: boolean, resultDtype?: DType): AnyTensor {
  if (x.dtype !== y.dtype) fail(`dtypes differ: ${showType(x.type)} vs ${showType(y.type)} (no implicit promotion; use astype)`);
  for (const a of contracted) {
    axisIndex(x, a);
    axisIndex(y, a);
  }
  const shared = x.axes.filter((a) => y.axes.includes(a));
  for (const a of shared)
    if (x.shape[x.axes.indexOf(a)] !== y.shape[y.axes.indexOf(a)])
      fail(`axis '${a}' is ${x.shape[x.axes.indexOf(a)]} in ${showType(x.type)} but ${y.shape[y.axes.indexOf(a)]} in ${showType(y.type)}`);
  const batch = shared.filter((a) => !contracted.includes(a));
  const r = emit('dot_general', [x, y], {
    lhsBatch: batch.map((a) => x.axes.indexOf(a)), rhsBatch: batch.map((a) => y.axes.indexOf(a)),
    lhsContract: contracted.map((a) => x.axes.indexOf(a)), rhsContract: contracted.map((a) => y.axes.indexOf(a)),
    ...(resultDtype && resultDtype !== x.dtype ? { resultDtype } : {}),
  });
  if (!natural) return r;
  return permuteTo(r, [...x.axes.filter((a) => !contracted.includes(a)), ...y.axes.filter((a) => !contracted.includes(a) && !x.axes.includes(a))]);
}

export interface DotOptions<C extends string> {
  /** Axes summed over; they must be in both operands. Other axes in both are batch axes. */
  contract: readonly C[];
  /** Accumulate/return in this dtype (e.g. bf16 × bf16 → f32). */
  resultDtype?: DType;
}

/**
 * `dot(x, w, {contract: ['embed']})`: a contraction by axis name. Shape rule: x's axes without the contracted ones,
 * then y's axes that are not in x: `[batch, length, embed] · [embed, mlp]` → `[batch, length, mlp]`; shared
 * uncontracted axes are batch axes: `q[batch, q, heads, kv] · k[batch, k, heads, kv]` (contract kv) →
 * `[batch, q, heads, k]`.
 */
export function dot<D extends DType, A extends Axes, B extends Axes, C extends A[number] & B[number]>(
  x: Tensor<D, A>, y: Tensor<NoInfer<D>, B>, opts: DotOptions<C>,
): Tensor<D, DotOut<A, B, C>> {
  return cast(userOp('dot', () => contract(x, y, opts.contract, true, opts.resultDtype)));
}

interface EinsumSpec {
  inputs: string[][];
  output: string[];
}

function parseEinsum(spec: string, n: number): EinsumSpec {
  const arrow = spec.split('->');
  if (arrow.length !== 2) fail(`'${spec}' needs exactly one '->'`);
  const words = (s: string) => s.trim().split(/\s+/).filter((w) => w !== '');
  const inputs = arrow[0]!.split(',').map(words);
  const output = words(arrow[1]!);
  if (inputs.length !== n) fail(`'${spec}' names ${inputs.length} operand(s) but ${n} were given`);
  for (const names of [...inputs, output])
    if (new Set(names).size !== names.length) fail(`'${spec}': an axis appears twice in one operand ([${names.join(' ')}])`);
  for (const a of output) if (!inputs.some((names) => names.includes(a))) fail(`'${spec}': output axis '${a}' is in no input`);
  return { inputs, output };
}

/**
 * `einsum('batch length embed, embed mlp -> batch length mlp', x, w)`: Einstein summation over named axes. Each input
 * term lists its operand's axis names (any order, all of them); axes missing from the output are summed over;
 * axes in several inputs and in the output are batch axes. Shape rule: the output term, in its order. Lowered as
 * reduce (axes only one operand has) + dot_general per operand pair, left to right, + a final transpose.
 */
export function einsum<const S extends string, D extends DType>(spec: S, ...operands: readonly [Tensor<D, Axes>, ...Tensor<NoInfer<D>, Axes>[]]): Tensor<D, EinsumOut<S>> {
  return cast(userOp('einsum', () => {
    const { inputs, output } = parseEinsum(spec, operands.length);
    operands.forEach((x, k) => {
      const names = inputs[k]!;
      if (names.length !== x.rank || !names.every((a) => x.axes.includes(a)))
        fail(`operand ${k} is ${showType(x.type)} but '${spec}' calls it [${names.join(' ')}]`);
    });
    // Axes still needed after step k: in the output or in a later operand.
    const neededAfter = (k: number) => new Set([...output, ...inputs.slice(k + 1).flat()]);
    let acc: AnyTensor = operands[0];
    for (let k = 1; k <= operands.length; k++) {
      const keep = neededAfter(k - 1);
      const next = operands[k];
      // Sum away axes of acc that nothing later needs and that `next` does not share.
      const lone = acc.axes.filter((a) => !keep.has(a) && !(next?.axes.includes(a) ?? false));
      acc = reduceAxes('sum', acc, lone);
      if (!next) break;
      const keepNext = neededAfter(k);
      const y = reduceAxes('sum', next, next.axes.filter((a) => !keepNext.has(a) && !acc.axes.includes(a)));
      const contracted = acc.axes.filter((a) => y.axes.includes(a) && !keepNext.has(a));
      acc = contract(acc, y, contracted, false); // names make the intermediate order irrelevant
    }
    return permuteTo(acc, output);
  }));
}
