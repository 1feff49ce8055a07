// Patch embedding: images → tokens, as a patchify (reshape + transpose) and one matmul instead of a strided conv.
import { FlipError } from '../../compiler/ir/index.ts';
import { cast, userOp } from '../core.ts';
import { add, astype } from '../ops_elementwise.ts';
import { dot } from '../ops_linalg.ts';
import { mergeAxes, reshape, transpose } from '../ops_shape.ts';
import type { Tensor } from '../tensor.ts';
import type { ComputeDType } from './layers.ts';
import { param, varianceScaling, zeros, type Params } from './param.ts';

export type Images = Tensor<'f32', readonly ['batch', 'height', 'width', 'channels']>;
export type Patches = Tensor<'f32', readonly ['batch', 'length', 'patch']>;

/**
 * `patchify(imgs, [16, 16])`: `[batch, H, W, C]` → `[batch, length = (H/p)·(W/q), patch = p·q·C]`, patches in row-major
 * grid order and each patch's pixels ordered (row, column, channel): models_flip.VisionTransformer.patchify.
 */
export function patchify(imgs: Images, size: readonly [number, number]): Patches {
  return cast(userOp('patchify', () => {
    const [p, q] = size;
    const n = imgs.size('batch'), H = imgs.size('height'), W = imgs.size('width'), c = imgs.size('channels');
    if (H % p !== 0 || W % q !== 0) throw new FlipError(`patchify: image ${H}x${W} is not a whole number of ${p}x${q} patches`);
    const h = H / p, w = W / q;
    const x = reshape(imgs, { batch: n, grid_h: h, patch_h: p, grid_w: w, patch_w: q, channels: c });
    const t = transpose(x, ['batch', 'grid_h', 'grid_w', 'patch_h', 'patch_w', 'channels']);
    return mergeAxes(mergeAxes(t, ['grid_h', 'grid_w'], 'length'), ['patch_h', 'patch_w', 'channels'], 'patch');
  }));
}

/**
 * The ViT patch embedding: official `t5x.layers.Conv(kernel_size=p, strides=p, padding='VALID')` with a
 * `[p, q, C, embed]` kernel. A VALID convolution whose stride equals its window touches each pixel once, so it is
 * exactly patchify followed by a Dense with the kernel read as `[p·q·C, embed]` (row-major, as patchify orders pixels):
 * the same parameters, the same sums, and a plain dot_general for the compiler. The kernel keeps the official 4-D
 * shape and init (utils/initializers_util.patch_kernel: U(−1, 1)·√(3 / ((p·q·C + embed)/2)), i.e. xavier on the 2-D view).
 */
export class PatchEmbed {
  /** `dtype`: the compute dtype of the matmul and its output (t5x.layers.Conv's `dtype`; default 'f32'). */
  constructor(readonly patch: readonly [number, number], readonly channels: number, readonly size: number, readonly dtype: ComputeDType = 'f32') {}
  specs() {
    const [p, q] = this.patch;
    const fanIn = p * q * this.channels;
    return {
      // official kernel_axes ("_null0", "_null1", "_null2", "embed"): [patch_h, patch_w, channels, embed], replicated.
      kernel: param({ _null0: p, _null1: q, _null2: this.channels, embed: this.size }, varianceScaling(1, 'fan_avg', 'uniform', { fanIn, fanOut: this.size })),
      bias: param({ embed: this.size }, zeros()),
    };
  }
  apply(p: Params<ReturnType<PatchEmbed['specs']>>, imgs: Images): Tensor<'f32', readonly ['batch', 'length', 'embed']> {
    return cast(userOp('PatchEmbed', () => {
      const dt = this.dtype;
      const kernel = astype(mergeAxes(p.kernel, ['_null0', '_null1', '_null2'], 'patch'), dt);
      return add(dot(astype(patchify(imgs, this.patch), dt), kernel, { contract: ['patch'] }), astype(p.bias, dt));
    }));
  }
}
