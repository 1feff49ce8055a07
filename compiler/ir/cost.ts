// Model FLOPs read off the IR: what benchmarks and masking tests count (matmuls only, as the FLIP paper does).
import type { Func } from './func.ts';
import type { PrimAttrs } from './prims.ts';

/** 2 · (result elements) · (contracted size), summed over the dot_generals of `f`. */
export function dotFlops(f: Func): number {
  let flops = 0;
  for (const op of f.ops) {
    // A scan runs its body `length` times.
    if (op.prim === 'scan') flops += (op.attrs as PrimAttrs['scan']).length * dotFlops((op.attrs as PrimAttrs['scan']).body);
    if (op.prim !== 'dot_general') continue;
    const a = op.attrs as PrimAttrs['dot_general'];
    const lhs = op.operands[0]!.type.shape;
    const contracted = a.lhsContract.reduce((n, d) => n * lhs[d]!, 1);
    flops += 2 * op.results[0]!.type.shape.reduce((n, d) => n * d, 1) * contracted;
  }
  return flops;
}
