// TensorBoard event files: crc32c against known values, records framed as TFRecords, and what we write parses
// back (framing and crcs checked by our reader) with the tags, steps and values written.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32c, EventFileError, EventWriter, maskedCrc32c, parseTfRecords, readEvents, readScalars, tfRecord } from '../../train/tensorboard.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-tb-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const text = (s: string) => new TextEncoder().encode(s);

describe('crc32c', () => {
  it('matches the standard check values', () => {
    expect(crc32c(text('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });
  it('masks as TensorFlow does', () => {
    const c = crc32c(text('123456789'));
    expect(maskedCrc32c(text('123456789'))).toBe((((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0);
  });
});

describe('TFRecord framing', () => {
  it('round-trips and rejects damaged bytes', () => {
    const recs = [text('a'), new Uint8Array(0), text('hello world')];
    const bytes = new Uint8Array(recs.reduce((n, r) => n + r.length + 16, 0));
    let at = 0;
    for (const r of recs) {
      const f = tfRecord(r);
      bytes.set(f, at);
      at += f.length;
    }
    expect(parseTfRecords(bytes).map((r) => new TextDecoder().decode(r))).toEqual(['a', '', 'hello world']);
    const flipped = bytes.slice();
    flipped[14]! ^= 1; // a byte of the second record's header crc / data
    expect(() => parseTfRecords(flipped)).toThrow(EventFileError);
    expect(() => parseTfRecords(bytes.subarray(0, bytes.length - 2))).toThrow(/truncated|past the end|crc/);
  });
});

describe('EventWriter', () => {
  it('writes events.out.tfevents.* that read back with the right tags, steps and values', () => {
    const dir = path.join(tmp, 'run');
    const w = new EventWriter(dir);
    w.scalars(1, { 'train/loss': 2.5, 'train/tau': 0.07 });
    w.scalars(2, { 'train/loss': 2.25, 'train/lr': 1e-4 });
    w.scalars(10, { 'eval/zeroshot_top1': 0.4 });
    w.close();
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\.\d+\..+\.v2$/);
    const file = path.join(dir, files[0]!);

    const events = readEvents(file);
    expect(events[0]!.what).toEqual({ case: 'fileVersion', value: 'brain.Event:2' });
    expect(events[0]!.sourceMetadata?.writer).toBe('flip');
    expect(events).toHaveLength(4);

    const scalars = readScalars(file).map(({ tag, step, value }) => ({ tag, step, value }));
    expect(scalars).toEqual([
      { tag: 'train/loss', step: 1, value: 2.5 },
      { tag: 'train/tau', step: 1, value: Math.fround(0.07) },
      { tag: 'train/loss', step: 2, value: 2.25 },
      { tag: 'train/lr', step: 2, value: Math.fround(1e-4) },
      { tag: 'eval/zeroshot_top1', step: 10, value: Math.fround(0.4) },
    ]);

    // The bytes of the first record, by hand: the length, its masked crc, then Event{wall_time, file_version}.
    const bytes = readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(bytes.readUInt32LE(8)).toBe(maskedCrc32c(bytes.subarray(0, 8)));
    expect(bytes.readUInt32LE(12 + n)).toBe(maskedCrc32c(bytes.subarray(12, 12 + n)));
    expect(bytes[12]).toBe((1 << 3) | 1); // field 1 (wall_time), wire type 1 (64-bit)
    expect(bytes.subarray(12, 12 + n).includes(0x1a)).toBe(true); // field 3 (file_version), length-delimited
    expect(new TextDecoder().decode(bytes.subarray(12, 12 + n))).toContain('brain.Event:2');

    // A damaged file is refused, naming it.
    const bad = Buffer.from(bytes);
    bad[bad.length - 1]! ^= 0xff;
    const badFile = path.join(tmp, 'events.out.tfevents.bad');
    writeFileSync(badFile, bad);
    expect(() => readScalars(badFile)).toThrow(/events\.out\.tfevents\.bad: data crc mismatch/);
  });
});
