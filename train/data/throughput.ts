// Measures the host pipeline alone: images per second read, decoded, augmented and tokenized into
// batches (no device). The benchmark command and `flip data bench` report this figure.
import { cpus } from 'node:os';
import { openTrainLoader, type LoaderOptions } from './loader.ts';

export interface ThroughputReport {
  images: number;
  batches: number;
  seconds: number;
  imagesPerSecond: number;
  workers: number;
  imageSize: number;
  batchSize: number;
  cpus: number;
  skipped: number;
  /** Process CPU time (all threads) per image: a figure that holds on a busy machine too. */
  cpuMsPerImage: number;
}

/**
 * Pulls `batches` training batches (after `warmup` batches, which start the workers and fill the
 * prefetch queue) and times them.
 */
export async function measureThroughput(opts: LoaderOptions & { batches?: number; warmup?: number }): Promise<ThroughputReport> {
  const loader = await openTrainLoader(opts);
  const batches = opts.batches ?? 20;
  const warmup = opts.warmup ?? 2;
  try {
    for (let i = 0; i < warmup; i++) if (!(await loader.next())) break;
    let images = 0;
    let n = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (; n < batches; n++) {
      const b = await loader.next();
      if (!b) break;
      images += b.count;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const skipped = Object.values(loader.stats.skipped).reduce((a, b) => a + b, 0);
    return {
      images,
      batches: n,
      seconds,
      imagesPerSecond: images / seconds,
      workers: loader.workers,
      imageSize: opts.imageSize ?? 224,
      batchSize: opts.batchSize,
      cpus: cpus().length,
      skipped,
      cpuMsPerImage: (cpu.user + cpu.system) / 1000 / images,
    };
  } finally {
    await loader.close();
  }
}
