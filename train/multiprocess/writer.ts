// Who writes a multi-process run's shared outputs. As the official trainer (clu's create_default_writer with
// just_logging = jax.process_index() != 0), only process 0 writes metrics.jsonl, the TensorBoard events, the progress
// bar and progress lines, the synthetic data set and the checkpoint index; every process still prints its warnings
// and errors, and writes its own checkpoint pieces (train/multiprocess/checkpoint.ts).
import type { ProcessGroup } from './group.ts';

export interface WriterRole {
  /** Process 0: the one process that writes what the run has one of. */
  readonly isWriter: boolean;
  readonly processIndex: number;
  readonly processCount: number;
  /** `[process 2/4] ` for lines a non-writer prints; '' in a one-process run. */
  readonly prefix: string;
}

export function writerRole(g: Pick<ProcessGroup, 'processIndex' | 'processCount'>): WriterRole {
  return {
    isWriter: g.processIndex === 0,
    processIndex: g.processIndex,
    processCount: g.processCount,
    prefix: g.processCount > 1 ? `[process ${g.processIndex}/${g.processCount}] ` : '',
  };
}

/** What the trainer writes metrics into (MetricsLog has these three). */
export interface MetricsSink {
  write(step: number, values: Record<string, number>): void;
  flush(): void;
  close(): void;
}

/** A non-writer's metrics: nothing is written, nothing is opened. */
export const NO_METRICS: MetricsSink = { write() {}, flush() {}, close() {} };

/** `open()` (e.g. `() => new MetricsLog(workdir)`) on the writer; {@link NO_METRICS} on the others, which never call it. */
export function metricsFor<T extends MetricsSink>(role: WriterRole, open: () => T): T | MetricsSink {
  return role.isWriter ? open() : NO_METRICS;
}

export interface OutputOptions {
  print?: (line: string) => void;
  warn?: (line: string) => void;
  progressBar?: unknown;
}

/**
 * The output options of a process (RunOptions' print, warn and progressBar): unchanged on the writer; on the others no
 * bar, no progress lines, and warnings prefixed with the process (`[process 1/4] ...`) so `flip launch`'s merged
 * output says whose they are.
 */
export function outputFor<O extends OutputOptions>(role: WriterRole, o: O): O {
  if (role.isWriter) return o;
  const warn = o.warn ?? ((s: string) => console.error(s));
  return { ...o, progressBar: null, print: () => {}, warn: (s: string) => warn(role.prefix + s) };
}
