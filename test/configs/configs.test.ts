// configs/: default.ts is the official configs/default.py field by field; each official cfg_flip_*.py config changes
// from it what the official file changes; every config's sizes fit; a config whose sizes do not fit is one error
// naming the fields, from validateConfig and from the model itself (what `flip run` and `flipc compile` build).
import { describe, expect, it } from 'vitest';
import defaults from '../../configs/default.ts';
import base from '../../configs/flip_base.ts';
import huge from '../../configs/flip_huge14.ts';
import hugeL2B from '../../configs/flip_huge14_L2B_2x.ts';
import large from '../../configs/flip_large.ts';
import largeL2B from '../../configs/flip_large_L2B_2x.ts';
import small from '../../configs/flip_small.ts';
import tiny from '../../configs/flip_tiny.ts';
import { officialDefaults, override } from '../../configs/official.ts';
import syntheticCpu from '../../configs/synthetic_cpu.ts';
import type { FlipConfig } from '../../configs/types.ts';
import { configProblems, validateConfig } from '../../configs/validate.ts';
import { FlipError } from '../../compiler/ir/index.ts';
import { paramCount } from '../../dsl/nn/index.ts';
import { flipSpecs, initParamsInputs, lossAndGradsInputs } from '../../models/flip.ts';
import { configPaths } from '../../configs/overrides.ts';
import { DEFAULT_CONFIG, loadConfigModule } from '../../configs/load.ts';

/** The value at a dotted path. */
function at(tree: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], tree);
}

/** Leaf paths where two configs differ, with b's value. */
function diff(a: unknown, b: unknown, prefix = ''): Record<string, unknown> {
  const isRec = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (!isRec(a) || !isRec(b)) return JSON.stringify(a) === JSON.stringify(b) ? {} : { [prefix]: b };
  const out: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) Object.assign(out, diff(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  return out;
}

// facebookresearch/flip configs/default.py get_config() (the released repository), every field: its value there, and
// where it lives in a FlipConfig (null: no field here, the official value being flip's only behaviour; see default.ts).
const OFFICIAL_DEFAULT: [string, unknown, string | null][] = [
  ['eval_dataset', 'imagenet2012:5.*.*', 'train.data.evalDataset'],
  ['laion_path', '', 'train.data.laionPath'],
  ['learning_rate', 4e-6, 'train.learningRate'],
  ['warmup_epochs', 40.0, 'train.warmupEpochs'],
  ['min_abs_lr', 0.0, 'train.minAbsLr'],
  ['warmup_abs_lr', 0.0, 'train.warmupAbsLr'],
  ['num_epochs', 10000.0, 'train.numEpochs'],
  ['log_every_steps', 200, 'train.logEverySteps'],
  ['save_every_epochs', 100, 'train.saveEveryEpochs'],
  ['batch_size', 65536, 'train.batchSize'],
  ['cache', true, null],
  ['opt_type', 'adamw', 'train.optimizer.type'],
  ['opt.b1', 0.9, 'train.optimizer.b1'],
  ['opt.b2', 0.95, 'train.optimizer.b2'],
  ['opt.weight_decay', 0.2, 'train.optimizer.weightDecay'],
  ['opt_mu_dtype', 'f32', 'train.optimizer.muDtype'], // "float32"
  ['exclude_wd', true, 'train.optimizer.excludeWd'],
  ['opt.flatten_params', false, 'train.optimizer.flattenParams'],
  ['aug.area_range', [0.5, 1], 'train.aug.areaRange'],
  ['aug.aspect_ratio_range', [3 / 4, 4 / 3], 'train.aug.aspectRatioRange'],
  ['aug.crop_ver', 'v4', 'train.aug.cropVer'],
  ['aug.eval_pad', 0, 'train.aug.evalPad'],
  ['aug.flip', true, 'train.aug.flip'],
  ['aug.txt.tokenizer', 'tf_bert', 'train.aug.txt.tokenizer'],
  ['aug.txt.max_len', 32, 'model.txt.maxLen'],
  ['aug.txt.cls_token', false, 'train.aug.txt.clsToken'],
  ['resume_dir', '', 'train.resumeDir'],
  ['vis_every_epochs', 20.0, 'train.visEveryEpochs'],
  ['pretrain_dir', '', 'train.pretrainDir'],
  ['seed_jax', 0, 'train.seed'],
  ['seed_tf', 0, null],
  ['seed_pt', 0, null],
  ['partitioning.num_partitions', 1, 'partitioning.numPartitions'],
  ['partitioning.partition_states', false, 'partitioning.partitionStates'],
  ['image_size', 224, 'model.img.imageSize'],
  ['samples_per_epoch', 1281167, 'train.samplesPerEpoch'],
  ['eval_only', false, 'train.evalOnly'],
  ['model.model_img.mask_ratio', 0.5, 'model.img.maskRatio'],
  ['model.model_img.sincos', true, null],
  ['model.model_img.name', 'img_encoder', null],
  ['model.model_img.patches.size', [16, 16], 'model.img.patchSize'],
  ['model.model_img.hidden_size', 1024, 'model.img.hiddenSize'],
  ['model.model_img.transformer.mlp_dim', 4096, 'model.img.transformer.mlpDim'],
  ['model.model_img.transformer.num_heads', 16, 'model.img.transformer.numHeads'],
  ['model.model_img.transformer.num_layers', 24, 'model.img.transformer.numLayers'],
  ['model.model_img.transformer.attention_dropout_rate', 0.0, 'model.img.transformer.attentionDropoutRate'],
  ['model.model_img.transformer.dropout_rate', 0.0, 'model.img.transformer.dropoutRate'],
  ['model.model_img.transformer.droppath_rate', 0.0, 'model.img.transformer.droppathRate'],
  ['model.model_img.transformer.remat_policy', 'none', 'model.img.transformer.remat'],
  ['model.model_txt.mask_ratio', 0.0, null],
  ['model.model_txt.sincos', false, null],
  ['model.model_txt.name', 'txt_encoder', null],
  ['model.model_txt.vocab_size', 30523, 'model.txt.vocabSize'],
  ['model.model_txt.hidden_size', 768, 'model.txt.hiddenSize'],
  ['model.model_txt.transformer.mlp_dim', 3072, 'model.txt.transformer.mlpDim'],
  ['model.model_txt.transformer.num_heads', 12, 'model.txt.transformer.numHeads'],
  ['model.model_txt.transformer.num_layers', 12, 'model.txt.transformer.numLayers'],
  ['model.model_txt.transformer.attention_dropout_rate', 0.0, 'model.txt.transformer.attentionDropoutRate'],
  ['model.model_txt.transformer.dropout_rate', 0.0, 'model.txt.transformer.dropoutRate'],
  ['model.model_txt.transformer.droppath_rate', 0.0, 'model.txt.transformer.droppathRate'],
  ['model.clr.tau', 0.01, 'model.clr.tau'],
  ['model.clr.tau_learnable', true, 'model.clr.tauLearnable'],
  ['model.clr.proj_dim_out', 768, 'model.clr.projDimOut'],
  ['model.clr.proj_out_bias', false, 'model.clr.projOutBias'],
  ['model.clr.clr_loss', true, null],
  ['model.clr.img_avg_token', true, 'model.clr.imgAvgToken'],
  ['model.clr.txt_avg_token', false, 'model.clr.txtAvgToken'],
];

describe('configs/default.ts', () => {
  it('is configs/default.py: every official field with its value', () => {
    for (const [name, value, ours] of OFFICIAL_DEFAULT) if (ours) expect(at(defaults, ours), `${name} → ${ours}`).toEqual(value);
    expect(defaults).toEqual(officialDefaults());
  });

  it('has no other fields than those, but for what the official code fixes elsewhere, at its values', () => {
    const mapped = new Set(OFFICIAL_DEFAULT.flatMap(([, , ours]) => (ours ? [ours] : [])));
    const extra = Object.fromEntries(configPaths(defaults).filter((p) => !mapped.has(p)).map((p) => [p, at(defaults, p)]));
    expect(extra).toEqual({
      name: 'flip_default',
      'model.img.channels': 3, // RGB (the input pipeline's)
      'model.txt.transformer.remat': 'none', // the text tower has no remat_policy
      'model.txt.maskPadding': false, // ours: off is the official text encoder
      'model.img.transformer.scanLayers': false, // ours: the blocks as one loop, off (the official code unrolls them)
      'model.txt.transformer.scanLayers': false,
      'model.rngPartitionable': false, // ours: the classic threefry bits the official runs drew (JAX < 0.5's default)
      'model.dtype': 'float32', // the official modules' dtype field at its default (main.py builds FLIP without one)
      'train.lrSchedule': 'warmup_cosine', // the official schedule (the only one of the FLIP trainer)
    });
  });

  it('is not what `flip run` trains without --config: that is configs/synthetic_cpu.ts', async () => {
    expect(DEFAULT_CONFIG).toMatch(/configs\/synthetic_cpu\.ts$/);
    expect(await loadConfigModule()).toEqual(syntheticCpu);
    expect(syntheticCpu.name).toBe('flip_default_cpu');
    expect(syntheticCpu.model.img.imageSize).toBe(64);
  });
});

describe('the official FLIP configs change what cfg_flip_*.py change', () => {
  // What each official file sets that differs from default.py (its no-op settings, e.g. mask_ratio = 0.5, left out).
  const huge14Model = {
    'model.img.patchSize': [14, 14], 'model.img.hiddenSize': 1280, 'model.img.transformer.mlpDim': 5120, 'model.img.transformer.numLayers': 32,
    'model.txt.hiddenSize': 1024, 'model.txt.transformer.mlpDim': 4096, 'model.txt.transformer.numHeads': 16, 'model.txt.transformer.numLayers': 24,
    'model.clr.projDimOut': 1024,
  };
  const cases: [string, FlipConfig, Record<string, unknown>][] = [
    ['flip_base', base, {
      'model.img.hiddenSize': 768, 'model.img.transformer.mlpDim': 3072, 'model.img.transformer.numHeads': 12, 'model.img.transformer.numLayers': 12,
      'model.txt.hiddenSize': 512, 'model.txt.transformer.mlpDim': 2048, 'model.txt.transformer.numHeads': 8, 'model.clr.projDimOut': 512,
    }],
    ['flip_large', large, { 'partitioning.partitionStates': true }],
    ['flip_huge14', huge, { ...huge14Model, 'train.warmupEpochs': 200, 'partitioning.partitionStates': true, 'train.optimizer.flattenParams': true }],
    ['flip_large_L2B_2x', largeL2B, { 'train.numEpochs': 20000, 'train.learningRate': 2e-6, 'partitioning.partitionStates': true }],
    ['flip_huge14_L2B_2x', hugeL2B, {
      ...huge14Model, 'train.numEpochs': 20000, 'train.warmupEpochs': 200, 'train.learningRate': 2e-6,
      'partitioning.partitionStates': true, 'train.optimizer.flattenParams': true,
    }],
  ];
  for (const [name, cfg, changes] of cases) {
    it(`${name}`, () => {
      expect(diff(defaults, cfg)).toEqual({ name, ...changes });
    });
  }

  it('the L2B 2x models are the LAION-400M ones (ViT-L/16 413.2M, ViT-H/14 966.7M parameters)', () => {
    expect(paramCount(flipSpecs(largeL2B.model))).toBe(paramCount(flipSpecs(large.model)));
    expect(paramCount(flipSpecs(hugeL2B.model))).toBe(paramCount(flipSpecs(huge.model)));
    expect(paramCount(flipSpecs(hugeL2B.model))).toBe(966723841); // test/golden/model: the Flax reference's count
  });
});

describe('validateConfig', () => {
  const all = { defaults, syntheticCpu, tiny, small, base, large, huge, largeL2B, hugeL2B };
  it('passes every config in configs/', () => {
    for (const [name, cfg] of Object.entries(all)) expect(configProblems(cfg), name).toEqual([]);
  });

  const heads3 = override(base, { model: { img: { hiddenSize: 100, transformer: { numHeads: 3 } } } });
  const both = override(heads3, { model: { img: { imageSize: 100 } } });

  it('names the fields whose sizes do not fit, all of them in one FlipError', () => {
    expect(() => validateConfig(heads3)).toThrow(FlipError);
    expect(() => validateConfig(heads3)).toThrow(
      /^config 'flip_base': model\.img\.hiddenSize 100 is not divisible by model\.img\.transformer\.numHeads 3$/,
    );
    expect(configProblems(both)).toEqual([
      'model.img.hiddenSize 100 is not divisible by model.img.transformer.numHeads 3',
      'model.img.imageSize 100 is not divisible by model.img.patchSize 16x16',
    ]);
    expect(configProblems(override(tiny, { model: { txt: { hiddenSize: 30, maxLen: 0, transformer: { numHeads: 4 } }, img: { hiddenSize: 30, transformer: { numHeads: 3 } } } }))).toEqual([
      'model.img.hiddenSize 30 is not a multiple of 4 (the 2-D sin-cos position embedding splits it into four)',
      'model.txt.hiddenSize 30 is not divisible by model.txt.transformer.numHeads 4',
      'model.txt.maxLen must be a positive integer, got 0',
    ]);
    expect(configProblems(override(tiny, { model: { img: { patchSize: [8, 0] } }, partitioning: { numPartitions: 0 } }))).toEqual([
      'model.img.patchSize[1] must be a positive integer, got 0',
      'partitioning.numPartitions must be a positive integer, got 0',
    ]);
  });

  it('the model raises the same error wherever it is built: flip run (flipSpecs, init) and flipc compile (<entry>Inputs)', () => {
    const message = 'config: model.img.hiddenSize 100 is not divisible by model.img.transformer.numHeads 3; ' +
      'model.img.imageSize 100 is not divisible by model.img.patchSize 16x16';
    expect(() => flipSpecs(both.model)).toThrow(message);
    expect(() => lossAndGradsInputs(both)).toThrow(message);
    expect(() => initParamsInputs(both)).toThrow(message);
  });
});
