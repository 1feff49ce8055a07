// t5x checkpoints on disk (io/t5x.ts, io/zarr.ts, io/msgpack.ts) against the files the real libraries write:
// test/fixtures/t5x/python/checkpoint_6 was written by flax.serialization + tensorstore (make_fixtures.py), and
// python.values.json records every leaf as Python read it back. Round trips and damaged inputs.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bf16ToF32 } from '../../compiler/ir/dtype.ts';
import { FlaxArray, decodeFlaxMsgpack } from '../../io/msgpack.ts';
import type { TensorData } from '../../io/safetensors.ts';
import { findT5xCheckpoint, isT5xCheckpoint, readLeaf, readT5xCheckpoint, writeT5xCheckpoint, ZarrLeaf, type T5xTree, type T5xValue } from '../../io/t5x.ts';
import { readZarr, writeZarr } from '../../io/zarr.ts';

const root = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/t5x');
const values = JSON.parse(readFileSync(path.join(fixtures, 'python.values.json'), 'utf8')) as {
  step: number; inline: string[]; leaves: Record<string, { dtype: string; shape: number[]; sha256: string; head: number[] }>;
};
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-t5x-io-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** sha256 of the values as little-endian f32 (floats) or i32 (ints), as make_fixtures.py's sha(). */
function sha(t: TensorData): string {
  let a: Float32Array | Int32Array;
  if (t.dtype === 'f32') a = t.data as Float32Array;
  else if (t.dtype === 'bf16') a = Float32Array.from(t.data as Uint16Array, bf16ToF32);
  else a = Int32Array.from(t.data as Int32Array);
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

function leaves(tree: T5xTree, at: string[] = []): Array<[string, T5xValue]> {
  const out: Array<[string, T5xValue]> = [];
  for (const [k, v] of Object.entries(tree)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof FlaxArray) && !(v instanceof ZarrLeaf) && !(v instanceof Uint8Array)) {
      out.push(...leaves(v, [...at, k]));
    } else out.push([[...at, k].join('/'), v]);
  }
  return out;
}

const NUMPY: Record<string, string> = { f32: 'float32', bf16: 'bfloat16', i32: 'int32' };

describe('t5x checkpoints written by flax + tensorstore', () => {
  it('finds checkpoint_<step> in a parent folder (latest step) or as itself', () => {
    const parent = path.join(fixtures, 'python');
    expect(isT5xCheckpoint(parent)).toBe(true);
    expect(findT5xCheckpoint(parent)).toBe(path.join(parent, 'checkpoint_6'));
    expect(findT5xCheckpoint(path.join(parent, 'checkpoint_6'))).toBe(path.join(parent, 'checkpoint_6'));
    expect(isT5xCheckpoint(path.join(root, 'configs'))).toBe(false);
    // latest_step: the highest step with a `checkpoint` file wins.
    const p = path.join(tmp, 'latest');
    cpSync(path.join(parent, 'checkpoint_6'), path.join(p, 'checkpoint_6'), { recursive: true });
    cpSync(path.join(parent, 'checkpoint_6'), path.join(p, 'checkpoint_12'), { recursive: true });
    cpSync(path.join(parent, 'checkpoint_6'), path.join(p, 'checkpoint_30'), { recursive: true });
    rmSync(path.join(p, 'checkpoint_30', 'checkpoint'));
    expect(findT5xCheckpoint(p)).toBe(path.join(p, 'checkpoint_12'));
  });

  it('reads every leaf, inline (msgpack ext) and zarr (gzip chunks, partial edge chunks, bfloat16), with the values Python wrote', () => {
    const ck = readT5xCheckpoint(path.join(fixtures, 'python'));
    expect(ck).toMatchObject({ version: 3, dirStep: 6 });
    const got = leaves(ck.optimizer).filter(([, v]) => v instanceof FlaxArray || v instanceof ZarrLeaf);
    expect(got.map(([n]) => n).sort()).toEqual(Object.keys(values.leaves).sort());
    const inline = got.filter(([, v]) => v instanceof FlaxArray).map(([n]) => n).sort();
    expect(inline).toEqual(values.inline.filter((n) => n in values.leaves)); // (the list also names the empty optax state)
    expect(inline.length).toBeGreaterThan(10);
    expect(got.length - inline.length).toBeGreaterThan(50);
    let bf16 = 0;
    for (const [n, v] of got) {
      const t = readLeaf(v)!;
      const want = values.leaves[n]!;
      expect(NUMPY[t.dtype], n).toBe(want.dtype);
      expect(t.shape, n).toEqual(want.shape);
      expect(sha(t), n).toBe(want.sha256);
      if (t.dtype === 'bf16') bf16++;
    }
    expect(bf16).toBeGreaterThan(30);
    // The empty optax state of masked(add_decayed_weights) stays an empty map.
    expect((ck.optimizer.state as T5xTree).param_states).toMatchObject({ 1: { inner_state: {} } });
  });
});

describe('round trips', () => {
  it('zarr: write → read is bit-exact for f32, bf16, i32, scalars and many chunks', () => {
    const cases: TensorData[] = [
      { dtype: 'f32', shape: [5, 7, 3], data: Float32Array.from({ length: 105 }, (_, i) => Math.sin(i) * 1e3) },
      { dtype: 'bf16', shape: [9], data: Uint16Array.from({ length: 9 }, (_, i) => 0x3f80 + i) },
      { dtype: 'i32', shape: [], data: Int32Array.of(-42) },
    ];
    cases.forEach((t, i) => {
      for (const [j, chunks] of [t.shape, t.shape.map((d) => Math.max(1, Math.ceil(d / 2)))].entries()) {
        const dir = path.join(tmp, `z${i}-${j}`);
        writeZarr(dir, t, chunks);
        const back = readZarr(dir);
        expect(back.shape).toEqual(t.shape);
        expect(Buffer.from(back.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
      }
    });
  });

  it('t5x: write → read gives the same tree; an existing checkpoint folder is never overwritten', () => {
    const a: TensorData = { dtype: 'f32', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) };
    const b: TensorData = { dtype: 'bf16', shape: [4], data: Uint16Array.of(0x3f80, 0x4000, 0xbf80, 0) };
    const s: TensorData = { dtype: 'i32', shape: [], data: Int32Array.of(9) };
    const dir = writeT5xCheckpoint(path.join(tmp, 'rt'), 9, { target: { layer: { kernel: a, bias: b } }, state: { step: s, param_states: { 1: {} } } });
    expect(dir).toBe(path.join(tmp, 'rt', 'checkpoint_9'));
    const ck = readT5xCheckpoint(path.join(tmp, 'rt'));
    const l = Object.fromEntries(leaves(ck.optimizer));
    expect(l['target/layer/kernel']).toBeInstanceOf(ZarrLeaf);
    expect(l['state/step']).toBeInstanceOf(FlaxArray);
    expect(readLeaf(l['target/layer/kernel']!)!.data).toEqual(a.data);
    expect(readLeaf(l['target/layer/bias']!)!).toEqual(b);
    expect(readLeaf(l['state/step']!)!).toEqual(s);
    const before = readFileSync(path.join(dir, 'checkpoint'));
    expect(() => writeT5xCheckpoint(path.join(tmp, 'rt'), 9, { target: { x: a } })).toThrow(/checkpoint_9 already exists; flip does not overwrite/);
    expect(readFileSync(path.join(dir, 'checkpoint')).equals(before)).toBe(true);
  });
});

describe('damaged t5x checkpoints: one error line naming the file', () => {
  const copy = (name: string) => {
    const d = path.join(tmp, name, 'checkpoint_6');
    cpSync(path.join(fixtures, 'python', 'checkpoint_6'), d, { recursive: true });
    return d;
  };
  const emb = 'target.txt_encoder.token_embedding.embedding';

  it('a missing zarr chunk', () => {
    const d = copy('missing');
    rmSync(path.join(d, emb, '1.0'));
    const ck = readT5xCheckpoint(d);
    const leaf = leaves(ck.optimizer).find(([n]) => n === 'target/txt_encoder/token_embedding/embedding')![1];
    expect(() => readLeaf(leaf)).toThrow(new RegExp(`${emb}: chunk '1\\.0' is missing`));
  });

  it('a wrong dtype: the .zarray disagrees with the spec; an unsupported dtype', () => {
    const d = copy('dtype');
    const meta = JSON.parse(readFileSync(path.join(d, emb, '.zarray'), 'utf8'));
    writeFileSync(path.join(d, emb, '.zarray'), JSON.stringify({ ...meta, dtype: '<f4' }));
    const leaf = leaves(readT5xCheckpoint(d).optimizer).find(([n]) => n.endsWith('token_embedding/embedding'))![1];
    expect(() => readLeaf(leaf)).toThrow(/its \.zarray says float32 but the checkpoint's spec for 'target\/txt_encoder\/token_embedding\/embedding' says bfloat16/);
    writeFileSync(path.join(d, emb, '.zarray'), JSON.stringify({ ...meta, dtype: '<c8' }));
    expect(() => readLeaf(leaf)).toThrow(/dtype "<c8" is not supported/);
  });

  it('a truncated msgpack file', () => {
    const d = copy('truncated');
    const bytes = readFileSync(path.join(d, 'checkpoint'));
    writeFileSync(path.join(d, 'checkpoint'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(() => readT5xCheckpoint(d)).toThrow(/checkpoint: not a complete msgpack file \(it ends early: truncated\?\)/);
    expect(() => decodeFlaxMsgpack(Uint8Array.of(0xc1), 'x')).toThrow(/^x: /);
  });
});
