// `flip plot WORKDIR`: the loss and zero-shot accuracy curves of a run, from its metrics.jsonl, as a PNG. The figure is
// an SVG drawn here (two panels with axes, ticks, labels and legends) that sharp (librsvg) renders to PNG.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { FlipError } from '../compiler/ir/errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';

export interface Point {
  step: number;
  value: number;
}

export interface RunCurves {
  loss: Point[];
  top1: Point[];
  top5: Point[];
  chance: number | null;
  /** Line numbers (1-based) that are not a JSON object with a numeric step: a line cut short by a kill, or damage. */
  skippedLines: number[];
}

/**
 * The curves of a metrics.jsonl: train/loss, eval/zeroshot_top1 and _top5, eval/chance. Non-finite values (written
 * as strings) are left out; a step logged twice (a run killed and resumed redoes the steps after its last checkpoint)
 * keeps its last value.
 */
export function readCurves(file: string): RunCurves {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FlipError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (flip run writes metrics.jsonl into its workdir)`);
  }
  const by = { loss: new Map<number, number>(), top1: new Map<number, number>(), top5: new Map<number, number>() };
  let chance: number | null = null;
  const skippedLines: number[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    let r: Record<string, unknown> | null;
    try {
      r = JSON.parse(line) as Record<string, unknown> | null;
    } catch {
      r = null; // a line cut short by a kill, or damage: counted, shown by the caller
    }
    const step = r && typeof r === 'object' ? r.step : undefined;
    if (!r || typeof step !== 'number') {
      skippedLines.push(i + 1);
      continue;
    }
    const put = (m: Map<number, number>, v: unknown) => {
      if (typeof v === 'number' && Number.isFinite(v)) m.set(step, v);
    };
    put(by.loss, r['train/loss']);
    put(by.top1, r['eval/zeroshot_top1']);
    put(by.top5, r['eval/zeroshot_top5']);
    if (typeof r['eval/chance'] === 'number') chance = r['eval/chance'];
  }
  const points = (m: Map<number, number>) => [...m].map(([step, value]) => ({ step, value })).sort((a, b) => a.step - b.step);
  return { loss: points(by.loss), top1: points(by.top1), top5: points(by.top5), chance, skippedLines };
}

/** Round tick positions covering [lo, hi] (about `n` of them, steps of 1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export interface Panel {
  /** Plot area in pixels. */
  left: number;
  top: number;
  width: number;
  height: number;
  x: [number, number];
  y: [number, number];
}

/** Pixel position of a data point in a panel. */
export function toPixel(p: Panel, step: number, value: number): [number, number] {
  const fx = p.x[1] > p.x[0] ? (step - p.x[0]) / (p.x[1] - p.x[0]) : 0.5;
  const fy = p.y[1] > p.y[0] ? (value - p.y[0]) / (p.y[1] - p.y[0]) : 0.5;
  return [p.left + fx * p.width, p.top + (1 - fy) * p.height];
}

export const PLOT = { width: 1000, height: 420, background: '#ffffff', loss: '#1f77b4', top1: '#d62728', top5: '#2ca02c', chance: '#7f7f7f' } as const;

/** Where the two panels are, and their data ranges (steps shared; loss padded by 5%; accuracy 0..100%). */
export function layout(c: RunCurves): { loss: Panel; acc: Panel } {
  const steps = [...c.loss, ...c.top1, ...c.top5].map((p) => p.step);
  const x: [number, number] = [0, Math.max(1, ...steps)];
  const vals = c.loss.map((p) => p.value);
  let lo = vals.length ? Math.min(...vals) : 0, hi = vals.length ? Math.max(...vals) : 1;
  if (hi - lo < 1e-6) (lo -= 0.5), (hi += 0.5);
  const pad = (hi - lo) * 0.05;
  const box = { top: 40, width: (PLOT.width - 3 * 70) / 2, height: PLOT.height - 40 - 55 };
  return {
    loss: { left: 70, ...box, x, y: [lo - pad, hi + pad] },
    acc: { left: 70 + box.width + 70, ...box, x, y: [0, 1] },
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (Math.abs(v) >= 1000 ? `${+(v / 1000).toPrecision(3)}k` : `${+v.toPrecision(4)}`);

function panelSvg(p: Panel, title: string, yLabel: string, yFmt: (v: number) => string, series: Array<{ pts: Point[]; color: string; label: string; dash?: string; dots?: boolean }>, empty: string): string {
  const out: string[] = [];
  const [x0, y0, w, h] = [p.left, p.top, p.width, p.height];
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#000" stroke-width="1"/>`);
  for (const v of niceTicks(p.x[0], p.x[1])) {
    const [px] = toPixel(p, v, p.y[0]);
    out.push(`<line x1="${px}" y1="${y0}" x2="${px}" y2="${y0 + h}" stroke="#e6e6e6"/>`);
    out.push(`<line x1="${px}" y1="${y0 + h}" x2="${px}" y2="${y0 + h + 5}" stroke="#000"/>`);
    out.push(`<text x="${px}" y="${y0 + h + 19}" font-size="12" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of niceTicks(p.y[0], p.y[1])) {
    const [, py] = toPixel(p, p.x[0], v);
    out.push(`<line x1="${x0}" y1="${py}" x2="${x0 + w}" y2="${py}" stroke="#e6e6e6"/>`);
    out.push(`<line x1="${x0 - 5}" y1="${py}" x2="${x0}" y2="${py}" stroke="#000"/>`);
    out.push(`<text x="${x0 - 8}" y="${py + 4}" font-size="12" text-anchor="end">${yFmt(v)}</text>`);
  }
  out.push(`<text x="${x0 + w / 2}" y="${y0 - 14}" font-size="15" font-weight="bold" text-anchor="middle">${esc(title)}</text>`);
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 42}" font-size="13" text-anchor="middle">step</text>`);
  out.push(`<text transform="translate(${x0 - 52} ${y0 + h / 2}) rotate(-90)" font-size="13" text-anchor="middle">${esc(yLabel)}</text>`);
  out.push(`<defs><clipPath id="c${x0}"><rect x="${x0}" y="${y0}" width="${w}" height="${h}"/></clipPath></defs>`);
  const legend: string[] = [];
  const shown = series.filter((s) => s.pts.length).length;
  if (shown) legend.push(`<rect x="${x0 + w - 158}" y="${y0 + 5}" width="150" height="${18 * shown + 6}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`);
  let legendY = y0 + 22;
  for (const s of series) {
    if (!s.pts.length) continue;
    const xy = s.pts.map((q) => toPixel(p, q.step, q.value).map((n) => n.toFixed(2)).join(','));
    out.push(`<polyline clip-path="url(#c${x0})" points="${xy.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} stroke-linejoin="round"/>`);
    if (s.dots) for (const q of xy) out.push(`<circle cx="${q.split(',')[0]}" cy="${q.split(',')[1]}" r="3.5" fill="${s.color}"/>`);
    legend.push(`<line x1="${x0 + w - 150}" y1="${legendY - 4}" x2="${x0 + w - 125}" y2="${legendY - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    legend.push(`<text x="${x0 + w - 118}" y="${legendY}" font-size="12">${esc(s.label)}</text>`);
    legendY += 18;
  }
  out.push(...legend);
  if (series.every((s) => !s.pts.length)) out.push(`<text x="${x0 + w / 2}" y="${y0 + h / 2}" font-size="14" fill="#7f7f7f" text-anchor="middle">${esc(empty)}</text>`);
  return out.join('\n');
}

/** The figure as SVG text: training loss (left) and zero-shot accuracy with chance (right). */
export function curvesSvg(c: RunCurves, title = ''): string {
  const l = layout(c);
  const pct = (v: number) => `${+(v * 100).toPrecision(3)}%`;
  const chance = c.chance === null ? [] : [{ step: l.acc.x[0], value: c.chance }, { step: l.acc.x[1], value: c.chance }];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${PLOT.width}" height="${PLOT.height}" viewBox="0 0 ${PLOT.width} ${PLOT.height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="${PLOT.background}"/>`,
    title ? `<text x="${PLOT.width / 2}" y="16" font-size="13" fill="#555" text-anchor="middle">${esc(title)}</text>` : '',
    panelSvg(l.loss, 'training loss', 'contrastive loss', fmt, [{ pts: c.loss, color: PLOT.loss, label: 'train/loss' }], 'no training steps logged'),
    panelSvg(l.acc, 'zero-shot accuracy', 'accuracy', pct, [
      { pts: c.top1, color: PLOT.top1, label: 'top-1', dots: true },
      { pts: c.top5, color: PLOT.top5, label: 'top-5', dots: true },
      { pts: chance, color: PLOT.chance, label: 'chance', dash: '6 4' },
    ], 'no zero-shot eval yet'),
    '</svg>',
  ].join('\n');
}

/** Reads WORKDIR/metrics.jsonl, writes the PNG (default WORKDIR/metrics.png, atomically); returns its path and the curves. */
export async function plotRun(workdir: string, out?: string): Promise<{ file: string; curves: RunCurves }> {
  const jsonl = path.join(workdir, 'metrics.jsonl');
  if (!existsSync(workdir)) throw new FlipError(`no such workdir: ${workdir}`);
  const curves = readCurves(jsonl);
  if (!curves.loss.length && !curves.top1.length) throw new FlipError(`${jsonl} has no train/loss or eval/zeroshot_top1 values to plot`);
  const png = await sharp(Buffer.from(curvesSvg(curves, path.basename(path.resolve(workdir))))).png().toBuffer();
  const file = out ?? path.join(workdir, 'metrics.png');
  writeFileAtomic(file, png, (reason) => new FlipError(reason));
  return { file, curves };
}
