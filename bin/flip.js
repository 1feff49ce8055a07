#!/usr/bin/env node
// The `flip` executable: runs bin/flip.ts, compiled (dist/) or through tsx (bin/start.mjs says which and why).
import os from 'node:os';
// sharp decodes images on libuv's thread pool, sized once at its first use (default 4): size it to the
// machine before anything touches it, so the data workers are not capped at 4 decoders.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, os.availableParallelism()));
const { start } = await import('./start.mjs');
await start('flip');
