// `flipc run`: argument parsing for running a StableHLO .mlir file on a PJRT plugin (logic in programs/run_mlir.ts).
import { readFileSync } from 'node:fs';
import type { Command } from '../cli.ts';
import { FlipError } from '../../compiler/ir/errors.ts';
import { TARGETS, type Target } from '../../runtime-native/index.ts';
import { runMlir } from '../../programs/run_mlir.ts';
import { readSafetensors, writeSafetensors, type TensorData } from '../../io/safetensors.ts';

const help = `usage: flipc run <file.mlir> (--inputs in.safetensors | --random-inputs [--seed N]) [--target cpu|gpu|tpu] [-o out.safetensors] [--one-device]

Compiles the module's public @main on a PJRT plugin and runs it once. Inputs come from a safetensors
file (tensors input.0, input.1, ... in parameter order, of the declared dtypes and shapes); an input
the file lacks is an error. --random-inputs makes random ones of the declared types instead (seeded
by --seed, default 0), or, with --inputs, fills only the ones the file lacks. One of the two is
required. Outputs (output.0, ...) go to -o as safetensors, and a one-line summary of each to stdout.

A module with mhlo.num_partitions = N runs SPMD on N devices (N CPU devices on the cpu target): each
input is split by @main's mhlo.sharding / sdy.sharding annotation, and each output is put back
together from its shards. --one-device runs it whole on one device instead, its shardings ignored.

options:
  --inputs <file>    safetensors with input.0 .. input.N-1 (other tensors named output.* are ignored)
  --target <t>       cpu (default), gpu or tpu: which installed plugin to use
  --plugin <path>    a PJRT plugin .so to use instead of the target's installed one
  -o, --out <file>   write the outputs there (atomically)
  --random-inputs    random inputs of the declared types for every argument --inputs does not give
  --seed <n>         seed of the random inputs (default 0; only with --random-inputs)
  --one-device       run a sharded module unpartitioned on one device`;

function summary(name: string, t: TensorData): string {
  const n = Math.min(t.data.length, 4);
  const head = Array.from({ length: n }, (_, i) => String(t.data[i])).join(', ');
  return `${name}: ${t.dtype}[${t.shape.join(', ')}] ${t.dtype === 'bf16' || t.dtype === 'f16' ? '(raw bits) ' : ''}[${head}${t.data.length > n ? ', ...' : ''}]`;
}

const run: Command = {
  summary: 'run a StableHLO .mlir file on a PJRT plugin with safetensors inputs',
  help,
  options: {
    inputs: { type: 'string' },
    target: { type: 'string' },
    plugin: { type: 'string' },
    out: { type: 'string', short: 'o' },
    'random-inputs': { type: 'boolean' },
    seed: { type: 'string' },
    'one-device': { type: 'boolean' },
  },
  async run({ values, positionals }) {
    const file = positionals[0];
    if (!file || positionals.length > 1) throw new FlipError('expected one <file.mlir> (flipc run --help)');
    const target = (values.target as string | undefined) ?? 'cpu';
    if (!(TARGETS as readonly string[]).includes(target)) throw new FlipError(`--target must be one of ${TARGETS.join(', ')}, got '${target}'`);
    const randomInputs = values['random-inputs'] === true;
    if (values.seed !== undefined && !randomInputs) throw new FlipError('--seed seeds --random-inputs; pass --random-inputs too');
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    if (!Number.isSafeInteger(seed)) throw new FlipError(`--seed must be an integer, got '${String(values.seed)}'`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new FlipError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const inputs = values.inputs ? readSafetensors(values.inputs as string).tensors : undefined;
    const result = await runMlir(text, file, {
      target: target as Target,
      seed,
      randomInputs,
      oneDevice: values['one-device'] === true,
      ...(inputs ? { inputs } : {}),
      ...(values.plugin ? { plugin: values.plugin as string } : {}),
    });
    for (const n of result.notes) console.error(`note: ${n}`);
    for (const [name, t] of Object.entries(result.outputs)) console.log(summary(name, t));
    if (values.out) writeSafetensors(values.out as string, result.outputs);
    return 0;
  },
};

export default run;
