// TFRecord files of tf.train.Example records, as img2dataset (`--output_format tfrecord`) and TFDS write them, read as
// the same resumable sample groups as webdataset tars (webdataset.ts's ShardSample: a record's index, key, files).
//
// A record is: u64 little-endian length, u32 masked CRC32C of those 8 bytes, the data, u32 masked CRC32C of the data.
// Both CRCs are checked on every record read. A data CRC that does not match skips that one record (its length was
// sound, so the next record is found) with a 'bad-tfrecord-crc' warning; a length CRC that does not match, or a file
// that ends inside a record, ends the file there ('bad-tfrecord-crc' / 'truncated-tfrecord'), as a damaged tar does.
// Records before a resume point are passed over by their headers (length CRC checked, data not read again).
//
// A record whose CRCs hold but whose bytes are not a tf.train.Example is not damage but the wrong kind of file: a
// FlipError naming the file and record. An Example lacking a feature the run needs is an 'incomplete-sample' skip.
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { FlipError } from '../../compiler/ir/errors.ts';
import { maskedCrc32c } from './crc32c.ts';
import { ExampleSchema, type Example } from './proto/example_pb.ts';
import { IMAGE_EXTS, type DataWarning } from './webdataset.ts';

/** How a TFRecord file is damaged at a record: cut short, a length CRC, or a data CRC that does not match. */
export type TfRecordDamage = 'truncated' | 'bad-length-crc' | 'bad-data-crc';

export class TfRecordFormatError extends FlipError {
  override name = 'TfRecordFormatError';
  constructor(
    readonly kind: TfRecordDamage,
    /** Byte offset of the record in the file. */
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

const CHUNK = 1 << 20;
const HEADER = 12;

/** Records of one TFRecord file, read forward through a buffer. */
export class TfRecordReader {
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  /** Byte offset of the next record. */
  private pos = 0;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<TfRecordReader> {
    const fh = await open(path, 'r');
    try {
      return new TfRecordReader(path, fh, (await fh.stat()).size);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Bytes [at, at + n) of the file; a view into a buffer that is never reused (views stay valid). */
  private async bytes(at: number, n: number): Promise<Buffer> {
    if (at >= this.bufStart && at + n <= this.bufStart + this.buf.length) return this.buf.subarray(at - this.bufStart, at - this.bufStart + n);
    const len = Math.max(n, Math.min(CHUNK, this.size - at));
    const b = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(b, got, len - got, at + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < n) throw new TfRecordFormatError('truncated', at, `${this.path}: file ends inside a record (byte ${at})`);
    if (n < CHUNK) {
      this.buf = b.subarray(0, got);
      this.bufStart = at;
    }
    return b.subarray(0, n);
  }

  /** The record at the current position's length (its header checked); null at the end of the file. */
  private async header(): Promise<{ at: number; len: number } | null> {
    const at = this.pos;
    if (at >= this.size) return null;
    if (this.size - at < HEADER) throw new TfRecordFormatError('truncated', at, `${this.path}: truncated record header at byte ${at} (${this.size - at} of 12 bytes)`);
    const h = await this.bytes(at, HEADER);
    if (h.readUInt32LE(8) !== maskedCrc32c(h.subarray(0, 8))) {
      throw new TfRecordFormatError('bad-length-crc', at, `${this.path}: length CRC mismatch in the record at byte ${at} (the rest of the file cannot be framed)`);
    }
    const n = h.readBigUInt64LE(0);
    if (n > BigInt(this.size - at - HEADER - 4)) {
      throw new TfRecordFormatError('truncated', at, `${this.path}: the record at byte ${at} (${n} bytes) runs past the end of the file (${this.size} bytes)`);
    }
    return { at, len: Number(n) };
  }

  /**
   * The next record's data and byte offset, or null at the end. A 'bad-data-crc' TfRecordFormatError leaves the reader
   * after that record (call next() again for the one after); the other kinds end the file.
   */
  async next(): Promise<{ data: Uint8Array; offset: number } | null> {
    const h = await this.header();
    if (!h) return null;
    const rest = await this.bytes(h.at + HEADER, h.len + 4);
    this.pos = h.at + HEADER + h.len + 4;
    const data = rest.subarray(0, h.len);
    if (rest.readUInt32LE(h.len) !== maskedCrc32c(data)) {
      throw new TfRecordFormatError('bad-data-crc', h.at, `${this.path}: data CRC mismatch in the record at byte ${h.at} (${h.len} bytes)`);
    }
    return { data, offset: h.at };
  }

  /** Passes over the next record by its header; false at the end. */
  async skip(): Promise<boolean> {
    const h = await this.header();
    if (!h) return false;
    this.pos = h.at + HEADER + h.len + 4;
    return true;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** A tf.train.Example's features by name: bytes lists, int64 lists (as bigint) and float lists. */
export type ExampleFeatures = Map<string, { kind: 'bytes'; value: Uint8Array[] } | { kind: 'int64'; value: bigint[] } | { kind: 'float'; value: number[] }>;

/** Decodes a record as a tf.train.Example; throws a FlipError naming the record when its bytes are not one. */
export function decodeExample(data: Uint8Array, where: string): ExampleFeatures {
  let ex: Example;
  try {
    ex = fromBinary(ExampleSchema, data);
  } catch (e) {
    throw new FlipError(`${where} is not a tf.train.Example (${(e as Error).message}); flip reads TFRecords of tf.train.Example as img2dataset and TFDS write them`);
  }
  // Bytes that happen to parse as protobuf but carry other fields than Example's one are another message.
  const unknown = (ex as { $unknown?: Array<{ no: number }> }).$unknown;
  if (unknown?.length) {
    throw new FlipError(`${where} is not a tf.train.Example (it has protobuf field ${unknown[0]!.no}, an Example has only field 1, features); flip reads TFRecords of tf.train.Example as img2dataset and TFDS write them`);
  }
  const out: ExampleFeatures = new Map();
  for (const [name, f] of Object.entries(ex.features?.feature ?? {})) {
    const k = f.kind;
    if (k.case === 'bytesList') out.set(name, { kind: 'bytes', value: k.value.value });
    else if (k.case === 'int64List') out.set(name, { kind: 'int64', value: k.value.value });
    else if (k.case === 'floatList') out.set(name, { kind: 'float', value: k.value.value });
  }
  return out;
}

/**
 * A sample's files from an Example, named as in a webdataset tar so that the rest of the pipeline is the same:
 * img2dataset's `jpg` (or `png`, `webp`, as its encode_format) and `txt`; TFDS's `image` → `jpg` and `label` → `cls`.
 * Each must hold exactly one value (the official parser's FixedLenFeature([])); one that does not is left out, so
 * the sample is incomplete. The key is the `key` feature (img2dataset), `file_name` (TFDS), or `<file>:<record>`.
 */
export function exampleSample(f: ExampleFeatures, fallbackKey: string): { key: string; files: Map<string, Buffer> } {
  const files = new Map<string, Buffer>();
  const one = (name: string): Uint8Array | null => {
    const v = f.get(name);
    return v?.kind === 'bytes' && v.value.length === 1 ? v.value[0]! : null;
  };
  for (const ext of IMAGE_EXTS) {
    const b = one(ext);
    if (b) files.set(ext, Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  const image = one('image');
  if (image && !files.size) files.set('jpg', Buffer.from(image.buffer, image.byteOffset, image.byteLength));
  const txt = one('txt');
  if (txt) files.set('txt', Buffer.from(txt.buffer, txt.byteOffset, txt.byteLength));
  const label = f.get('label');
  if (label?.kind === 'int64' && label.value.length === 1) files.set('cls', Buffer.from(String(label.value[0])));
  const key = one('key') ?? one('file_name');
  return { key: key ? Buffer.from(key).toString('utf8') : fallbackKey, files };
}

/** Whether a shard file is a TFRecord file by its name: `*.tfrecord` (img2dataset) or `*.tfrecord-00000-of-00064` (TFDS). */
export function isTfRecordName(name: string): boolean {
  return /\.tfrecords?$/.test(name) || /\.tfrecord-\d+-of-\d+$/.test(name);
}

/**
 * The records of one TFRecord file from record `start` on, as sample groups (index = record index). Damage is warned
 * and skipped as the head comment says; a record that is not an Example throws.
 */
export async function* tfrecordSamples(
  path: string,
  start: number,
  warn: (w: DataWarning) => void,
): AsyncGenerator<{ index: number; key: string; files: Map<string, Buffer> }> {
  const r = await TfRecordReader.open(path);
  const name = basename(path);
  try {
    let index = 0;
    for (;;) {
      try {
        if (index < start) {
          if (!(await r.skip())) return;
          index++;
          continue;
        }
        const rec = await r.next();
        if (!rec) return;
        const where = `${path}: record ${index} (byte ${rec.offset})`;
        yield { index, ...exampleSample(decodeExample(rec.data, where), `${name}:${index}`) };
      } catch (e) {
        if (!(e instanceof TfRecordFormatError)) throw e;
        const kind = e.kind === 'truncated' ? 'truncated-tfrecord' : 'bad-tfrecord-crc';
        warn({ kind, path, key: `${name}:${index}`, message: e.message });
        if (e.kind !== 'bad-data-crc') return;
      }
      index++;
    }
  } finally {
    await r.close();
  }
}
