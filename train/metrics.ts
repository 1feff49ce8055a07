// Where a run's numbers go: TensorBoard event files and a plain metrics.jsonl in the workdir, and progress lines
// (step, loss, tau, lr, samples/s, ETA) on the terminal.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { EventWriter } from './tensorboard.ts';

export type Scalars = Readonly<Record<string, number>>;

/**
 * One record per call, to both `metrics.jsonl` ({step, time, run, ...values}) and the TensorBoard events file. Nothing
 * is created before the first record: a run that fails before its first step leaves no empty metrics.jsonl and no
 * events file. `run` (the run's id, kept across resumes in its checkpoints) tells one run's records from another's.
 */
export class MetricsLog {
  readonly jsonl: string;
  private events: EventWriter | null = null;

  constructor(readonly dir: string, readonly run?: string) {
    this.jsonl = path.join(dir, 'metrics.jsonl');
  }

  /** The events file, once the first record made it; null before. */
  get eventsFile(): string | null {
    return this.events?.file ?? null;
  }

  write(step: number, values: Scalars): void {
    if (!this.events) {
      mkdirSync(this.dir, { recursive: true });
      this.events = new EventWriter(this.dir);
    }
    const finite = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number.isFinite(v) ? v : String(v)]));
    appendFileSync(this.jsonl, JSON.stringify({ step, time: new Date().toISOString(), ...(this.run ? { run: this.run } : {}), ...finite }) + '\n');
    this.events.scalars(step, values);
  }

  flush(): void {
    this.events?.flush();
  }

  close(): void {
    this.events?.close();
  }
}

/** `1h02m`, `3m05s`, `42s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const num = (x: number, digits = 4) => (Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(digits) : x.toExponential(2));

export interface Progress {
  step: number;
  total: number;
  /** Virtual epochs done (step / steps per epoch). */
  epoch: number;
  loss: number;
  tau: number;
  lr: number;
  samplesPerSec: number;
  etaSec: number;
}

/** One progress line: `step 120/1000  epoch 0.38  loss 3.2104  tau 0.0712  lr 1.20e-4  312.5 samples/s  ETA 2m10s`. */
export function progressLine(p: Progress): string {
  const w = String(p.total).length;
  return [
    `step ${String(p.step).padStart(w)}/${p.total}`,
    `epoch ${p.epoch.toFixed(2)}`,
    `loss ${num(p.loss)}`,
    `tau ${num(p.tau)}`,
    `lr ${p.lr.toExponential(2)}`,
    `${p.samplesPerSec.toFixed(1)} samples/s`,
    `ETA ${formatDuration(p.etaSec)}`,
  ].join('  ');
}

/**
 * A progress bar in `columns` characters (tqdm's look): ` 38%|████▌       | 120/320 ep 1.50 loss 3.2104 lr 1.20e-4
 * 312 samples/s ETA 2m10s`. The text after the bar is kept; the bar takes what is left (at least 10 cells, else none).
 */
export function progressBar(p: Progress, columns: number): string {
  const frac = p.total > 0 ? Math.min(1, Math.max(0, p.step / p.total)) : 0;
  const pct = `${String(Math.floor(frac * 100)).padStart(3)}%`;
  const info = ` ${p.step}/${p.total} ep ${p.epoch.toFixed(2)} loss ${num(p.loss)} lr ${p.lr.toExponential(2)} ` +
    `${p.samplesPerSec.toFixed(0)} samples/s ETA ${formatDuration(p.etaSec)}`;
  const cells = columns - 1 - pct.length - 2 - info.length; // one column spare: no wrap on terminals that wrap at the edge
  if (cells < 10) return (pct + info).slice(0, Math.max(0, columns - 1));
  const eighths = Math.round(frac * cells * 8);
  const full = Math.floor(eighths / 8);
  const part = eighths % 8;
  const bar = '█'.repeat(full) + (part ? '▏▎▍▌▋▊▉'[part - 1]! : '') + ' '.repeat(cells - full - (part ? 1 : 0));
  return `${pct}|${bar}|${info}`;
}

/** Where a live progress bar is drawn: a terminal stream (process.stdout). */
export interface TerminalOut {
  write(s: string): unknown;
  columns?: number;
}

/**
 * A progress bar redrawn in place on a terminal: `update` rewrites the line (at most every `minIntervalMs`, and always
 * when `force`), `clear` erases it so that a normal line can be printed, `draw` puts the last one back.
 */
export class ProgressBar {
  private last: Progress | null = null;
  private shown = false;
  private drawnAt = 0;

  constructor(private readonly out: TerminalOut, private readonly minIntervalMs = 100) {}

  update(p: Progress, force = false): void {
    this.last = p;
    const now = performance.now();
    if (!force && this.shown && now - this.drawnAt < this.minIntervalMs) return;
    this.draw();
  }

  draw(): void {
    if (!this.last) return;
    const columns = this.out.columns && this.out.columns >= 20 ? this.out.columns : 80; // 0 or unknown: a pseudo-terminal without a size
    this.out.write(`\r${progressBar(this.last, columns)}\x1b[K`);
    this.shown = true;
    this.drawnAt = performance.now();
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[K');
    this.shown = false;
  }

  /** Print a line above the bar. */
  print(line: string, write: (s: string) => void): void {
    const was = this.shown;
    this.clear();
    write(line);
    if (was) this.draw();
  }

  /** Erase the bar and forget it (the end of the loop). */
  done(): void {
    this.clear();
    this.last = null;
  }
}
