// The flip half of `npm run bench` at a tiny size (flip_tiny, 2 timed steps, XLA's quickest compile): every figure
// is there, finite and positive, and the FLOPs formula is the traced step's own dot count. No JAX here, and no
// timing is checked: the real figures come from `npm run bench`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlipSide } from '../../bench/flip_bench.ts';
import { interleaved } from '../../bench/interleave.ts';
import { summarizeHlo } from '../../bench/hlo.ts';
import { quickPlan } from '../../bench/plan.ts';
import { figures, markdownTable, textTable } from '../../bench/report.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-bench-'));
let client: Client | undefined;
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const positive = (x: number) => Number.isFinite(x) && x > 0;

describe('bench harness (flip half, flip_tiny)', () => {
  it('measures every figure, finite and positive', async () => {
    client = await openClient({ target: 'cpu', devices: 1 });
    const plan = quickPlan();
    // flip's half alone, through the bench's own loop (no JAX side, no quiet gate, no time bound).
    const { flip: r } = await interleaved(plan, new FlipSide(client, plan, tmp, () => {}), null, { budget: Infinity, gate: null, log: () => {} });

    expect(r.platform.name).toBe('cpu');
    expect(positive(r.peak.flopsPerSecond)).toBe(true);
    expect(r.peak.seconds).toHaveLength(plan.peak.reps);

    // The f32 steps at every mask, then the bf16 (model.dtype) ones at the plan's bf16 masks.
    expect(r.steps.map((s) => [s.maskRatio, s.dtype])).toEqual([[0, 'float32'], [0.5, 'float32'], [0.75, 'float32'], [0.5, 'bfloat16']]);
    for (const s of r.steps) {
      expect(s.stepSeconds).toHaveLength(2);
      expect(s.stepSeconds.every(positive)).toBe(true);
      expect(s.cpuSeconds).toHaveLength(2);
      expect(positive(s.medianStepSeconds) && positive(s.compileSeconds)).toBe(true);
      expect(s.losses).toHaveLength(3);
      expect(s.losses.every(Number.isFinite)).toBe(true);
      // The formula counts what the traced step computes, dot for dot.
      expect(s.modelFlops).toBe(s.irDotFlops);
      expect(s.hlo.dots).toBeGreaterThan(0);
      expect(s.hlo.f64).toBe(0);
    }
    // Masking shrinks the image tower's work.
    expect(r.steps[2]!.modelFlops).toBeLessThan(r.steps[1]!.modelFlops);
    expect(r.steps[1]!.modelFlops).toBeLessThan(r.steps[0]!.modelFlops);

    // The compile figure, unrolled and with scanned layers: the scanned program is the smaller one for XLA.
    expect(r.compile.map((c) => c.name)).toEqual(['flip_tiny', 'flip_tiny_scan']);
    for (const c of r.compile) {
      for (const k of ['traceSeconds', 'lowerSeconds', 'compileSeconds', 'totalSeconds', 'stablehloChars', 'irOps'] as const) expect(positive(c[k]), `${c.name} ${k}`).toBe(true);
      expect(c.totalSeconds).toBeGreaterThanOrEqual(c.traceSeconds + c.lowerSeconds + c.compileSeconds - 1e-6);
    }
    expect(r.compile[1]!.irOps).toBeLessThan(r.compile[0]!.irOps);
    // The second compile went through the persistent compilation cache: loaded, not compiled.
    expect(r.cachedCompile).toMatchObject({ name: 'flip_tiny', loaded: true });
    expect(positive(r.cachedCompile!.firstSeconds) && positive(r.cachedCompile!.cachedSeconds)).toBe(true);

    expect(positive(r.pipeline.imagesPerSecond)).toBe(true);
    expect(r.pipeline.images).toBe(plan.pipeline.batches * plan.steps.batchSize);

    const rows = figures(plan, r, null);
    const ids = rows.map((x) => x.id);
    for (const id of [
      'step.mask0', 'step.mask0.5', 'step.mask0.75', 'cpu.mask0', 'cpu.mask0.5', 'cpu.mask0.75', 'speedup.mask0.5', 'speedup.mask0.75', 'compile.flip_tiny', 'compile.flip_tiny.trace',
      'compile.flip_tiny.lower', 'compile.flip_tiny.xla', 'compile.flip_tiny_scan', 'compile.flip_tiny_scan.xla', 'pipeline', 'consumed.mask0', 'consumed.mask0.5', 'consumed.mask0.75',
      'pipeline.headroom', 'peak', 'mfu.mask0', 'mfu.mask0.5', 'mfu.mask0.75', 'compile.cached.flip_tiny', 'step.bf16.mask0.5',
    ]) expect(ids).toContain(id);
    // bf16 steps have their own rows only: one train-step row per f32 mask.
    expect(ids.filter((id) => id.startsWith('step.mask'))).toHaveLength(3);
    expect(rows.find((x) => x.id === 'step.bf16.mask0.5')!.note).toMatch(/^÷ f32 step \d+\.\d+x$/);
    // The masking row says what MFU the paper's ratio takes: mask 0's MFU (the MFU row) × FLOPs ratio ÷ paper ratio.
    const need = /^paper 0\.50x; model FLOPs (\d\.\d\d)x; 0\.50x needs flip at MFU (\d+)% \(mask 0: (\d+)%\)$/
      .exec(rows.find((x) => x.id === 'speedup.mask0.5')!.note ?? '');
    expect(need).not.toBeNull();
    const mfu0 = rows.find((x) => x.id === 'mfu.mask0')!.flip!;
    expect(Number(need![3])).toBe(Math.round(mfu0));
    expect(Math.abs(Number(need![2]) - (mfu0 * Number(need![1])) / 0.5)).toBeLessThanOrEqual(0.5 + mfu0 * 0.01);
    expect(rows.find((x) => x.id === 'compile.cached.flip_tiny')!.note).toMatch(/XLA skipped/);
    // The scanned-layers compile is its own row, named as such (JAX's column would be the unrolled model's).
    expect(rows.find((x) => x.id === 'compile.flip_tiny_scan')!.figure).toMatch(/flip_tiny, layers scanned \(transformer\.scanLayers; JAX unrolled\)/);
    for (const row of rows) {
      expect(positive(row.flip!), row.id).toBe(true);
      expect(row.jax).toBeNull();
      expect(row.ratio).toBeNull();
    }
    expect(textTable(rows).split('\n')).toHaveLength(rows.length + 2);
    expect(markdownTable(rows).split('\n')).toHaveLength(rows.length + 2);
  }, 300_000); // 9 compiles of flip_tiny (4 steps, the compile figure unrolled and scanned, the cached compile's two, init): minutes on a loaded VM

  it('summarizes optimized HLO text by opcode', () => {
    const hlo = [
      'HloModule m, entry_computation_layout={(f32[2,2]{1,0})->f32[2,2]{1,0}}',
      '',
      'fused_computation {',
      '  p0 = f32[2,2]{1,0} parameter(0)',
      '  ROOT t = f32[2,2]{1,0} transpose(p0), dimensions={1,0}',
      '}',
      '',
      'ENTRY main {',
      '  a = f32[2,2]{1,0} parameter(0)',
      '  d = f32[2,2]{1,0} dot(a, a), lhs_contracting_dims={1}, rhs_contracting_dims={0}',
      '  w = f64[2,2]{1,0} convert(d)',
      '  ROOT f = f32[2,2]{1,0} fusion(d), kind=kLoop, calls=fused_computation',
      '}',
    ].join('\n');
    expect(summarizeHlo(hlo)).toMatchObject({ instructions: 6, entryInstructions: 4, fusions: 1, dots: 1, transposes: 1, f64: 1 });
  });
});
