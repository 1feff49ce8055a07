// Atomic file writes: a temporary file in the same folder, flushed to disk, then renamed over the target,
// so a crash or Ctrl-C leaves either the old file or the new one, never half of one.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Writes `data` to `file` atomically; on failure removes the temporary file and throws `fail(reason)`. */
export function writeFileAtomic(file: string, data: string | Uint8Array, fail: (reason: string) => Error): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw fail(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
