// TensorBoard event files: `events.out.tfevents.*` written as TFRecords of `tensorboard.Event` protos
// (scalar summaries with simple_value), and a reader that checks every record's framing and CRCs.
//
// A TFRecord is: u64 little-endian length, u32 masked crc32c of those 8 bytes, the data, u32 masked
// crc32c of the data. "Masked" is TensorFlow's rotate-and-add over the crc (so that a crc of bytes
// holding crcs is not itself trivially structured). The first record of a file is an Event with
// file_version "brain.Event:2"; TensorBoard reads each following Event's summary values by tag.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { FlipError } from '../compiler/ir/errors.ts';
import { EventSchema, SourceMetadataSchema, SummarySchema, Summary_ValueSchema, type Event } from '../compiler/proto/tensorboard_pb.ts';

export class EventFileError extends FlipError {
  override name = 'EventFileError';
}

// crc32c (Castagnoli, reflected polynomial 0x82f63b78), table-driven.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** crc32c of `bytes` (`crc32c("123456789") = 0xe3069283`). */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TensorFlow's masked crc: rotate right by 15, add 0xa282ead8 (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord around `data`. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** The records of a TFRecord file's bytes; throws on a bad length, a crc mismatch or a truncated record. */
export function parseTfRecords(bytes: Uint8Array, source = 'records'): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 12) throw new EventFileError(`${source}: truncated record header at byte ${at}`);
    const n = view.getBigUint64(at, true);
    if (view.getUint32(at + 8, true) !== maskedCrc32c(bytes.subarray(at, at + 8))) throw new EventFileError(`${source}: length crc mismatch at byte ${at}`);
    if (n > BigInt(bytes.length - at - 16)) throw new EventFileError(`${source}: record at byte ${at} runs past the end (${n} bytes)`);
    const len = Number(n);
    const data = bytes.subarray(at + 12, at + 12 + len);
    if (view.getUint32(at + 12 + len, true) !== maskedCrc32c(data)) throw new EventFileError(`${source}: data crc mismatch in the record at byte ${at}`);
    out.push(data);
    at += 16 + len;
  }
  return out;
}

/** A scalar as read back: tag, step, value, wall time (seconds). */
export interface ScalarEvent {
  tag: string;
  step: number;
  value: number;
  wallTime: number;
}

/** Every Event of an event file, its framing and crcs checked. */
export function readEvents(file: string): Event[] {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new EventFileError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseTfRecords(bytes, file).map((r) => fromBinary(EventSchema, r));
}

/** The scalar summaries of an event file, in file order. */
export function readScalars(file: string): ScalarEvent[] {
  const out: ScalarEvent[] = [];
  for (const e of readEvents(file)) {
    if (e.what.case !== 'summary') continue;
    for (const v of e.what.value.value) {
      if (v.value.case === 'simpleValue') out.push({ tag: v.tag, step: Number(e.step), value: v.value.value, wallTime: e.wallTime });
    }
  }
  return out;
}

/**
 * Appends scalar summaries to a new `events.out.tfevents.<time>.<host>.<pid>.<n>.v2` file in `dir`. Each
 * `scalars` call is one Event (one step, any number of tags); records go to the file as they are written
 * and `flush` syncs them to disk, so a run killed at any point leaves every complete record readable.
 */
export class EventWriter {
  readonly file: string;
  private fd: number | undefined;
  private static files = 0;

  constructor(dir: string, opts: { now?: number } = {}) {
    mkdirSync(dir, { recursive: true });
    const now = opts.now ?? Date.now() / 1000;
    this.file = path.join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}.${EventWriter.files++}.v2`);
    this.fd = openSync(this.file, 'a');
    this.write(create(EventSchema, {
      wallTime: now,
      step: 0n,
      what: { case: 'fileVersion', value: 'brain.Event:2' },
      sourceMetadata: create(SourceMetadataSchema, { writer: 'flip' }),
    }));
  }

  private write(e: Event): void {
    if (this.fd === undefined) throw new EventFileError(`${this.file}: written after close()`);
    const rec = tfRecord(toBinary(EventSchema, e));
    let off = 0;
    while (off < rec.length) off += writeSync(this.fd, rec, off, rec.length - off);
  }

  /** One Event at `step` with a simple_value per tag (non-finite values are written as they are). */
  scalars(step: number, values: Readonly<Record<string, number>>, wallTime = Date.now() / 1000): void {
    const summary = create(SummarySchema, {
      value: Object.entries(values).map(([tag, v]) => create(Summary_ValueSchema, { tag, value: { case: 'simpleValue', value: v } })),
    });
    this.write(create(EventSchema, { wallTime, step: BigInt(step), what: { case: 'summary', value: summary } }));
  }

  flush(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }
}
