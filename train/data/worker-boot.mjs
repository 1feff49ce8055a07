// Entry of a decode worker thread, in plain JS: a Node 20 worker starts without the main thread's
// tsx loader (and ignores `--import tsx` in execArgv), so it registers tsx itself, then loads the TS.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
