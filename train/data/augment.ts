// Image preprocessing of the official FLIP pipeline (utils/transform_util.py): RandomResizedCrop
// "v4" (area 0.5–1.0 of the image, aspect ratio 3/4–4/3 log-uniform, 10 attempts, else a centre
// crop), bicubic resize, random horizontal flip, then ImageNet mean/std normalisation
// (MEAN_RGB = [0.485, 0.456, 0.406]·255, STDDEV_RGB = [0.229, 0.224, 0.225]·255 — the official
// code's constants, not OpenAI CLIP's). Eval: the official `_decode_and_center_crop` with
// eval_pad = 0, i.e. the centred square of side min(h, w) resized to image_size.
// The two resizes differ as the official code's do: training's `tf.image.resize(..., BICUBIC)` samples
// at half-pixel centres with the Keys kernel (a = -0.5, taps outside the image weighted 0); the eval's
// `tf.compat.v1.image.resize_bicubic` (half_pixel_centers=False) is TF's legacy resize: source
// coordinate o·in/out, a = -0.75, edge taps clamped to the border pixel. Both match TensorFlow 2.21 to
// float32 rounding (test/fixtures/resize: TF's outputs and the script that made them).
// sharp (libvips) decodes; crop, resize and normalisation are done here in one pass (float output,
// no clipping). Output is float32 HWC (NHWC batches).
import sharp from 'sharp';
import type { Rng } from './rng.ts';

export const MEAN_RGB = [0.485 * 255, 0.456 * 255, 0.406 * 255] as const;
export const STDDEV_RGB = [0.229 * 255, 0.224 * 255, 0.225 * 255] as const;
/** transform_util.CROP_PADDING: the fallback centre crop keeps image_size / (image_size + 32) of the short side. */
export const CROP_PADDING = 32;

export interface CropWindow {
  top: number;
  left: number;
  height: number;
  width: number;
}

export interface AugmentOptions {
  /** Fraction of the image area a random crop covers (official default for FLIP: [0.5, 1]). */
  areaRange: readonly [number, number];
  /** Crop width / height, sampled log-uniformly (official: [3/4, 4/3]). */
  aspectRatioRange: readonly [number, number];
  /** Random horizontal flip with probability 1/2 (official `aug.flip`: true). */
  flip: boolean;
}

export const OFFICIAL_AUGMENT: AugmentOptions = Object.freeze({
  areaRange: [0.5, 1] as const,
  aspectRatioRange: [3 / 4, 4 / 3] as const,
  flip: true,
});

/** tf.round: halves to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `_get_center_crop_window`: the centred square of side floor(size / (size + pad) · min(h, w)). */
export function centerCropWindow(imgH: number, imgW: number, imageSize: number, pad: number): CropWindow {
  const side = Math.max(1, Math.floor((imageSize / (imageSize + pad)) * Math.min(imgH, imgW)));
  return { top: (imgH - side + 1) >> 1, left: (imgW - side + 1) >> 1, height: side, width: side };
}

/**
 * `_decode_and_random_crop_v4`: 10 draws of (area, log-ratio); the first whose w, h fit the image
 * wins, placed uniformly; if none fits, the padded centre crop. Draw order: 10 areas, 10 ratios,
 * then the offsets.
 */
export function randomResizedCropWindow(imgH: number, imgW: number, imageSize: number, rng: Rng, opts: Pick<AugmentOptions, 'areaRange' | 'aspectRatioRange'>): CropWindow {
  const attempts = 10;
  const area = imgH * imgW;
  const [a0, a1] = opts.areaRange;
  const logR0 = Math.log(opts.aspectRatioRange[0]);
  const logR1 = Math.log(opts.aspectRatioRange[1]);
  const targets = Array.from({ length: attempts }, () => rng.uniform(a0, a1) * area);
  const ratios = Array.from({ length: attempts }, () => Math.exp(rng.uniform(logR0, logR1)));
  for (let i = 0; i < attempts; i++) {
    const w = roundHalfEven(Math.sqrt(targets[i]! * ratios[i]!));
    const h = roundHalfEven(Math.sqrt(targets[i]! / ratios[i]!));
    if (w <= imgW && h <= imgH && w >= 1 && h >= 1) {
      const left = rng.int(0, imgW - w + 1);
      const top = rng.int(0, imgH - h + 1);
      return { top, left, height: h, width: w };
    }
  }
  return centerCropWindow(imgH, imgW, imageSize, CROP_PADDING);
}

/** Decoded pixels, RGB uint8 HWC. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Full decode to 8-bit sRGB (grey and CMYK converted, alpha dropped). Corrupt bytes reject. */
export async function decodeRgb(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  return { data, width: info.width, height: info.height };
}

/** Cubic convolution kernel with parameter a: Keys' (a = -0.5) or TF's legacy one (a = -0.75). */
function cubic(x: number, a: number): number {
  x = Math.abs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/**
 * How a bicubic resize samples: `half-pixel` is `tf.image.resize(..., BICUBIC)` (training's crop: half_pixel_centers
 * = True), `legacy` is `tf.compat.v1.image.resize_bicubic` with its defaults (the eval's: align_corners = False,
 * half_pixel_centers = False).
 */
export type BicubicSampling = 'half-pixel' | 'legacy';

/**
 * Tap indices and weights of one axis, as TF's resize_bicubic. half-pixel: source coordinate (o + 0.5)·scale - 0.5,
 * Keys a = -0.5, taps outside [0, n) get weight 0 and the weights are renormalised. legacy: source coordinate
 * o·scale, a = -0.75, taps outside clamped to the edge pixel with their weight kept.
 */
function taps(inSize: number, outSize: number, sampling: BicubicSampling): { index: Int32Array; weight: Float64Array } {
  const scale = inSize / outSize;
  const legacy = sampling === 'legacy';
  const a = legacy ? -0.75 : -0.5;
  const index = new Int32Array(outSize * 4);
  const weight = new Float64Array(outSize * 4);
  for (let o = 0; o < outSize; o++) {
    const f = legacy ? o * scale : (o + 0.5) * scale - 0.5;
    const base = Math.floor(f);
    const delta = f - base;
    let sum = 0;
    for (let k = 0; k < 4; k++) {
      const i = base - 1 + k;
      const inside = i >= 0 && i < inSize;
      const w = inside || legacy ? cubic(delta - (k - 1), a) : 0;
      index[o * 4 + k] = Math.min(inSize - 1, Math.max(0, i));
      weight[o * 4 + k] = w;
      sum += w;
    }
    if (!legacy && Math.abs(sum) > 1e-30) for (let k = 0; k < 4; k++) weight[o * 4 + k]! /= sum;
  }
  return { index, weight };
}

/**
 * Crop `win` of `img`, bicubic-resize it to size×size (float, unclipped, as TF's resize_bicubic samples it: training's
 * half-pixel centres by default, the eval's `legacy`), optionally mirror it left–right, normalise, and write HWC
 * float32 at out[offset...].
 */
export function cropResizeNormalizeInto(
  img: RgbImage, win: CropWindow, size: number, flip: boolean, out: Float32Array, offset: number, sampling: BicubicSampling = 'half-pixel',
): void {
  const { data, width } = img;
  const tx = taps(win.width, size, sampling);
  const ty = taps(win.height, size, sampling);
  const xi = tx.index, xw = tx.weight, yi = ty.index, yw = ty.weight;
  // horizontal pass over the crop's rows: [win.height, size, 3]
  const n = win.height * size * 3;
  if (scratch.length < n) scratch = new Float64Array(n);
  const tmp = scratch;
  for (let y = 0; y < win.height; y++) {
    const row = ((win.top + y) * width + win.left) * 3;
    for (let x = 0, t = y * size * 3; x < size; x++, t += 3) {
      const k = x * 4;
      const w0 = xw[k]!, w1 = xw[k + 1]!, w2 = xw[k + 2]!, w3 = xw[k + 3]!;
      const p0 = row + xi[k]! * 3, p1 = row + xi[k + 1]! * 3, p2 = row + xi[k + 2]! * 3, p3 = row + xi[k + 3]! * 3;
      tmp[t] = w0 * data[p0]! + w1 * data[p1]! + w2 * data[p2]! + w3 * data[p3]!;
      tmp[t + 1] = w0 * data[p0 + 1]! + w1 * data[p1 + 1]! + w2 * data[p2 + 1]! + w3 * data[p3 + 1]!;
      tmp[t + 2] = w0 * data[p0 + 2]! + w1 * data[p1 + 2]! + w2 * data[p2 + 2]! + w3 * data[p3 + 2]!;
    }
  }
  const m0 = MEAN_RGB[0], m1 = MEAN_RGB[1], m2 = MEAN_RGB[2];
  const s0 = 1 / STDDEV_RGB[0], s1 = 1 / STDDEV_RGB[1], s2 = 1 / STDDEV_RGB[2];
  const stride = size * 3;
  for (let y = 0; y < size; y++) {
    const k = y * 4;
    const w0 = yw[k]!, w1 = yw[k + 1]!, w2 = yw[k + 2]!, w3 = yw[k + 3]!;
    const r0 = yi[k]! * stride, r1 = yi[k + 1]! * stride, r2 = yi[k + 2]! * stride, r3 = yi[k + 3]! * stride;
    for (let x = 0; x < size; x++) {
      const c = x * 3;
      const o = offset + (y * size + (flip ? size - 1 - x : x)) * 3;
      out[o] = (w0 * tmp[r0 + c]! + w1 * tmp[r1 + c]! + w2 * tmp[r2 + c]! + w3 * tmp[r3 + c]! - m0) * s0;
      out[o + 1] = (w0 * tmp[r0 + c + 1]! + w1 * tmp[r1 + c + 1]! + w2 * tmp[r2 + c + 1]! + w3 * tmp[r3 + c + 1]! - m1) * s1;
      out[o + 2] = (w0 * tmp[r0 + c + 2]! + w1 * tmp[r1 + c + 2]! + w2 * tmp[r2 + c + 2]! + w3 * tmp[r3 + c + 2]! - m2) * s2;
    }
  }
}

/** Row-pass buffer reused across calls (one per thread; the pass is synchronous). */
let scratch = new Float64Array(0);

/** Training view of one image (random crop v4, resize, flip with p = 1/2), normalised into out[offset...]. */
export async function augmentTrainInto(bytes: Uint8Array, size: number, rng: Rng, opts: AugmentOptions, out: Float32Array, offset: number): Promise<void> {
  const img = await decodeRgb(bytes);
  const win = randomResizedCropWindow(img.height, img.width, size, rng, opts);
  const flip = opts.flip && rng.next() < 0.5;
  cropResizeNormalizeInto(img, win, size, flip, out, offset);
}

/**
 * Eval view: centred square crop (official eval_pad = 0: side min(h, w)), resized as the official eval does
 * (`tf.compat.v1.image.resize_bicubic`: legacy sampling), normalised into out[offset...].
 */
export async function preprocessEvalInto(bytes: Uint8Array, size: number, pad: number, out: Float32Array, offset: number): Promise<void> {
  const img = await decodeRgb(bytes);
  cropResizeNormalizeInto(img, centerCropWindow(img.height, img.width, size, pad), size, false, out, offset, 'legacy');
}
