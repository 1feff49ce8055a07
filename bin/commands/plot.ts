// `flip plot`: argument parsing for the PNG of a run's loss and accuracy curves (the work is in train/plot.ts).
import { FlipError } from '../../compiler/ir/errors.ts';
import { plotRun } from '../../train/plot.ts';
import type { Command } from '../cli.ts';

const help = `usage: flip plot WORKDIR [-o out.png]

Reads WORKDIR/metrics.jsonl (written by flip run) and draws the training loss and the zero-shot accuracy
(top-1, top-5, chance) against the step into a PNG: WORKDIR/metrics.png unless -o says otherwise.

options:
  -o, --out <file>   where the PNG goes`;

const command: Command = {
  summary: "a PNG of a run's loss and zero-shot accuracy curves (from WORKDIR/metrics.jsonl)",
  help,
  options: { out: { type: 'string', short: 'o' } },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw new FlipError('expected one WORKDIR (flip plot --help)');
    const { file, curves } = await plotRun(positionals[0]!, values.out as string | undefined);
    const skipped = curves.skippedLines;
    if (skipped.length) {
      const shown = skipped.slice(0, 5).join(', ') + (skipped.length > 5 ? ', ...' : '');
      console.error(`flip plot: skipped ${skipped.length} line${skipped.length > 1 ? 's' : ''} of metrics.jsonl that ${skipped.length > 1 ? 'are' : 'is'} not a metrics record (line ${shown}; a run killed mid-write leaves one cut short)`);
    }
    const last = curves.top1.at(-1);
    console.log(`wrote ${file}: ${curves.loss.length} loss points${curves.top1.length ? `, ${curves.top1.length} evals (last top-1 ${(100 * last!.value).toFixed(1)}% at step ${last!.step})` : ''}`);
    return 0;
  },
};

export default command;
