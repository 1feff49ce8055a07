// Where a run's lines go: progress and messages (print), warnings (warn), compile messages (log), and a live progress
// bar on a terminal that every other line is printed above; and how its results read in those lines.
import type { SkipCounts } from '../data/webdataset.ts';
import { ProgressBar } from '../metrics.ts';
import type { ZeroShotResult } from '../zeroshot.ts';
import type { RunOptions } from './plan.ts';

export interface RunOutput {
  print(line: string): void;
  warn(line: string): void;
  /** A compile message (`compile: ...`). */
  log(message: string): void;
  /** The live bar, when there is one. */
  bar: ProgressBar | null;
}

export function runOutput(o: Pick<RunOptions, 'print' | 'warn' | 'progressBar'>): RunOutput {
  // A live bar on a terminal; every other line is printed above it.
  const bar = o.progressBar === undefined ? (!o.print && process.stdout.isTTY ? new ProgressBar(process.stdout) : null) : o.progressBar ? new ProgressBar(o.progressBar) : null;
  const rawPrint = o.print ?? ((s: string) => console.log(s));
  const rawWarn = o.warn ?? ((s: string) => console.error(s));
  const print = (s: string) => (bar ? bar.print(s, rawPrint) : rawPrint(s));
  const warn = (s: string) => (bar ? bar.print(s, rawWarn) : rawWarn(s));
  return { print, warn, log: (m: string) => print(`compile: ${m}`), bar };
}

/** `2 corrupt-image, 1 empty-caption` (kinds with a count), or '' when nothing was skipped. */
export function describeSkipped(s: SkipCounts): string {
  return Object.entries(s).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function describeZeroShot(z: ZeroShotResult): string {
  return `zero-shot top-1 ${pct(z.top1)}${z.top5 === null ? '' : ` (top-5 ${pct(z.top5)})`} on ${z.images} held-out images, ` +
    `${z.classes} classes; chance ${pct(z.chance)}: ${(z.top1 / z.chance).toFixed(1)}x chance`;
}
