// The bicubic resizes of the official input pipeline (utils/transform_util.py), against TensorFlow's own outputs
// (test/fixtures/resize/resize.json, made by make_resize.py with TF 2.21): the eval's
// tf.compat.v1.image.resize_bicubic (legacy sampling: o·in/out, a = -0.75, edges clamped) and the training crop's
// tf.image.resize(..., BICUBIC) (half-pixel centres, Keys a = -0.5), up and down, square and not.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { cropResizeNormalizeInto, MEAN_RGB, preprocessEvalInto, STDDEV_RGB, type BicubicSampling } from '../../train/data/augment.ts';

interface Case { height: number; width: number; size: number; pixels: number[]; eval: number[]; train: number[] }
const fixture = JSON.parse(readFileSync(path.join(import.meta.dirname, '../fixtures/resize/resize.json'), 'utf8')) as { tensorflow: string; cases: Case[] };

/** flip's resize of the whole image, in pixel units (the normalisation undone). */
function resized(c: Case, sampling: BicubicSampling): Float64Array {
  const out = new Float32Array(c.size * c.size * 3);
  cropResizeNormalizeInto({ data: Uint8Array.from(c.pixels), width: c.width, height: c.height }, { top: 0, left: 0, height: c.height, width: c.width }, c.size, false, out, 0, sampling);
  return Float64Array.from(out, (v, i) => v * STDDEV_RGB[i % 3]! + MEAN_RGB[i % 3]!);
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('bicubic resize as TensorFlow does it', () => {
  it(`eval: tf.compat.v1.image.resize_bicubic (half_pixel_centers=False), TF ${fixture.tensorflow}`, () => {
    for (const c of fixture.cases) {
      const what = `${c.height}x${c.width} -> ${c.size}`;
      expect(maxDiff(resized(c, 'legacy'), c.eval), what).toBeLessThan(2e-4);
      // Half-pixel centres (what flip's eval did before) are another resize altogether, but at scale 1.
      if (c.height !== c.size) expect(maxDiff(resized(c, 'half-pixel'), c.eval), what).toBeGreaterThan(1);
    }
  });

  it(`training crop: tf.image.resize(..., BICUBIC) (half-pixel centres), TF ${fixture.tensorflow}`, () => {
    for (const c of fixture.cases) expect(maxDiff(resized(c, 'half-pixel'), c.train), `${c.height}x${c.width} -> ${c.size}`).toBeLessThan(2e-4);
  });

  it("the eval's preprocessing uses the eval resize (a lossless square image: its centre crop is all of it)", async () => {
    const c = fixture.cases.find((x) => x.height === x.width && x.height !== x.size)!;
    const png = await sharp(Uint8Array.from(c.pixels), { raw: { width: c.width, height: c.height, channels: 3 } }).png().toBuffer();
    const out = new Float32Array(c.size * c.size * 3);
    await preprocessEvalInto(png, c.size, 0, out, 0);
    expect(maxDiff(Float64Array.from(out, (v, i) => v * STDDEV_RGB[i % 3]! + MEAN_RGB[i % 3]!), c.eval)).toBeLessThan(2e-4);
  });
});
