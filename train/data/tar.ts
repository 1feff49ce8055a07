// POSIX ustar archives, written and streamed: the container of webdataset shards.
// Written here rather than with an npm package because the subset we need is small and exact:
// 512-byte headers, octal fields, a checksum, two zero blocks at the end. The reader also accepts
// what other writers (GNU tar, Python tarfile, img2dataset) put in shards: pax 'x' headers, GNU
// long names ('L'), base-256 sizes, directories and other entries (skipped).
import { open, type FileHandle } from 'node:fs/promises';

const BLOCK = 512;
const CHUNK = 1 << 20;

/** The shard ended inside a header or a file body, or a header's checksum is wrong. */
export class TarFormatError extends Error {
  override name = 'TarFormatError';
  constructor(
    readonly path: string,
    readonly kind: 'truncated' | 'bad-header',
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

// ---------------------------------------------------------------- writing

function writeString(buf: Buffer, s: string, off: number, len: number): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > len) throw new Error(`tar: field '${s}' longer than ${len} bytes`);
  b.copy(buf, off);
}

function writeOctal(buf: Buffer, value: number, off: number, len: number): void {
  // len-1 octal digits, zero padded, then NUL (ustar numeric field).
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`tar: value ${value} does not fit a ${len}-byte field`);
  writeString(buf, s + '\0', off, len);
}

/** One ustar header block for a regular file. Names over 100 bytes are split into prefix/name at a '/'. */
export function ustarHeader(name: string, size: number, mtime = 0): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: name too long for ustar: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  writeString(h, base, 0, 100);
  writeOctal(h, 0o644, 100, 8); // mode
  writeOctal(h, 0, 108, 8); // uid
  writeOctal(h, 0, 116, 8); // gid
  writeOctal(h, size, 124, 12);
  writeOctal(h, mtime, 136, 12);
  h.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  h[156] = 0x30; // typeflag '0': regular file
  writeString(h, 'ustar\0', 257, 6);
  writeString(h, '00', 263, 2);
  writeString(h, 'flip', 265, 32); // uname
  writeString(h, 'flip', 297, 32); // gname
  writeString(h, prefix, 345, 155);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  writeString(h, sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Appends entries to a .tar file through a write buffer; `close()` writes the end-of-archive blocks. */
export class TarWriter {
  private chunks: Buffer[] = [];
  private pending = 0;
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
  ) {}

  static async create(path: string): Promise<TarWriter> {
    return new TarWriter(await open(path, 'w'), path);
  }

  async add(name: string, data: Uint8Array): Promise<void> {
    this.chunks.push(ustarHeader(name, data.length), Buffer.from(data.buffer, data.byteOffset, data.length));
    const pad = padding(data.length);
    if (pad) this.chunks.push(Buffer.alloc(pad));
    this.pending += BLOCK + data.length + pad;
    if (this.pending >= CHUNK * 4) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.chunks.length) return;
    const all = Buffer.concat(this.chunks, this.pending);
    this.chunks = [];
    this.pending = 0;
    await this.fh.write(all);
  }

  async close(): Promise<void> {
    this.chunks.push(Buffer.alloc(BLOCK * 2));
    this.pending += BLOCK * 2;
    await this.flush();
    await this.fh.close();
  }
}

// ---------------------------------------------------------------- reading

function cstring(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

function parseNumber(buf: Buffer, off: number, len: number): number {
  if (buf[off]! & 0x80) {
    // GNU base-256: big-endian two's complement, high bit of the first byte is the marker.
    let v = buf[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + buf[off + i]!;
    return v;
  }
  const s = cstring(buf, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function checksumOk(h: Buffer): boolean {
  const stored = parseNumber(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(body.toString('ascii', i, sp), 10);
    if (!(len > 0)) break;
    const rec = body.toString('utf8', sp + 1, i + len - 1); // drop trailing '\n'
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

export interface TarHeader {
  name: string;
  size: number;
}

/**
 * Streams a tar file header by header through a 1 MiB read buffer; a body is read only if asked
 * (`body()`), otherwise skipped by moving the file position — so seeking to the n-th sample of a
 * shard reads only headers.
 */
export class TarReader {
  private buf = Buffer.alloc(0);
  private bufPos = 0; // file offset of buf[0]
  private pos = 0; // file offset of the next unread byte
  private bodyLeft = 0; // size + padding of the current entry not yet consumed
  private bodySize = 0;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly fileSize: number,
  ) {}

  static async open(path: string): Promise<TarReader> {
    const fh = await open(path, 'r');
    const st = await fh.stat();
    return new TarReader(fh, path, st.size);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** Bytes [pos, pos+n) as a view; shorter at end of file. */
  private async take(n: number): Promise<Buffer> {
    const have = this.bufPos + this.buf.length - this.pos;
    if (have < n) {
      const start = this.pos;
      const want = Math.max(n, CHUNK);
      const next = Buffer.allocUnsafe(want);
      const kept = Math.max(0, have);
      if (kept) this.buf.copy(next, 0, this.pos - this.bufPos, this.pos - this.bufPos + kept);
      let filled = kept;
      while (filled < want) {
        const { bytesRead } = await this.fh.read(next, filled, want - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      this.buf = next.subarray(0, filled);
      this.bufPos = start;
    }
    const off = this.pos - this.bufPos;
    const view = this.buf.subarray(off, Math.min(off + n, this.buf.length));
    this.pos += view.length;
    return view;
  }

  private skipBytes(n: number): void {
    this.pos += n;
  }

  /** The next regular file's header, or null at the end of the archive. Throws TarFormatError. */
  async next(): Promise<TarHeader | null> {
    if (this.bodyLeft) {
      if (this.pos + this.bodyLeft > this.fileSize) {
        throw new TarFormatError(this.path, 'truncated', `truncated inside an entry at byte ${this.pos}`);
      }
      this.skipBytes(this.bodyLeft);
      this.bodyLeft = 0;
    }
    let longName: string | null = null;
    let pax: Map<string, string> | null = null;
    for (;;) {
      const at = this.pos;
      const h = await this.take(BLOCK);
      if (h.length === 0) return null; // end of file on a block boundary: accept as the end
      if (h.length < BLOCK) throw new TarFormatError(this.path, 'truncated', `truncated inside a header at byte ${at}`);
      if (h.every((b) => b === 0)) return null; // end-of-archive marker
      if (!checksumOk(h)) throw new TarFormatError(this.path, 'bad-header', `bad header checksum at byte ${at}`);
      const type = String.fromCharCode(h[156]!);
      let size = parseNumber(h, 124, 12);
      if (pax?.has('size')) size = Number(pax.get('size'));
      const padded = size + padding(size);
      if (type === 'x' || type === 'L' || type === 'g') {
        const body = await this.take(padded);
        if (body.length < padded) throw new TarFormatError(this.path, 'truncated', `truncated inside an entry at byte ${at}`);
        if (type === 'x') pax = parsePax(body.subarray(0, size));
        if (type === 'L') longName = cstring(body, 0, size);
        continue;
      }
      let name = cstring(h, 0, 100);
      const magic = h.toString('ascii', 257, 262);
      if (magic === 'ustar') {
        const prefix = cstring(h, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== null) name = longName;
      if (pax?.has('path')) name = pax.get('path')!;
      longName = null;
      pax = null;
      if (type !== '0' && type !== '\0' && type !== '7') {
        if (this.pos + padded > this.fileSize) throw new TarFormatError(this.path, 'truncated', `truncated inside an entry at byte ${at}`);
        this.skipBytes(padded);
        continue;
      }
      this.bodyLeft = padded;
      this.bodySize = size;
      return { name, size };
    }
  }

  /** The body of the entry `next()` returned. The buffer is a copy the caller may keep. */
  async body(): Promise<Buffer> {
    const at = this.pos;
    const view = await this.take(this.bodyLeft);
    const size = this.bodySize;
    this.bodyLeft = 0;
    if (view.length < size + padding(size)) {
      throw new TarFormatError(this.path, 'truncated', `truncated inside an entry at byte ${at}`);
    }
    return Buffer.from(view.subarray(0, size));
  }
}
