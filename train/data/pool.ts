// Where decode jobs run: a pool of worker_threads, or the main thread (workers: 0, for tests and
// debugging). Both run the same Transformer, so they produce the same bytes.
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Transformer, type JobResult, type PackedJob, type TransformConfig } from './transform.ts';

export interface Executor {
  run(job: PackedJob): Promise<JobResult>;
  close(): Promise<void>;
  readonly size: number;
}

/** Default pool size: one core is left to the main thread (the device loop, tar reading). */
export function defaultWorkerCount(): number {
  return Math.max(1, cpus().length - 1);
}

export class InlineExecutor implements Executor {
  readonly size = 0;
  private readonly t: Transformer;
  constructor(cfg: TransformConfig) {
    this.t = new Transformer(cfg);
  }
  run(job: PackedJob): Promise<JobResult> {
    return this.t.run(job);
  }
  async close(): Promise<void> {}
}

interface Slot {
  worker: Worker;
  busy: number;
  /** Resolves when the worker thread has exited. */
  exited: Promise<void>;
}

type Waiter = { resolve: (r: JobResult) => void; reject: (e: Error) => void };

/**
 * sharp decodes on libuv's thread pool, which is one per process (shared by all worker threads),
 * sized once from UV_THREADPOOL_SIZE at process start (default 4): setting it later has no effect.
 * So on a many-core host more decode workers than pool threads wait on each other.
 */
export function libuvPoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

let warnedPool = false;

/** Each worker takes up to 2 jobs at a time, so it has the next one while posting a result. */
export class WorkerPool implements Executor {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, Waiter & { slot: Slot }>();
  private readonly queue: Array<{ job: PackedJob } & Waiter> = [];
  private failure: Error | null = null;
  private closed = false;

  constructor(
    cfg: TransformConfig,
    readonly size: number,
  ) {
    if (size > libuvPoolSize() && !warnedPool) {
      warnedPool = true;
      console.warn(
        `flip data: ${size} decode workers share libuv's ${libuvPoolSize()} threads, which bound JPEG decoding; ` +
          `start the process with UV_THREADPOOL_SIZE=${size + 1} to decode on all of them`,
      );
    }
    const url = new URL('./worker-boot.mjs', import.meta.url);
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url, { workerData: cfg });
      let onExit!: () => void;
      const slot: Slot = { worker, busy: 0, exited: new Promise<void>((r) => (onExit = r)) };
      worker.on('message', (m: { id?: number; result?: JobResult; error?: string; ready?: boolean }) => {
        if (m.ready || m.id === undefined) return;
        const w = this.waiting.get(m.id);
        if (!w) return;
        this.waiting.delete(m.id);
        if (--slot.busy === 0) worker.unref(); // idle workers do not keep the process alive
        if (m.error !== undefined) w.reject(new Error(`decode worker: ${m.error}`));
        else w.resolve(m.result!);
        this.dispatch();
      });
      worker.on('error', (e) => this.fail(e));
      worker.on('exit', (code) => {
        onExit();
        if (!this.closed) this.fail(new Error(`decode worker exited with code ${code}`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
    for (const q of this.queue.splice(0)) q.reject(e);
  }

  private dispatch(): void {
    while (this.queue.length) {
      const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (slot.busy >= 2) return;
      const { job, resolve, reject } = this.queue.shift()!;
      if (slot.busy++ === 0) slot.worker.ref();
      this.waiting.set(job.id, { resolve, reject, slot });
      slot.worker.postMessage(job, [job.bytes.buffer as ArrayBuffer]);
    }
  }

  run(job: PackedJob): Promise<JobResult> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // Wait for each worker's 'exit' under a timer. Awaiting terminate() alone is not enough: on Node 20 the thread
    // (idle, unref'd, or with tsx's loader running in it) can stop holding the event loop before terminate()'s
    // promise settles, and a caller awaiting close() at the end of its work then saw Node leave with status 13
    // ("unsettled top-level await", about 1 run in 4 of `flip data bench`) instead of returning. The timer holds the
    // loop until the thread is gone (or 5 s, then we go on without it).
    await Promise.all(this.slots.map(async (s) => {
      let timer: NodeJS.Timeout | undefined;
      void s.worker.terminate().catch(() => {});
      await Promise.race([s.exited, new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }));
    this.fail(new Error('decode pool closed'));
  }
}

export function createExecutor(cfg: TransformConfig, workers: number): Executor {
  return workers > 0 ? new WorkerPool(cfg, workers) : new InlineExecutor(cfg);
}
