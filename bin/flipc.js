#!/usr/bin/env node
// The `flipc` executable: registers the TypeScript loader (tsx), then runs bin/flipc.ts.
import { register } from 'tsx/esm/api';
register();
await import('./flipc.ts');
