// Position embeddings: the fixed 2-D sine-cosine table of the image tower (with a cls slot), learned 1-D ones for text.
import { FlipError } from '../../compiler/ir/index.ts';
import { add } from '../ops_elementwise.ts';
import { slice } from '../ops_shape.ts';
import type { Tensor } from '../tensor.ts';
import { stopGradient } from '../transforms.ts';
import { constantInit, normalInit, param, type Params } from './param.ts';

type Tokens = Tensor<'f32', readonly ['batch', 'length', 'embed']>;

/** MoCo v3 / MAE's 1-D table for positions `pos`: [sin(pos·ω), cos(pos·ω)], ω_k = 1/10000^(k/(dim/2)). Row-major [pos, dim]. */
function sincos1d(dim: number, pos: readonly number[]): Float64Array {
  if (dim % 2 !== 0) throw new FlipError(`sin-cos embedding: dimension ${dim} must be even`);
  const half = dim / 2;
  const out = new Float64Array(pos.length * dim);
  pos.forEach((p, m) => {
    for (let k = 0; k < half; k++) {
      const omega = 1 / 10000 ** (k / half);
      out[m * dim + k] = Math.sin(p * omega);
      out[m * dim + half + k] = Math.cos(p * omega);
    }
  });
  return out;
}

/**
 * The 2-D sine-cosine table of utils/posembed_util.py (get_2d_sincos_pos_embed): for grid position (i, j) (row-major,
 * i over height), the first half of the channels encodes the column j, the second half the row i (the official
 * meshgrid puts w first). With `cls`, a zero row comes first. Computed in float64 as numpy does, rounded to f32 by the
 * caller. Returns row-major `[(cls +) h·w, dim]`.
 */
export function sincos2dTable(dim: number, h: number, w: number, cls: boolean): Float32Array {
  if (dim % 4 !== 0) throw new FlipError(`2-D sin-cos embedding: dimension ${dim} must be a multiple of 4`);
  const cols: number[] = [], rows: number[] = [];
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) { cols.push(j); rows.push(i); }
  const embW = sincos1d(dim / 2, cols), embH = sincos1d(dim / 2, rows);
  const first = cls ? 1 : 0;
  const out = new Float32Array((first + h * w) * dim);
  for (let m = 0; m < h * w; m++)
    for (let k = 0; k < dim / 2; k++) {
      out[(first + m) * dim + k] = embW[m * (dim / 2) + k]!;
      out[(first + m) * dim + dim / 2 + k] = embH[m * (dim / 2) + k]!;
    }
  return out;
}

/**
 * Add2DPositionEmbs (sincos, use_cls_token): a `[length = 1 + h·w, embed]` parameter initialised to the sin-cos table
 * and never trained (the official code reads it through stop_gradient; it is a parameter only so that checkpoints
 * carry it). `apply` adds rows 1… to the patch tokens (the cls token, prepended later, gets none).
 */
export class Add2DPositionEmbs {
  constructor(readonly grid: readonly [number, number], readonly size: number) {}
  specs() {
    const [h, w] = this.grid;
    return {
      pos_embedding: param({ length: 1 + h * w, embed: this.size }, constantInit(sincos2dTable(this.size, h, w, true))),
    };
  }
  apply(p: Params<ReturnType<Add2DPositionEmbs['specs']>>, x: Tokens): Tokens {
    const pe = stopGradient(p.pos_embedding);
    return add(x, slice(pe, 'length', 1));
  }
}

/** Add1DPositionEmbs (learned, normal(0.02) init): a `[length, embed]` parameter added to the tokens. */
export class Add1DPositionEmbs {
  constructor(readonly length: number, readonly size: number) {}
  specs() {
    return { pos_embedding: param({ length: this.length, embed: this.size }, normalInit(0.02)) };
  }
  apply(p: Params<ReturnType<Add1DPositionEmbs['specs']>>, x: Tokens): Tokens {
    return add(x, p.pos_embedding);
  }
}
