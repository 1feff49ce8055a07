// A worker thread for lifecycle.test.ts: opens a client and starts a long execution, then reports
// 'started' (the test terminates it while the execution runs).
import { parentPort } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
const { openClient } = await import('../../runtime-native/index.ts');
const { longLoop } = await import('./modules.ts');
const client = await openClient({ target: 'cpu', devices: 1 });
const exe = await client.compile(longLoop(256, 2000));
void exe.run([client.toDevice(new Float32Array(256 * 256).fill(0.5), [256, 256], 'f32')]);
parentPort.postMessage('started');
