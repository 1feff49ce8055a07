// `flip export`: argument parsing for writing a flip checkpoint in the official layout (the work is in
// train/t5x_checkpoint.ts).
import { FlipError } from '../../compiler/ir/errors.ts';
import { exportCheckpoint } from '../../train/t5x_checkpoint.ts';
import type { Command } from '../cli.ts';

const help = `usage: flip export CHECKPOINT --format t5x|safetensors OUT

Writes a flip checkpoint (a run folder: its newest checkpoint; its checkpoints/ folder; or a checkpoint_<step>.json)
with the official FLIP param names and shapes (q/k/v kernels [embed, heads*head_dim], cls [1, 1, embed], ...):

  --format t5x          OUT is a t5x model dir: writes OUT/checkpoint_<step>/ as t5x.checkpoints.Checkpointer does
                        (msgpack + zarr v2 arrays, gzip): params under target, the AdamW moments and the step under
                        state, so the official code continues the run (--config.resume_dir=OUT)
  --format safetensors  OUT is one .safetensors file: the same state dict, tensors named by their '/'-joined paths

Nothing existing is overwritten: an OUT/checkpoint_<step>/ or OUT file that exists is an error.

options:
  --format <f>   t5x or safetensors`;

const command: Command = {
  summary: 'write a flip checkpoint as a t5x checkpoint (or safetensors) with the official names and shapes',
  help,
  options: { format: { type: 'string' } },
  async run({ values, positionals }) {
    if (positionals.length !== 2) throw new FlipError('expected CHECKPOINT and OUT (flip export --help)');
    const format = values.format as string | undefined;
    if (format !== 't5x' && format !== 'safetensors') throw new FlipError(`--format must be t5x or safetensors, got ${format === undefined ? 'nothing' : `'${format}'`}`);
    const r = exportCheckpoint(positionals[0]!, format, positionals[1]!);
    console.log(`wrote ${r.written}: step ${r.step}, ${r.tensors} arrays (${format}, official names and shapes)`);
    return 0;
  },
};

export default command;
