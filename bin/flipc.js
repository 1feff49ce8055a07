#!/usr/bin/env node
// The `flipc` executable: runs bin/flipc.ts, compiled (dist/) or through tsx (bin/start.mjs says which and why).
const { start } = await import('./start.mjs');
await start('flipc');
