// The official FLIP defaults: facebookresearch/flip configs/default.py, every field with its value (the official
// cfg_flip_*.py start from it, as configs/flip_*.ts start from officialDefaults()). A ViT-L/16 image tower on 224×224
// images, 50% of the patches masked; a 12-layer 768-wide text tower on 32 BERT tokens; 768-d embeddings; AdamW (b1 0.9,
// b2 0.95, weight decay 0.2 except biases, norm scales and position embeddings) at 4e-6 per 256 samples × batch
// 65536, 40 warmup and 10000 virtual ImageNet epochs. Not what `flip run` trains by default (that is
// configs/synthetic_cpu.ts, which fits 2 CPU cores): this is the recipe the paper's configs change.
//
// Field names are default.py's in camelCase, grouped as configs/types.ts says (the trainer's under `train`; image_size is
// model.img.imageSize, aug.txt.max_len model.txt.maxLen); test/configs/configs.test.ts maps every default.py field to its
// place here and checks the value.
// Fields without a field here, because their official value is the only behaviour flip has:
//   model.model_img.sincos True, model.model_txt.sincos False (2-D sin-cos image positions, learned text positions);
//   model.model_txt.mask_ratio 0.0 (the text tower is never masked); model.clr.clr_loss True (the contrastive loss);
//   model.model_{img,txt}.name (the param tree's img_encoder / txt_encoder); cache True (tf.data caching), seed_tf,
//   seed_pt (the TF / PyTorch data seeds; train/data derives its order from train.seed).
// Fields here that default.py fixes elsewhere: model.img.channels 3 (RGB), model.txt.transformer.remat 'none' (its text
// tower has no remat_policy), train.lrSchedule 'warmup_cosine' (the trainer's only schedule); and ours,
// model.txt.maskPadding false (the official text encoder attends to padding), model.*.transformer.scanLayers false
// (the blocks unrolled, as the official code runs them).
import { officialDefaults } from './official.ts';
import type { FlipConfig } from './types.ts';

const config: FlipConfig = officialDefaults();

export default config;
