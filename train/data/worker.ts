// A decode worker: receives packed jobs, answers with their results (buffers transferred, not copied).
import { parentPort, workerData } from 'node:worker_threads';
import { Transformer, resultBuffers, type PackedJob, type TransformConfig } from './transform.ts';

const port = parentPort!;
const transformer = new Transformer(workerData as TransformConfig);

port.on('message', (job: PackedJob) => {
  transformer.run(job).then(
    (result) => port.postMessage({ id: job.id, result }, resultBuffers(result)),
    (e: Error) => port.postMessage({ id: job.id, error: e.stack ?? String(e) }),
  );
});
port.postMessage({ ready: true });
