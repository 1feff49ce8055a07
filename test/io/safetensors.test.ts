// safetensors: every flip dtype round-trips, files written by Python read back, writes are atomic,
// and malformed files are SafetensorsErrors.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import { parseSafetensors, readSafetensors, SafetensorsError, serializeSafetensors, writeSafetensors, type TensorMap } from '../../io/safetensors.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-st-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const all: TensorMap = {
  f32: { dtype: 'f32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, Infinity, -0.25]) },
  bf16: { dtype: 'bf16', shape: [2], data: new Uint16Array([0x3f80, 0xc000]) },
  f16: { dtype: 'f16', shape: [1, 2], data: new Uint16Array([0x3c00, 0x7bff]) },
  f64: { dtype: 'f64', shape: [], data: new Float64Array([Math.PI]) },
  i32: { dtype: 'i32', shape: [3], data: new Int32Array([-1, 0, 2 ** 31 - 1]) },
  i64: { dtype: 'i64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 7n]) },
  u32: { dtype: 'u32', shape: [1], data: new Uint32Array([2 ** 32 - 1]) },
  u8: { dtype: 'u8', shape: [3], data: new Uint8Array([0, 128, 255]) },
  i1: { dtype: 'i1', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
  empty: { dtype: 'f32', shape: [0, 4], data: new Float32Array(0) },
  // Two complex64 elements: 1+2i, -0.5-inf i, interleaved (real, imaginary).
  c64: { dtype: 'c64', shape: [2], data: new Float32Array([1, 2, -0.5, -Infinity]) },
};

describe('safetensors', () => {
  it('round-trips every dtype, with metadata', () => {
    const file = path.join(tmp, 'all.safetensors');
    writeSafetensors(file, all, { format: 'pt', step: '12' });
    const back = readSafetensors(file);
    expect(back.metadata).toEqual({ format: 'pt', step: '12' });
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(all).sort());
    for (const [k, t] of Object.entries(all)) {
      expect(back.tensors[k]!.dtype).toBe(t.dtype);
      expect(back.tensors[k]!.shape).toEqual(t.shape);
      expect(back.tensors[k]!.data).toEqual(t.data);
      expect(back.tensors[k]!.data.constructor).toBe(t.data.constructor);
    }
    // Header: u64 length, JSON padded to 8 bytes, data in name order.
    const bytes = readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.bf16).toEqual({ dtype: 'BF16', shape: [2], data_offsets: [0, 4] });
    expect(header.i1.dtype).toBe('BOOL');
    expect(header.c64).toEqual({ dtype: 'C64', shape: [2], data_offsets: header.c64.data_offsets });
    expect(header.c64.data_offsets[1] - header.c64.data_offsets[0]).toBe(16);
    expect(header.__metadata__).toEqual({ format: 'pt', step: '12' });
  });

  it('reads what the Python corpus script wrote', () => {
    const f = readSafetensors(path.resolve(import.meta.dirname, '../fixtures/mlir/flip_loss_grad.safetensors'));
    expect(f.tensors['input.6']).toMatchObject({ dtype: 'i32', shape: [4, 6] });
    expect(f.tensors['input.3']).toMatchObject({ dtype: 'f32', shape: [] });
    expect((f.tensors['input.3']!.data as Float32Array)[0]).toBeCloseTo(Math.log(1 / 0.07), 5);
    expect(f.tensors['output.0']!.shape).toEqual([]);
  });

  it('writes atomically: an existing file is replaced whole, and no temporary file is left', () => {
    const file = path.join(tmp, 'ckpt.safetensors');
    writeSafetensors(file, { a: all.f32! });
    writeSafetensors(file, { b: all.i64! });
    expect(Object.keys(readSafetensors(file).tensors)).toEqual(['b']);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
    // A failed write (missing folder) leaves nothing behind and says why.
    const bad = path.join(tmp, 'missing', 'x.safetensors');
    expect(() => writeSafetensors(bad, { a: all.f32! })).toThrow(/cannot write .*x\.safetensors: ENOENT/);
    expect(existsSync(path.dirname(bad))).toBe(false);
  });

  it('rejects malformed files with SafetensorsError (a FlipError)', () => {
    const good = serializeSafetensors({ a: all.f32! });
    const header = (h: object, data = new Uint8Array(24)): Uint8Array => {
      const json = Buffer.from(JSON.stringify(h));
      const out = Buffer.alloc(8 + json.length + data.length);
      out.writeBigUInt64LE(BigInt(json.length));
      json.copy(out, 8);
      out.set(data, 8 + json.length);
      return out;
    };
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, 5), /too short/],
      [good.subarray(0, 20), /header length \d+ exceeds the file/],
      [header({ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }), /20 bytes for f32 \[2, 3\] \(24 expected\)/],
      [header({ a: { dtype: 'Q8', shape: [1], data_offsets: [0, 1] } }), /unsupported dtype "Q8"/],
      [header({ a: { dtype: 'F32', shape: [7], data_offsets: [0, 28] } }), /run past the end of the data/],
      [header({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), /shape must be a list of non-negative integers/],
      [header({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), /'a' and 'b' overlap/],
      [header([1, 2] as unknown as object), /not a JSON object/],
    ];
    for (const [bytes, msg] of cases) {
      let err: unknown;
      try {
        parseSafetensors(bytes, 'x.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err, String(msg)).toBeInstanceOf(SafetensorsError);
      expect(err).toBeInstanceOf(FlipError);
      expect((err as Error).message).toMatch(msg);
    }
    const notJson = path.join(tmp, 'bad.safetensors');
    writeFileSync(notJson, Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{oops')]));
    expect(() => readSafetensors(notJson)).toThrow(/bad\.safetensors: header is not valid JSON/);
  });

  it('refuses complex128 (safetensors has C64 only) and a complex array of the wrong length, in one line', () => {
    expect(() => serializeSafetensors({ z: { dtype: 'c128', shape: [1], data: new Float64Array([1, 2]) } })).toThrow(
      /tensor 'z': safetensors has no c128 \(complex<f64>\) dtype; it stores complex numbers as C64 \(complex<f32>\) only/,
    );
    expect(() => serializeSafetensors({ z: { dtype: 'c64', shape: [2], data: new Float32Array([1, 2]) } })).toThrow(
      /^tensor 'z': 2 numbers for shape \[2\] \(2 complex elements: 4 numbers, \(real, imaginary\) pairs\)$/,
    );
  });
});
