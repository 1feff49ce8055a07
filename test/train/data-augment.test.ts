import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  CROP_PADDING,
  MEAN_RGB,
  OFFICIAL_AUGMENT,
  STDDEV_RGB,
  centerCropWindow,
  cropResizeNormalizeInto,
  decodeRgb,
  preprocessEvalInto,
  randomResizedCropWindow,
  type RgbImage,
} from '../../train/data/augment.ts';
import { Rng } from '../../train/data/rng.ts';

function randomImage(width: number, height: number, seed: number): RgbImage {
  const rng = new Rng(seed, 'img');
  return { width, height, data: Uint8Array.from({ length: width * height * 3 }, () => rng.int(0, 256)) };
}

describe('train/data augmentation: RandomResizedCrop v4 (official ranges)', () => {
  it('official defaults: area 0.5–1, aspect 3/4–4/3, flip on', () => {
    expect(OFFICIAL_AUGMENT.areaRange).toEqual([0.5, 1]);
    expect(OFFICIAL_AUGMENT.aspectRatioRange).toEqual([3 / 4, 4 / 3]);
    expect(OFFICIAL_AUGMENT.flip).toBe(true);
  });

  // [H, W, share of draws that find a fitting random crop]: a 300x90 image never fits half its area
  // within 3/4–4/3, so the official code always takes the centre crop there.
  for (const [H, W, share] of [[64, 64, 0.95], [120, 200, 0.9], [300, 90, 0]] as const) {
    it(`keeps every crop inside a ${H}x${W} image, with area and aspect ratio in range (20k draws)`, () => {
      let random = 0;
      let fallback = 0;
      let areaSum = 0;
      const size = 64;
      const center = centerCropWindow(H, W, size, CROP_PADDING);
      for (let i = 0; i < 20000; i++) {
        const win = randomResizedCropWindow(H, W, size, new Rng(7, 'crop', i), OFFICIAL_AUGMENT);
        expect(win.top >= 0 && win.left >= 0 && win.top + win.height <= H && win.left + win.width <= W).toBe(true);
        if (win.top === center.top && win.left === center.left && win.height === center.height && win.width === center.width) {
          fallback++;
          continue;
        }
        random++;
        // w and h are rounded from sqrt(area·r), sqrt(area/r): allow half a pixel on each side
        const area = win.width * win.height;
        expect(area).toBeGreaterThanOrEqual(0.5 * H * W - (win.width + win.height) / 2 - 1);
        expect(area).toBeLessThanOrEqual(H * W);
        const r = win.width / win.height;
        expect(r).toBeGreaterThanOrEqual((3 / 4) * (1 - 0.5 / win.width) / (1 + 0.5 / win.height) - 1e-9);
        expect(r).toBeLessThanOrEqual((4 / 3) * (1 + 0.5 / win.width) / (1 - 0.5 / win.height) + 1e-9);
        areaSum += area / (H * W);
      }
      expect(random + fallback).toBe(20000);
      if (share === 0) {
        expect(fallback).toBe(20000);
        return;
      }
      expect(random / 20000).toBeGreaterThan(share);
      const mean = areaSum / random;
      expect(mean).toBeGreaterThan(0.55); // first fitting draw wins: small areas fit more often
      expect(mean).toBeLessThan(0.8);
    });
  }

  it('covers the image: offsets reach both edges', () => {
    const lefts = new Set<number>();
    for (let i = 0; i < 5000; i++) lefts.add(randomResizedCropWindow(64, 64, 64, new Rng(1, i), OFFICIAL_AUGMENT).left);
    expect(Math.min(...lefts)).toBe(0);
    expect(Math.max(...lefts)).toBeGreaterThanOrEqual(15);
  });

  it('falls back to the padded centre crop when no draw fits (official CROP_PADDING = 32)', () => {
    // an area range over 1 never fits
    const win = randomResizedCropWindow(100, 160, 224, new Rng(0), { areaRange: [1.5, 2], aspectRatioRange: [1, 1] });
    const side = Math.floor((224 / (224 + 32)) * 100);
    expect(win).toEqual({ top: (100 - side + 1) >> 1, left: (160 - side + 1) >> 1, height: side, width: side });
  });

  it('is a function of the rng: same seed, same crop; another seed, another crop', () => {
    const a = randomResizedCropWindow(200, 300, 224, new Rng(5, 'k'), OFFICIAL_AUGMENT);
    expect(randomResizedCropWindow(200, 300, 224, new Rng(5, 'k'), OFFICIAL_AUGMENT)).toEqual(a);
    const others = Array.from({ length: 8 }, (_, i) => randomResizedCropWindow(200, 300, 224, new Rng(6 + i, 'k'), OFFICIAL_AUGMENT));
    expect(others.some((o) => JSON.stringify(o) !== JSON.stringify(a))).toBe(true);
  });
});

describe('train/data augmentation: resize, flip, normalisation', () => {
  it('normalises with the ImageNet mean/std of the official code', () => {
    expect(MEAN_RGB.map((v) => v / 255)).toEqual([0.485, 0.456, 0.406]);
    expect(STDDEV_RGB.map((v) => v / 255)).toEqual([0.229, 0.224, 0.225]);
    const img: RgbImage = { width: 10, height: 7, data: new Uint8Array(10 * 7 * 3) };
    for (let i = 0; i < 70; i++) img.data.set([200, 100, 0], i * 3);
    const out = new Float32Array(5 * 5 * 3);
    cropResizeNormalizeInto(img, { top: 1, left: 2, height: 6, width: 7 }, 5, false, out, 0);
    const expected = [(200 - 0.485 * 255) / (0.229 * 255), (100 - 0.456 * 255) / (0.224 * 255), (0 - 0.406 * 255) / (0.225 * 255)];
    for (let i = 0; i < 25; i++) for (let c = 0; c < 3; c++) expect(out[i * 3 + c]).toBeCloseTo(expected[c]!, 5);
  });

  it('a crop resized to its own size is the crop itself (bicubic at scale 1)', () => {
    const img = randomImage(20, 16, 1);
    const out = new Float32Array(8 * 8 * 3);
    cropResizeNormalizeInto(img, { top: 3, left: 5, height: 8, width: 8 }, 8, false, out, 0);
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++)
        for (let c = 0; c < 3; c++) {
          const v = img.data[((3 + y) * 20 + 5 + x) * 3 + c]!;
          expect(out[(y * 8 + x) * 3 + c]).toBeCloseTo((v - MEAN_RGB[c]!) / STDDEV_RGB[c]!, 5);
        }
  });

  it('flip mirrors the output left–right and nothing else', () => {
    const img = randomImage(40, 30, 2);
    const win = { top: 2, left: 3, height: 25, width: 31 };
    const a = new Float32Array(16 * 16 * 3);
    const b = new Float32Array(16 * 16 * 3);
    cropResizeNormalizeInto(img, win, 16, false, a, 0);
    cropResizeNormalizeInto(img, win, 16, true, b, 0);
    expect(Array.from(a)).not.toEqual(Array.from(b));
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++)
        for (let c = 0; c < 3; c++) expect(b[(y * 16 + (15 - x)) * 3 + c]).toBe(a[(y * 16 + x) * 3 + c]);
  });

  it('eval: centred square crop of the short side, resized to size x size', async () => {
    expect(centerCropWindow(48, 80, 32, 0)).toEqual({ top: 0, left: 16, height: 48, width: 48 });
    expect(centerCropWindow(81, 40, 32, 0)).toEqual({ top: 21, left: 0, height: 40, width: 40 });
    // a 48x80 JPEG whose centre square is white and whose sides are black
    const raw = new Uint8Array(48 * 80 * 3);
    for (let y = 0; y < 48; y++) for (let x = 16; x < 64; x++) raw.fill(255, (y * 80 + x) * 3, (y * 80 + x) * 3 + 3);
    const jpg = await sharp(raw, { raw: { width: 80, height: 48, channels: 3 } }).jpeg({ quality: 100 }).toBuffer();
    expect((await decodeRgb(jpg)).width).toBe(80);
    const out = new Float32Array(32 * 32 * 3);
    await preprocessEvalInto(jpg, 32, 0, out, 0);
    const white = (255 - MEAN_RGB[0]) / STDDEV_RGB[0];
    let min = Infinity;
    for (let i = 0; i < 32 * 32; i++) min = Math.min(min, out[i * 3]!);
    expect(min).toBeGreaterThan(white - 0.15); // every output pixel comes from the white centre
  });

  it('rejects bytes that are not an image', async () => {
    await expect(decodeRgb(Buffer.from('not a jpeg at all'))).rejects.toThrow();
  });
});
