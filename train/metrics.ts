// Where a run's numbers go: TensorBoard event files and a plain metrics.jsonl in the workdir, and progress lines
// (step, loss, tau, lr, samples/s, ETA) on the terminal.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { EventWriter } from './tensorboard.ts';

export type Scalars = Readonly<Record<string, number>>;

/** One record per call, to both `metrics.jsonl` ({step, time, ...values}) and the TensorBoard events file. */
export class MetricsLog {
  readonly jsonl: string;
  private readonly events: EventWriter;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.jsonl = path.join(dir, 'metrics.jsonl');
    this.events = new EventWriter(dir);
  }

  get eventsFile(): string {
    return this.events.file;
  }

  write(step: number, values: Scalars): void {
    const finite = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number.isFinite(v) ? v : String(v)]));
    appendFileSync(this.jsonl, JSON.stringify({ step, time: new Date().toISOString(), ...finite }) + '\n');
    this.events.scalars(step, values);
  }

  flush(): void {
    this.events.flush();
  }

  close(): void {
    this.events.close();
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

/** One progress line: `step 120/1000  loss 3.2104  tau 0.0712  lr 1.20e-4  312.5 samples/s  ETA 2m10s`. */
export function progressLine(p: { step: number; total: number; loss: number; tau: number; lr: number; samplesPerSec: number; etaSec: number }): string {
  const w = String(p.total).length;
  return [
    `step ${String(p.step).padStart(w)}/${p.total}`,
    `loss ${num(p.loss)}`,
    `tau ${num(p.tau)}`,
    `lr ${p.lr.toExponential(2)}`,
    `${p.samplesPerSec.toFixed(1)} samples/s`,
    `ETA ${formatDuration(p.etaSec)}`,
  ].join('  ');
}
