// The bench's figures from the two halves' measurements: one row per figure with flip's value, JAX's, and their
// ratio; printed as a text table, as Markdown (the README's), and kept in bench/results.json.
import { cpus, loadavg, totalmem } from 'node:os';
import { median, type FlipHalfResult } from './flip_bench.ts';
import type { JaxHalfResult } from './jax_half.ts';
import { maskFlopsShare, PAPER_SPEEDUP, SCAN_SUFFIX, type BenchPlan } from './plan.ts';

export interface Row {
  id: string;
  figure: string;
  unit: 's' | 'x' | 'images/s' | 'GFLOP/s' | '%';
  flip: number | null;
  jax: number | null;
  /** flip ÷ JAX. */
  ratio: number | null;
  /** Which way is better for this figure. */
  better: 'lower' | 'higher';
  /** flip worse than JAX by more than 10% on this figure. */
  flipBehind: boolean;
  note?: string;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  /** 1-minute load average when the bench started (other work on the machine skews the figures). */
  loadAverage: number;
  device: string;
  node: string;
}

export interface BenchResults {
  date: string;
  target: BenchPlan['target'];
  machine: Machine;
  versions: { flipPlugin: string; jax: string | null; jaxlib: string | null; python: string | null };
  plan: { stepsModel: string; batchSize: number; masks: readonly number[]; warmup: number; steps: number; compile: string[]; peakSize: number };
  flopsFormula: string;
  rows: Row[];
  flip: FlipHalfResult;
  jax: JaxHalfResult | null;
  seconds: number;
}

export function machineInfo(device: string): Machine {
  const c = cpus();
  return { cpu: c[0]?.model.trim() ?? 'unknown', cores: c.length, memoryGiB: Math.round(totalmem() / 2 ** 30), loadAverage: loadavg()[0]!, device, node: process.version };
}

function row(id: string, figure: string, unit: Row['unit'], better: Row['better'], flip: number | null, jax: number | null, note?: string): Row {
  const ratio = flip !== null && jax !== null && jax !== 0 ? flip / jax : null;
  const flipBehind = ratio !== null && (better === 'lower' ? ratio > 1.1 : ratio < 1 / 1.1);
  return { id, figure, unit, flip, jax, ratio, better, flipBehind, ...(note ? { note } : {}) };
}

/** The figures of one bench run. */
export function figures(plan: BenchPlan, flip: FlipHalfResult, jax: JaxHalfResult | null): Row[] {
  const rows: Row[] = [];
  const s = plan.steps;
  const jaxStep = (r: number) => jax?.steps.find((x) => x.maskRatio === r) ?? null;
  const n = s.steps;
  // bf16 steps (model.dtype = 'bfloat16') get rows of their own below; every other figure is the f32 steps'.
  const bf16 = flip.steps.filter((f) => f.dtype === 'bfloat16');
  flip = { ...flip, steps: flip.steps.filter((f) => f.dtype !== 'bfloat16') };
  for (const f of flip.steps) {
    rows.push(row(`step.mask${f.maskRatio}`, `train step, mask ${f.maskRatio} (median of ${n})`, 's', 'lower', f.medianStepSeconds, jaxStep(f.maskRatio)?.medianStepSeconds ?? null));
  }
  for (const f of flip.steps) {
    const j = jaxStep(f.maskRatio);
    rows.push(row(`cpu.mask${f.maskRatio}`, `  CPU time of a step (all threads), mask ${f.maskRatio}`, 's', 'lower', median(f.cpuSeconds), j ? median(j.cpuSeconds) : null,
      `${(median(f.cpuSeconds) / f.medianStepSeconds).toFixed(2)} vs ${j ? (median(j.cpuSeconds) / j.medianStepSeconds).toFixed(2) : '—'} cores busy`));
  }
  const f0 = flip.steps.find((x) => x.maskRatio === 0);
  const j0 = jaxStep(0);
  for (const f of flip.steps) {
    if (f.maskRatio === 0 || !f0) continue;
    const j = jaxStep(f.maskRatio);
    const flops = maskFlopsShare(s.config, f.maskRatio, s.batchSize);
    const paper = PAPER_SPEEDUP[String(f.maskRatio)];
    // A step's time is its model FLOPs over its MFU, so this ratio is the FLOPs ratio × MFU at mask 0 ÷ MFU at this
    // mask: under the FLOPs ratio only where the masked step runs nearer the machine's peak than the unmasked one.
    // The note says what MFU the paper's ratio would take here.
    const mfu0 = f0.modelFlops / f0.medianStepSeconds / flip.peak.flopsPerSecond;
    const needs = paper !== undefined ? `; ${paper.toFixed(2)}x needs flip at MFU ${(100 * mfu0 * flops / paper).toFixed(0)}% (mask 0: ${(100 * mfu0).toFixed(0)}%)` : '';
    rows.push(row(`speedup.mask${f.maskRatio}`, `time/sample at mask ${f.maskRatio} ÷ mask 0`, 'x', 'lower',
      f.medianStepSeconds / f0.medianStepSeconds, j && j0 ? j.medianStepSeconds / j0.medianStepSeconds : null,
      `${paper !== undefined ? `paper ${paper.toFixed(2)}x; ` : ''}model FLOPs ${flops.toFixed(2)}x${needs}`));
  }
  for (const c of flip.compile) {
    // A scanned-layers entry (flip only) is set against JAX's unrolled model of the same config.
    const scanned = c.name.endsWith(SCAN_SUFFIX);
    const base = scanned ? c.name.slice(0, -SCAN_SUFFIX.length) : c.name;
    const j = jax?.compile.find((x) => x.name === base) ?? null;
    const what = scanned ? `${base}, layers scanned (transformer.scanLayers; JAX unrolled)` : c.name;
    rows.push(row(`compile.${c.name}`, `model fn → executable, ${what} (batch ${c.batchSize})`, 's', 'lower', c.totalSeconds, j?.totalSeconds ?? null));
    rows.push(row(`compile.${c.name}.trace`, '  trace + autodiff + passes', 's', 'lower', c.traceSeconds, j?.traceSeconds ?? null));
    rows.push(row(`compile.${c.name}.lower`, '  lower to StableHLO', 's', 'lower', c.lowerSeconds, j?.lowerSeconds ?? null));
    rows.push(row(`compile.${c.name}.xla`, '  XLA compile', 's', 'lower', c.compileSeconds, j?.compileSeconds ?? null));
  }
  for (const m of plan.compile) {
    if (!flip.compile.some((c) => c.name === m.name)) rows.push(row(`compile.${m.name}`, `model fn → executable, ${m.name}: not measured (time bound)`, 's', 'lower', null, null));
  }
  const cc = flip.cachedCompile;
  if (cc) {
    rows.push(row(`compile.cached.${cc.name}`, `  2nd compile of ${cc.name}, through the compilation cache`, 's', 'lower', cc.cachedSeconds, null,
      cc.loaded ? `first ${cc.firstSeconds.toFixed(1)} s: ${(cc.firstSeconds / cc.cachedSeconds).toFixed(1)}x; XLA skipped` : 'NOT loaded from the cache'));
  }
  for (const b of bf16) {
    const f = flip.steps.find((x) => x.maskRatio === b.maskRatio);
    rows.push(row(`step.bf16.mask${b.maskRatio}`, `train step bf16 (model.dtype), mask ${b.maskRatio}`, 's', 'lower', b.medianStepSeconds, null,
      f ? `÷ f32 step ${(b.medianStepSeconds / f.medianStepSeconds).toFixed(2)}x` : ''));
  }
  const p = flip.pipeline;
  rows.push(row('pipeline', `input pipeline (decode+augment+tokenize, ${p.workers} worker${p.workers === 1 ? '' : 's'})`, 'images/s', 'higher', p.imagesPerSecond, null,
    `${p.sourceSize}px JPEG → ${p.imageSize}px, batch ${p.batchSize}`));
  for (const f of flip.steps) {
    const j = jaxStep(f.maskRatio);
    rows.push(row(`consumed.mask${f.maskRatio}`, `images/s the train step takes, mask ${f.maskRatio}`, 'images/s', 'higher',
      s.batchSize / f.medianStepSeconds, j ? s.batchSize / j.medianStepSeconds : null));
  }
  const fastestFlip = Math.min(...flip.steps.map((x) => x.medianStepSeconds));
  const fastestJax = jax?.steps.length ? Math.min(...jax.steps.map((x) => x.medianStepSeconds)) : null;
  rows.push(row('pipeline.headroom', 'pipeline ÷ fastest step\'s intake (≥ 1: keeps up)', 'x', 'higher',
    p.imagesPerSecond / (s.batchSize / fastestFlip), fastestJax ? p.imagesPerSecond / (s.batchSize / fastestJax) : null,
    'JAX column: flip\'s pipeline feeding the JAX step'));
  rows.push(row('peak', `f32 matmul ${plan.peak.size}² (machine peak)`, 'GFLOP/s', 'higher', flip.peak.flopsPerSecond / 1e9, jax ? jax.peak.flopsPerSecond / 1e9 : null));
  for (const f of flip.steps) {
    const j = jaxStep(f.maskRatio);
    rows.push(row(`mfu.mask${f.maskRatio}`, `MFU, mask ${f.maskRatio} (${(f.modelFlops / 1e9).toPrecision(3)} GFLOP/step)`, '%', 'higher',
      (100 * f.modelFlops) / f.medianStepSeconds / flip.peak.flopsPerSecond,
      j && jax ? (100 * f.modelFlops) / j.medianStepSeconds / jax.peak.flopsPerSecond : null));
  }
  return rows;
}

const fmt = (v: number | null, unit: Row['unit']): string => {
  if (v === null) return '—';
  switch (unit) {
    case 's': return v >= 100 ? `${v.toFixed(0)} s` : v >= 10 ? `${v.toFixed(1)} s` : `${v.toFixed(v < 0.1 ? 4 : 3)} s`;
    case 'x': return `${v.toFixed(2)}x`;
    case '%': return `${v.toFixed(1)}%`;
    case 'images/s': return v >= 100 ? v.toFixed(0) : v.toFixed(2);
    case 'GFLOP/s': return v.toFixed(1);
  }
};

const unitLabel = (u: Row['unit']) => (u === 'x' || u === '%' || u === 's' ? '' : ` ${u}`);

function cells(r: Row): [string, string, string, string, string] {
  const ratio = r.ratio === null ? '—' : `${r.ratio.toFixed(2)}${r.flipBehind ? ' *' : ''}`;
  return [r.figure + unitLabel(r.unit), fmt(r.flip, r.unit), fmt(r.jax, r.unit), ratio, r.note ?? ''];
}

/** Median cores other processes kept busy during the timed steps (both systems), or null where unknown. */
export function otherLoad(flip: FlipHalfResult, jax: JaxHalfResult | null): number | null {
  const xs = [...flip.steps, ...(jax?.steps ?? [])].flatMap((s) => s.otherCores).filter((x): x is number => x !== null);
  return xs.length ? median(xs) : null;
}

export function header(res: Pick<BenchResults, 'date' | 'machine' | 'versions' | 'plan' | 'target' | 'flip' | 'jax'>): string {
  const m = res.machine;
  const p = res.plan;
  const other = otherLoad(res.flip, res.jax);
  return `${p.stepsModel}, batch ${p.batchSize}, on ${m.device} (${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB), ${res.date.slice(0, 10)}; ` +
    `flip on ${res.versions.flipPlugin}, JAX ${res.versions.jax ?? '(not run)'}; other processes kept ` +
    `${other === null ? '?' : other.toFixed(2)} cores busy during the timed steps (median)`;
}

const COLUMNS = ['figure', 'flip', 'JAX', 'flip ÷ JAX', 'note'] as const;

/** The rows as a fixed-width text table. */
export function textTable(rows: readonly Row[]): string {
  const body = rows.map(cells);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((b) => b[i]!.length)));
  const line = (cs: readonly string[]) => cs.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** The rows as a Markdown table (the README's). */
export function markdownTable(rows: readonly Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/^ +/, (sp) => '&nbsp;'.repeat(sp.length));
  return [
    `| ${COLUMNS.join(' | ')} |`,
    '| --- | ---: | ---: | ---: | --- |',
    ...rows.map((r) => `| ${cells(r).map(esc).join(' | ')} |`),
  ].join('\n');
}

export const LEGEND =
  'flip ÷ JAX: for times, > 1 means flip is slower; for rates and MFU, < 1 means flip is slower. ' +
  '* marks a figure where flip is behind JAX by more than 10% (docs/performance.md says why).';
