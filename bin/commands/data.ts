// `flip data synth|bench`: argument parsing only; the work is in train/data.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import { writeSynthDataset } from '../../train/data/synth.ts';
import { measureThroughput } from '../../train/data/throughput.ts';
import { BERT_UNCASED_VOCAB } from '../../train/tokenizer/wordpiece.ts';
import type { Command } from '../cli.ts';

const HELP = `usage:
  flip data synth --out DIR --n N [--shards K] [--seed S] [--image-size 64] [--eval-n M]
      Writes a synthetic image-caption set: DIR/shard-00000.tar ... ({key}.jpg + {key}.txt),
      a held-out DIR/eval/shard-*.tar (with {key}.cls labels), DIR/classes.json (zero-shot
      classes and prompts) and DIR/vocab.txt (WordPiece vocab of the captions). DIR must be new, empty,
      or a set flip data synth wrote (listed in DIR/.flip-synth.json, replaced); files flip did not
      write are never deleted or replaced: such a folder is refused.
  flip data bench --data DIR [--vocab V] [--batch-size 256] [--image-size 64]
                  [--workers W] [--batches 20]
      Images per second read, decoded, augmented and tokenized into batches (no device). V defaults to
      DIR/vocab.txt, else the shipped BERT uncased vocabulary.`;

function int(v: unknown, name: string, dflt?: number): number {
  if (v === undefined) {
    if (dflt === undefined) throw new FlipError(`--${name} is required`);
    return dflt;
  }
  const n = Number(v);
  if (!Number.isInteger(n)) throw new FlipError(`--${name} must be an integer (got '${String(v)}')`);
  return n;
}

const command: Command = {
  summary: 'synthetic webdataset shards (synth), data pipeline throughput (bench)',
  help: HELP,
  options: {
    out: { type: 'string' },
    n: { type: 'string' },
    shards: { type: 'string' },
    seed: { type: 'string' },
    'image-size': { type: 'string' },
    'eval-n': { type: 'string' },
    data: { type: 'string' },
    vocab: { type: 'string' },
    'batch-size': { type: 'string' },
    workers: { type: 'string' },
    batches: { type: 'string' },
  },
  async run({ values: v, positionals }) {
    const sub = positionals[0];
    if (sub === 'synth') {
      if (typeof v.out !== 'string') throw new FlipError('--out DIR is required');
      const s = await writeSynthDataset({
        out: v.out,
        n: int(v.n, 'n'),
        shards: v.shards === undefined ? undefined : int(v.shards, 'shards'),
        seed: int(v.seed, 'seed', 0),
        imageSize: int(v['image-size'], 'image-size', 64),
        evalN: v['eval-n'] === undefined ? undefined : int(v['eval-n'], 'eval-n'),
      });
      console.log(
        `wrote ${s.n} samples in ${s.trainShards.length} shard(s) and ${s.evalN} eval samples to ${v.out} ` +
          `in ${s.seconds.toFixed(2)} s (${(s.n + s.evalN) / s.seconds | 0} images/s)\n` +
          `  classes: ${s.classesPath}\n  vocab:   ${s.vocabPath}`,
      );
      return 0;
    }
    if (sub === 'bench') {
      if (typeof v.data !== 'string') throw new FlipError('--data DIR is required');
      const r = await measureThroughput({
        data: v.data,
        vocab: typeof v.vocab === 'string' ? v.vocab : benchVocab(v.data),
        batchSize: int(v['batch-size'], 'batch-size', 256),
        imageSize: int(v['image-size'], 'image-size', 64),
        workers: v.workers === undefined ? undefined : int(v.workers, 'workers'),
        batches: int(v.batches, 'batches', 20),
      });
      console.log(
        `${r.imagesPerSecond.toFixed(0)} images/s (${r.images} images of ${r.imageSize}x${r.imageSize} in ${r.seconds.toFixed(2)} s; ` +
          `batch ${r.batchSize}, ${r.workers} worker(s), ${r.cpus} cpus${r.skipped ? `, ${r.skipped} skipped` : ''}); ` +
          `${r.cpuMsPerImage.toFixed(2)} CPU ms per image`,
      );
      return 0;
    }
    throw new FlipError(`unknown subcommand '${sub ?? ''}' (synth, bench)`);
  },
};

/** --vocab, else DIR/vocab.txt, else the shipped BERT uncased vocabulary (as flip run does), said in one line. */
function benchVocab(dir: string): string {
  const beside = join(dir, 'vocab.txt');
  if (existsSync(beside)) return beside;
  console.log(`no vocab.txt in ${dir}: tokenizing with the shipped BERT uncased vocabulary`);
  return BERT_UNCASED_VOCAB;
}

export default command;
