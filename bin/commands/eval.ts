// `flip eval`: argument parsing for the zero-shot eval of a checkpoint (the work is in train/run/, evalOnly).
import path from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import { resolveEvalConfig } from '../../configs/eval.ts';
import { configOptionsIn, overridesFrom } from '../../configs/overrides.ts';
import { TARGETS, type Target } from '../../runtime-native/index.ts';
import { readAnyCheckpointMeta } from '../../train/checkpoint.ts';
import { resolveTemplates } from '../../train/data/templates.ts';
import { runTraining } from '../../train/run/index.ts';
import type { Command } from '../cli.ts';

const help = `usage: flip eval [CHECKPOINT | --checkpoint CHECKPOINT] [--config configs/x.ts] [--config.<field>=<value> ...]
                 [--eval-data DIR] [--templates clip|clip-small|simple|FILE] [--target cpu|gpu|tpu] [--workdir DIR]

Loads a checkpoint's params and evaluates them zero-shot: class prompts embedded by the text tower and averaged per
class, the eval images embedded without masking, top-1 and top-5 printed next to chance. Nothing is written (a
synthetic run's data is read from its folder, and generated there if it is missing).

CHECKPOINT is a run folder (its newest checkpoint), its checkpoints/ folder, or a checkpoint_<step>.json, or a t5x
checkpoint (the official format and the released FLIP weights: a checkpoint_<step>/ folder or its parent, the newest
step; give its model with --config, e.g. configs/flip_large.ts, as a t5x checkpoint carries no config); it can also
be given as --config.train.resumeDir=DIR (the official --config.resume_dir, with --config.eval_only=true). Without
--config the model config is the one saved in the checkpoint.

The eval set is config.train.data.evalDataset (a synthetic run: its own held-out split):
  - an image folder: DIR/<class name>/*.jpg (png, webp too); classes are the sorted folder names ('_' read as a
    space); an optional DIR/classes.json gives other names ({"classes": [...]} in folder order, or {"classes":
    {"folder": "name"}}) and "templates"; without them the prompts are CLIP's 80 ImageNet templates;
  - labelled shards: DIR/eval/*.tar (or DIR/*.tar) of {key}.jpg + {key}.cls, with DIR/classes.json (classes,
    templates), as flip data synth writes them.

options:
  --checkpoint <path>        the checkpoint (or give it as the one positional argument)
  --config <file>            the model config (default: the checkpoint's own)
  --config.<field>=<value>   override a field (flip run --help)
  --eval-data <dir>          the eval set (= --config.train.data.evalDataset=<dir>)
  --templates <t>            prompt templates: clip (CLIP's 80 ImageNet templates), clip-small (7 of them), simple
                             ("a photo of a {}."), or a file (one template per line with {} for the class, or a
                             JSON list); default: the eval set's own
  --target <t>               cpu (default), gpu or tpu
  --plugin <path>            a PJRT plugin .so instead of the target's installed one
  --workdir <dir>            where a synthetic run's data is (default: the checkpoint's run folder)
  --workers <n>              data decode threads (default: cpus - 1)
  --fast-compile             compile at XLA's lowest backend optimization level`;

const command: Command = {
  summary: "evaluate a checkpoint zero-shot (top-1 / top-5 next to chance) on an image folder or labelled shards",
  help,
  options: {
    checkpoint: { type: 'string' },
    config: { type: 'string' },
    'eval-data': { type: 'string' },
    templates: { type: 'string' },
    target: { type: 'string' },
    plugin: { type: 'string' },
    workdir: { type: 'string' },
    workers: { type: 'string' },
    'fast-compile': { type: 'boolean' },
    ...configOptionsIn(process.argv.slice(2)),
  },
  async run({ values, positionals }) {
    if (positionals.length > 1 || (positionals.length && values.checkpoint)) throw new FlipError(`one checkpoint, please (got ${[values.checkpoint, ...positionals].filter(Boolean).join(', ')})`);
    const target = (values.target as string | undefined) ?? 'cpu';
    if (!(TARGETS as readonly string[]).includes(target)) throw new FlipError(`--target must be one of ${TARGETS.join(', ')}, got '${target}'`);
    const workers = values.workers === undefined ? undefined : Number(values.workers);
    if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) throw new FlipError(`--workers must be an integer >= 0, got '${String(values.workers)}'`);
    const overrides = overridesFrom(values);
    if (values['eval-data'] !== undefined) overrides['train.data.evalDataset'] = path.resolve(String(values['eval-data']));
    const templates = values.templates === undefined ? undefined : resolveTemplates(String(values.templates));
    const checkpoint = (values.checkpoint as string | undefined) ?? positionals[0];
    const e = await resolveEvalConfig({
      overrides,
      ...(values.config ? { configFile: values.config as string } : {}),
      ...(checkpoint ? { checkpoint } : {}),
    }, readAnyCheckpointMeta);
    console.log(`config: ${e.source}`);
    await runTraining({
      config: e.config, workdir: path.resolve((values.workdir as string | undefined) ?? e.runDir), target: target as Target, fastCompile: values['fast-compile'] === true,
      ...(templates ? { templates } : {}),
      ...(values.plugin ? { plugin: values.plugin as string } : {}),
      ...(workers !== undefined ? { workers } : {}),
    });
    return 0;
  },
};

export default command;
