#!/usr/bin/env node
// The `flip` executable: registers the TypeScript loader (tsx), then runs bin/flip.ts.
import { register } from 'tsx/esm/api';
register();
await import('./flip.ts');
