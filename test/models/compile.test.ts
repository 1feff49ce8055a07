// models/flip.ts as the compiler sees it: `flipc compile` of its entries, and the image tower's matmul FLOPs under
// masking (FLIP's point: encoding half or a quarter of the patches costs about half or a quarter).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, lowerEntry } from '../../compiler/load/index.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { FlipError, dotFlops, type Func, type PrimAttrs } from '../../compiler/ir/index.ts';
import { flatten, spec, traceFunc } from '../../dsl/index.ts';
import { isParamSpec } from '../../dsl/nn/index.ts';
import base from '../../configs/flip_base.ts';
import tiny from '../../configs/flip_tiny.ts';
import { override } from '../../configs/official.ts';
import type { VisionConfig } from '../../configs/types.ts';
import {
  VisionTransformer, batchSpecs, flipSpecs, forward, forwardInputs, trainLoss, trainLossInputs, lossAndGradsInputs,
} from '../../models/flip.ts';
import type { Key } from '../../dsl/random.ts';

function flipc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin', 'flipc.js'), ...args], { cwd: REPO_ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The arguments of `func.func public @main(...)`. */
function mainArgs(mlir: string): string[] {
  const m = /func\.func public @main\(([\s\S]*?)\)\s*->/.exec(mlir);
  if (!m) throw new Error('no @main in the module');
  return m[1]!.match(/%arg\d+/g) ?? [];
}

const tinyParams = flatten(flipSpecs(tiny.model), { isLeaf: isParamSpec }).leaves.length;

// Both subprocesses start at once (each type-checks and traces for a few seconds).
const runs = {
  trainLoss: flipc('compile', 'models/flip.ts', '--entry', 'trainLoss', '--config', 'configs/flip_tiny.ts'),
  forward: flipc('compile', 'models/flip.ts', '--entry', 'forward', '--config', 'configs/flip_tiny.ts'),
};

describe('flipc compile models/flip.ts', () => {
  it('--entry trainLoss --config configs/flip_tiny.ts: one argument per param leaf, batch tensor and the key; the argsort for masking', async () => {
    const r = await runs.trainLoss;
    expect(r.code, r.stderr).toBe(0);
    expect(tinyParams).toBe(77);
    expect(mainArgs(r.stdout)).toHaveLength(tinyParams + 3 + 1); // params, {image, txt, txtIsValid}, rng
    // ids_shuffle = argsort(noise); ids_restore = argsort(ids_shuffle) and the mask made from it feed no loss term, so
    // the simplified module (what flip run compiles, and flipc prints) drops that second sort.
    expect(r.stdout.match(/stablehlo\.sort/g)).toHaveLength(1);
    expect(r.stdout).toMatch(/loc\("models\/flip\.ts":\d+:\d+\)/);
  });

  it('forward (eval mode) draws no mask: no sort, no key argument', async () => {
    const fwd = await runs.forward;
    expect(fwd.code, fwd.stderr).toBe(0);
    expect(mainArgs(fwd.stdout)).toHaveLength(tinyParams + 3);
    expect(fwd.stdout).not.toMatch(/stablehlo\.sort/);
  });

  it('a config whose sizes do not fit (--config.<field> overrides): one FlipError naming the fields, before tracing', async () => {
    // The command in this process (the type-checker is shared with the other in-process loads); bin/cli.ts prints a
    // FlipError as one line and exits 2.
    const { default: command } = await import('../../bin/commands/compile.ts');
    const run = command.run({
      positionals: ['models/flip.ts'],
      values: {
        entry: 'lossAndGrads', config: 'configs/flip_tiny.ts', stage: 'stablehlo', target: 'cpu',
        'config.model.img.transformer.numHeads': '3', 'config.model.img.imageSize': '36',
      },
    });
    await expect(run).rejects.toThrow(FlipError);
    await expect(run).rejects.toThrow(
      /^config: model\.img\.hiddenSize 32 is not divisible by model\.img\.transformer\.numHeads 3; model\.img\.imageSize 36 is not divisible by model\.img\.patchSize 8x8$/,
    );
  });

  it('without --config the input declarations say which flag to pass', () => {
    expect(() => forwardInputs(undefined)).toThrow(/--config configs\/flip_tiny\.ts/);
    expect(Object.keys(trainLossInputs(tiny))).toEqual(['params', 'batch', 'rng', 'model']);
  });
});

// ---- FLOPs ----------------------------------------------------------------------------------------------------------


/** The image tower's dot FLOPs by formula: patch embedding over all L patches, then T = 1 + kept tokens per layer. */
function towerFlops(cfg: VisionConfig, n: number): number {
  const [p, q] = cfg.patchSize;
  const L = (cfg.imageSize / p) * (cfg.imageSize / q);
  const T = 1 + Math.trunc(L * (1 - cfg.maskRatio));
  const D = cfg.hiddenSize, M = cfg.transformer.mlpDim;
  const perLayer = 2 * n * T * (4 * D * D + 2 * D * M) + 4 * n * T * T * D; // q/k/v/out + MLP; q·k and weights·v
  return 2 * n * L * p * q * cfg.channels * D + cfg.transformer.numLayers * perLayer;
}

describe('masking FLOPs of the image tower (from the traced IR)', () => {
  it('ViT-B/16 at mask 0.5 / 0.75 does ~0.5x / ~0.25x the matmul FLOPs of mask 0', () => {
    const n = 2;
    const flopsAt = (maskRatio: number) => {
      const cfg = override(base.model.img, { maskRatio });
      const tower = new VisionTransformer(cfg);
      const images = spec('f32', { batch: n, height: cfg.imageSize, width: cfg.imageSize, channels: cfg.channels });
      const traced = traceFunc((p: unknown, x: never, rng: Key) => tower.apply(p as never, x, { train: true, rng }).tokens,
        [tower.specs(), images, spec('u32', { key: 2 })]);
      const flops = dotFlops(traced.func);
      expect(flops, `mask ${maskRatio}`).toBe(towerFlops(cfg, n));
      return flops;
    };
    const full = flopsAt(0), half = flopsAt(0.5), quarter = flopsAt(0.75);
    expect(half / full).toBeGreaterThan(0.47);
    expect(half / full).toBeLessThan(0.53);
    expect(quarter / full).toBeGreaterThan(0.22);
    expect(quarter / full).toBeLessThan(0.28);
  });

  it('the whole train step of flip_tiny traces with masking in training only', () => {
    const m = tiny.model;
    const args = [flipSpecs(m), batchSpecs(m, 4)] as const;
    const train = traceFunc((p: never, b: never, r: Key) => trainLoss(p, b, r, m), [...args, spec('u32', { key: 2 })]);
    const evalF = traceFunc((p: never, b: never) => forward(p, b, m), [...args]);
    expect(train.func.ops.filter((o) => o.prim === 'sort')).toHaveLength(2);
    expect(evalF.func.ops.filter((o) => o.prim === 'sort')).toHaveLength(0);
    // 16 patches at mask 0.5: the image encoder runs on 1 + 8 tokens in training, 1 + 16 in eval.
    const lengths = (f: Func) => new Set(f.ops.filter((o) => o.prim === 'dot_general').map((o) => o.results[0]!.type.shape.join('x')));
    expect([...lengths(train.func)].some((s) => s.startsWith('4x9x'))).toBe(true);
    expect([...lengths(evalF.func)].some((s) => s.startsWith('4x9x'))).toBe(false);
  });
});

// ---- lossAndGrads of flip_base: the image tower encodes 1 + ⌊196·(1 − r)⌋ tokens ------------------------------------------------

/** Each dot_general's operand and result shapes, keyed by the source line (of `file`) its loc names. */
function dotShapesByLine(mlir: string, file: string): Map<number, number[][][]> {
  const aliases = new Map<string, string>();
  for (const m of mlir.matchAll(/^(#loc\d+) = (loc\(.*\))$/gm)) aliases.set(m[1]!, m[2]!);
  const shape = (t: string) => t.replace(/^tensor<|>$/g, '').split('x').slice(0, -1).map(Number); // drop the dtype
  const out = new Map<number, number[][][]>();
  for (const m of mlir.matchAll(/stablehlo\.dot_general .*: \((tensor<[^>]*>), (tensor<[^>]*>)\) -> (tensor<[^>]*>) loc\((.*)\)$/gm)) {
    const loc = aliases.get(m[4]!) ?? `loc(${m[4]!})`;
    const at = new RegExp(`^loc\\("${file.replace(/[.]/g, '\\.')}":(\\d+):\\d+\\)$`).exec(loc);
    if (!at) continue;
    const line = Number(at[1]);
    out.set(line, [...(out.get(line) ?? []), [shape(m[1]!), shape(m[2]!), shape(m[3]!)]]);
  }
  return out;
}

/** The 1-based line of the first line of `file` containing `text`. */
function lineOf(file: string, text: string): number {
  const i = readFileSync(path.join(REPO_ROOT, file), 'utf8').split('\n').findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`${file} has no line with '${text}'`);
  return i + 1;
}

describe('flipc compile models/flip.ts --entry lossAndGrads --config configs/flip_base.ts', () => {
  // What flipc compile prints, lowered in this process: the loader (type-check, lossAndGradsInputs(config)), then
  // compiler/lower. Mask 0 through the loader's config hook, as `--config.model.img.maskRatio=0` on the command line.
  const stepAt = async (overrides: Record<string, string>) => {
    const configure = Object.keys(overrides).length ? (c: unknown) => applyOverrides(c, overrides, officialAliases) : undefined;
    const small = (c: unknown) => applyOverrides(c, { 'train.batchSize': String(n) }, officialAliases);
    return (await lowerEntry('models/flip.ts', { entry: 'lossAndGrads', config: 'configs/flip_base.ts', configure: (c) => small(configure ? configure(c) : c) })).program.mlir;
  };
  // The image encoder's call site (the first encoder.apply in the file: VisionTransformer's) and the patch embedding's.
  const encoderLine = lineOf('models/flip.ts', 'this.encoder.apply(');
  const patchLine = lineOf('models/flip.ts', 'this.patchEmbed.apply(');
  const { hiddenSize: D, transformer: t } = base.model.img;
  const n = 2; // --config.train.batchSize=2: a small step (the official batch is 65536)

  /** The token counts among the image encoder's dot_general activations (every size that is not batch, heads, kv, width, mlp). */
  const imageTokens = (mlir: string) => {
    const dots = dotShapesByLine(mlir, 'models/flip.ts');
    const enc = dots.get(encoderLine) ?? [];
    // Per layer 8 matmuls forward (q, k, v, q·k, weights·v, out, MLP in, MLP out) and two each backward.
    expect(enc.length).toBe(t.numLayers * 8 * 3);
    const acts = enc.flatMap((shapes) => shapes.filter((s) => s[0] === n));
    const other = new Set([D, t.numHeads, D / t.numHeads, t.mlpDim]);
    const tokens = new Set(acts.flatMap((s) => s.slice(1).filter((d) => !other.has(d))));
    expect(enc.every((shapes) => shapes.some((s) => s[0] === n && s.includes([...tokens][0]!)))).toBe(true); // each dot sees them
    return { tokens: [...tokens], patchEmbed: (dots.get(patchLine) ?? []).map((s) => s[2]!.join('x')) };
  };

  it('mask 0.5 (the config): the image tower\'s dot_generals have 98 + 1 tokens; the patch embedding all 196', async () => {
    expect(base.model.img.maskRatio).toBe(0.5);
    const mlir = await stepAt({});
    expect(mlir).toMatch(/^module @lossAndGrads /m);
    expect(mlir).toMatch(/stablehlo\.sort/); // argsort of the noise (ids_restore's is dead code here: no output reads the mask)
    const { tokens, patchEmbed } = imageTokens(mlir);
    expect(tokens).toEqual([98 + 1]);
    expect(patchEmbed).toContain(`${n}x196x${D}`);
  });

  it('mask 0 (--config.model.img.maskRatio=0): 196 + 1 tokens, no masking sort', async () => {
    const mlir = await stepAt({ 'model.img.maskRatio': '0' });
    expect(mlir).not.toMatch(/stablehlo\.sort/);
    expect(imageTokens(mlir).tokens).toEqual([196 + 1]);
  });

  it('lossAndGradsInputs: the config\'s params, a batch of the config\'s train.batchSize, the key and the model config', () => {
    const inputs = lossAndGradsInputs(base);
    expect(Object.keys(inputs)).toEqual(['params', 'batch', 'rng', 'model']);
    expect(inputs.batch.image.shape).toEqual([65536, 224, 224, 3]);
    expect(inputs.batch.txt.shape).toEqual([65536, 32]);
    const small = lossAndGradsInputs({ ...base, train: { ...base.train, batchSize: 8 } });
    expect(small.batch.image.shape).toEqual([8, 224, 224, 3]);
  });
});
