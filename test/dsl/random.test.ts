// dsl/random against jax.random: the same keys give the same bits (golden data from test/golden/random/make_golden.py).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  bernoulli, foldIn, foldInPath, key, keyAt, normal, randomBits, randomBitsRows, split, splitKeys, truncatedNormal, uniform, nextAfterF32, type Key,
} from '../../dsl/random.ts';
import { hostTensor, jit } from '../../programs/jit.ts';
import type { Tensor } from '../../dsl/index.ts';
import { f32Bits, numbers } from '../nn/host.ts';

interface Case {
  op: 'key' | 'split' | 'fold_in' | 'bits' | 'uniform' | 'normal' | 'truncated_normal' | 'bernoulli' | 'chain';
  seed?: number; key?: number[]; n?: number; data?: number; shape?: number[];
  min?: number; max?: number; lower?: number; upper?: number; p?: number;
  out: number[]; uniform?: number[];
}
interface Golden { jax_version: string; modes: Record<'classic' | 'partitionable', Case[]> }

const here = path.dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(path.join(here, '../golden/random/golden.json'), 'utf8')) as Golden;

const sizesOf = (shape: readonly number[]) => Object.fromEntries(shape.map((d, i) => [`d${'abcdefgh'[i]}`, d]));

/** What each case computes from its key (an input, so XLA cannot fold it) under one threefry mode. */
function sample(c: Case, k: Key, partitionable: boolean): Tensor | Tensor[] {
  const opts = { partitionable };
  const sizes = sizesOf(c.shape ?? []);
  switch (c.op) {
    case 'split': return split(k, c.n!, opts);
    case 'fold_in': return foldIn(k, c.data!);
    case 'bits': return randomBits(k, sizes, opts);
    case 'uniform': return uniform(k, sizes, { ...opts, min: c.min!, max: c.max! });
    case 'normal': return normal(k, sizes, opts);
    case 'truncated_normal': return truncatedNormal(k, c.lower!, c.upper!, sizes, opts);
    case 'bernoulli': return bernoulli(k, c.p!, sizes, opts).astype('i32');
    default: throw new Error(`no sampler for ${c.op}`);
  }
}

/** ulp distance between two f32 bit patterns (as integers on the number line of floats). */
function ulps(a: number, b: number): number {
  const ordered = (u: number) => (u & 0x80000000 ? -(u & 0x7fffffff) : u);
  return Math.abs(ordered(a >>> 0) - ordered(b >>> 0));
}

async function runMode(mode: 'classic' | 'partitionable') {
  const cases = golden.modes[mode].filter((c) => c.key);
  const partitionable = mode === 'partitionable';
  const f = jit((keys: Key[]) => keys.map((k, i) => sample(cases[i]!, k, partitionable)), { name: `random_${mode}` });
  const outs = await f(cases.map((c) => hostTensor('u32', { key: 2 }, Uint32Array.from(c.key!))));
  const host = await Promise.all(outs.map(async (o) => {
    const parts = Array.isArray(o) ? o : [o];
    return (await Promise.all(parts.map(numbers))).flat();
  }));
  return { cases, host };
}

// Both modes' modules compile at once (XLA compiles on its own threads): the unrolled threefry makes them large.
const modes = { classic: runMode('classic'), partitionable: runMode('partitionable') };

describe('dsl/random matches jax.random bit for bit (jax ' + golden.jax_version + ')', () => {
  for (const mode of ['classic', 'partitionable'] as const) {
    it(`${mode} threefry: split, fold_in, bits, uniform, normal, truncated_normal, bernoulli`, async () => {
      const { cases, host } = await modes[mode];
      const worst: Record<string, number> = {};
      cases.forEach((c, i) => {
        const got = host[i]!;
        expect(got.length, `${c.op} ${JSON.stringify(c.shape ?? c.n)}`).toBe(c.out.length);
        const floats = c.op === 'uniform' || c.op === 'normal' || c.op === 'truncated_normal';
        if (!floats) {
          expect(got.map((v) => v >>> 0), `${c.op} key=${c.key} ${JSON.stringify(c.shape ?? c.n ?? c.data)}`).toEqual(c.out);
          return;
        }
        const u = new Uint32Array(Float32Array.from(got).buffer);
        let m = 0;
        u.forEach((b, j) => { m = Math.max(m, ulps(b, c.out[j]!)); });
        worst[c.op] = Math.max(worst[c.op] ?? 0, m);
      });
      expect(Object.keys(worst).sort()).toEqual(['normal', 'truncated_normal', 'uniform']);
      // uniform is bit-exact; normal and truncated_normal may differ in erfinv's last bits (log1p inside it).
      expect(worst['uniform']).toBe(0);
      expect(worst['normal']).toBeLessThanOrEqual(2);
      expect(worst['truncated_normal']).toBeLessThanOrEqual(2);
    });
  }

  it('key(seed) as a constant and from a seed tensor', async () => {
    const cases = golden.modes.classic.filter((c) => c.op === 'key');
    const f = jit((seeds: Tensor<'u32', readonly []>[]) => cases.map((c, i) => [key(c.seed!), key(seeds[i]!)]));
    const outs = await f(cases.map((c) => hostTensor('u32', {}, Uint32Array.of(c.seed! >>> 0))));
    for (const [i, c] of cases.entries()) {
      const [fromConst, fromTensor] = outs[i]!;
      expect(await numbers(fromConst!), `key(${c.seed})`).toEqual(c.out);
      if (c.seed! < 2 ** 32) expect(await numbers(fromTensor!), `key(tensor ${c.seed})`).toEqual(c.out);
    }
  });

  it('a chain of split, foldIn, splitKeys and uniform from one seed', async () => {
    const c = golden.modes.classic.find((x) => x.op === 'chain')!;
    // The step number of a train loop arrives as a tensor: foldIn(key, step) must equal foldIn(key, 3).
    const f = jit((step: Tensor<'i32', readonly []>) => {
      const [, b] = split(key(c.seed!));
      const d = splitKeys(foldIn(b!, 3), 4);
      const k = split(foldIn(b!, 3), 4)[2]!;
      // randomBitsRows: row i is randomBits(keyAt(keys, i)) (odd and even sizes, both modes).
      const shapes: Record<string, number>[] = [{ n: 5 }, { n: 2, m: 3 }];
      const rows = [false, true].flatMap((partitionable) => shapes.map((sizes) => ({
        rows: randomBitsRows(d, sizes, { partitionable }),
        each: [0, 1, 2, 3].map((i) => randomBits(keyAt(d, i), sizes, { partitionable })),
      })));
      return { k, keys: d, u: uniform(k, { n: 6 }), fromTensor: split(foldIn(b!, step), 4)[2]!, rows };
    });
    const out = await f(hostTensor('i32', {}, Int32Array.of(3)));
    expect(await numbers(out.k)).toEqual(c.out);
    expect(await numbers(out.fromTensor)).toEqual(c.out);
    for (const r of out.rows) expect(await numbers(r.rows)).toEqual((await Promise.all(r.each.map(numbers))).flat());
    expect((await numbers(out.keys)).slice(4, 6)).toEqual(c.out);
    expect(await f32Bits(out.u)).toEqual(c.uniform);
  });

  it('foldInPath: one foldIn of SHA-1 over the segments\' bytes (Flax\'s fold of a module path; Flax\'s own keys: test/models)', async () => {
    const sha = (bytes: number[]) => createHash('sha1').update(Uint8Array.from(bytes)).digest().readUInt32BE(0);
    const f = jit((k: Key) => ({
      names: foldInPath(k, ['img_encoder', 'Dropout_0', 1]),
      spelled: foldIn(k, sha([...Buffer.from('img_encoderDropout_0'), 1])),
      // integers big-endian in as few bytes as they need (0 in none); strings UTF-8, joined without a separator
      ints: foldInPath(k, [256, 0, 'ab', 'c']),
      same: foldInPath(k, ['\u0001\u0000abc']),
      ordered: foldInPath(k, ['c', 'ab']),
      empty: foldInPath(k, []),
    }));
    const out = await f(hostTensor('u32', { key: 2 }, Uint32Array.of(0, 5)));
    expect(await numbers(out.names)).toEqual(await numbers(out.spelled));
    expect(await numbers(out.ints)).toEqual(await numbers(out.same));
    expect(await numbers(out.ordered)).not.toEqual(await numbers(out.ints));
    expect(await numbers(out.empty)).toEqual([0, 5]);
    await expect(Promise.resolve().then(() => jit((k: Key) => foldInPath(k, [-1]))(hostTensor('u32', { key: 2 }, Uint32Array.of(0, 5)))))
      .rejects.toThrow(/integer ≥ 0/);
  });

  it('nextAfterF32 steps one f32 ulp', () => {
    expect(nextAfterF32(-1, 0)).toBe(Math.fround(-0.99999994));
    expect(nextAfterF32(2, Infinity)).toBe(2 + 2 ** -22);
    expect(nextAfterF32(-2, Infinity)).toBe(-2 + 2 ** -23);
    expect(nextAfterF32(0, 1)).toBe(2 ** -149);
  });
});
