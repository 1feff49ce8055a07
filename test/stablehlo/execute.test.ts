// Every primitive's lowering, compiled by the real OpenXLA CPU plugin, run, and compared with plain TS.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FuncBuilder, tensorType, type DType } from '../../compiler/ir/index.ts';
import { REPO_ROOT } from '../../compiler/load/index.ts';
import { emitFunc, floatBits, floatFromBits } from '../../compiler/stablehlo/index.ts';
import { openClient, type Buffer, type Client } from '../../runtime-native/index.ts';
import { ALL_CASES, buildCase, type Elem, type HostTensor } from './cases.ts';

let client: Client;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 1 });
});
afterAll(() => client?.dispose());

function upload(t: HostTensor): Buffer {
  const d = t.data;
  switch (t.dtype) {
    case 'f32': return client.toDevice(Float32Array.from(d, Number), t.shape, 'f32');
    case 'f64': return client.toDevice(Float64Array.from(d, Number), t.shape, 'f64');
    case 'bf16': case 'f16': return client.toDevice(Uint16Array.from(d, (x) => Number(floatBits(Number(x), t.dtype as 'bf16'))), t.shape, t.dtype);
    case 'i32': return client.toDevice(Int32Array.from(d, Number), t.shape, 'i32');
    case 'u32': return client.toDevice(Uint32Array.from(d, Number), t.shape, 'u32');
    case 'u8': return client.toDevice(Uint8Array.from(d, Number), t.shape, 'u8');
    case 'i1': return client.toDevice(Uint8Array.from(d, (x) => (Number(x) ? 1 : 0)), t.shape, 'i1');
    case 'i64': return client.toDevice(BigInt64Array.from(d, (x) => BigInt(x)), t.shape, 'i64');
    default: throw new Error(`no upload for ${t.dtype} (the emitter cases use the DSL's dtypes)`);
  }
}

async function download(b: Buffer): Promise<Elem[]> {
  const host = await b.toHost();
  const dtype = b.dtype as DType;
  if (dtype === 'bf16' || dtype === 'f16') return Array.from(host as Uint16Array, (bits) => floatFromBits(bits, dtype));
  if (dtype === 'i64') return Array.from(host as BigInt64Array);
  return Array.from(host as ArrayLike<number>);
}

function expectClose(got: readonly Elem[], want: HostTensor, rtol: number, what: string): void {
  expect(got.length, what).toBe(want.data.length);
  const isFloat = want.dtype === 'f32' || want.dtype === 'f64' || want.dtype === 'bf16' || want.dtype === 'f16';
  want.data.forEach((w, i) => {
    const g = got[i]!;
    const where = `${what}[${i}]: got ${g}, want ${w}`;
    if (!isFloat) {
      expect(BigInt(g), where).toBe(BigInt(w));
      return;
    }
    const [gn, wn] = [Number(g), Number(w)];
    if (Number.isNaN(wn) || !Number.isFinite(wn)) expect(Object.is(gn, wn) || (Number.isNaN(gn) && Number.isNaN(wn)), where).toBe(true);
    else expect(Math.abs(gn - wn), where).toBeLessThanOrEqual(1e-6 + rtol * Math.abs(wn));
  });
}

describe('every lowering runs on the CPU plugin', () => {
  it.each(ALL_CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const text = emitFunc(buildCase(c));
    const exe = await client.compile(text, { cache: false });
    try {
      const args = c.inputs.map(upload);
      const outs = await exe.run(args);
      expect(outs.length).toBe(c.expected.length);
      for (const [i, want] of c.expected.entries()) {
        const out = outs[i]!;
        expect(out.dtype, text).toBe(want.dtype);
        expect(out.shape, text).toEqual(want.shape);
        expectClose(await download(out), want, c.rtol ?? 1e-6, `${c.name} result ${i}`);
      }
      for (const b of [...args, ...outs]) b.dispose();
    } finally {
      exe.dispose();
    }
  });

  it('runs the golden MLP and matches a plain-TS forward pass', async () => {
    const text = readFileSync(path.join(REPO_ROOT, 'test', 'golden', 'emitter', 'mlp.mlir'), 'utf8');
    const [B, E, M] = [4, 8, 16];
    const fill = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 12.9898 + seed) * 0.5));
    const x = fill(B * E, 1), w1 = fill(E * M, 2), b1 = fill(M, 3), w2 = fill(M * E, 4), b2 = fill(E, 5);
    const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    const want: number[] = [];
    for (let b = 0; b < B; b++) {
      const h = Array.from({ length: M }, (_, m) => gelu(b1[m]! + Array.from({ length: E }, (_, e) => x[b * E + e]! * w1[e * M + m]!).reduce((s, v) => s + v, 0)));
      for (let e = 0; e < E; e++) want.push(b2[e]! + h.reduce((s, hv, m) => s + hv * w2[m * E + e]!, 0));
    }
    const exe = await client.compile(text, { cache: false });
    const shapes: [number[], number[]][] = [[x, [B, E]], [w1, [E, M]], [b1, [M]], [w2, [M, E]], [b2, [E]]];
    const [out] = await exe.run(shapes.map(([d, s]) => client.toDevice(Float32Array.from(d), s, 'f32')));
    expectClose(await download(out!), { dtype: 'f32', shape: [B, E], data: want }, 1e-5, 'mlp');
    exe.dispose();
  });

  it('partitions by mhlo.sharding on arguments, results and a Sharding custom_call over 2 CPU devices', async () => {
    const b = new FuncBuilder('sharded');
    const x = b.param(tensorType('f32', [4, 2], ['batch', 'embed']), { name: 'x', sharding: '{devices=[2,1]<=[2]}' });
    const y = b.emit1('sharding_constraint', [b.emit1('multiply', [x, x], {})], { sharding: '{devices=[2,1]<=[2]}' });
    const total = b.emit1('reduce', [y], { dims: [0], kind: 'sum' });
    const text = emitFunc(b.finish([y, total], [{ name: 'squares', sharding: '{devices=[2,1]<=[2]}' }, { name: 'total', sharding: '{replicated}' }]), { numPartitions: 2 });
    const spmd = await openClient({ target: 'cpu', devices: 2 });
    try {
      const exe = await spmd.compile(text, { cache: false, numPartitions: 2 });
      expect(exe.numPartitions).toBe(2);
      // Each device holds two rows of x: [[0, 1], [2, 3]] and [[4, 5], [6, 7]].
      const shards = exe.devices.map((d, i) => [spmd.toDevice(Float32Array.from([0, 1, 2, 3], (v) => v + 4 * i), [2, 2], 'f32', d)]);
      const outs = await exe.run(shards);
      expect(await download(outs[0]![0]!)).toEqual([0, 1, 4, 9]);
      expect(await download(outs[1]![0]!)).toEqual([16, 25, 36, 49]);
      for (const perDevice of outs) expect(await download(perDevice[1]!)).toEqual([56, 84]);
    } finally {
      spmd.dispose();
    }
  });
});
