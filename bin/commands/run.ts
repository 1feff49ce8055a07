// `flipc run`: argument parsing for running a StableHLO .mlir file on a PJRT plugin (logic in programs/run_mlir.ts).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from '../cli.ts';
import { FlipError, isFlipError } from '../../compiler/ir/errors.ts';
import { openClient, TARGETS, type Target } from '../../runtime-native/index.ts';
import { runMlir, type RunMlirOptions } from '../../programs/run_mlir.ts';
import type { CheckResult } from '../../programs/mlir_checks.ts';
import { readSafetensors, writeSafetensors, type TensorData } from '../../io/safetensors.ts';

const help = `usage: flipc run <file.mlir> (--inputs in.safetensors | --random-inputs [--seed N]) [--target cpu|gpu|tpu] [-o out.safetensors] [--one-device]
       flipc run <file.mlir | folder>... [--random-inputs [--seed N]] [--target ...]   (many modules, one process)

Compiles the module's public @main on a PJRT plugin and runs it once. Inputs come from a safetensors
file (tensors input.0, input.1, ... in parameter order, of the declared dtypes and shapes); an input
the file lacks is an error. --random-inputs makes random ones of the declared types instead (seeded
by --seed, default 0), or, with --inputs, fills only the ones the file lacks. One of the two is
required for a module that takes arguments. Outputs (output.0, ...) go to -o as safetensors, and a
one-line summary of each to stdout. Element types: every one safetensors carries (f32 f64 f16 bf16,
i8 i16 i32 i64, ui8 ui16 ui32 ui64, i1, f8E4M3FN f8E5M2 f8E4M3FNUZ f8E5M2FNUZ f8E8M0FNU).

A module with mhlo.num_partitions = N runs SPMD on N devices (N CPU devices on the cpu target): each
input is split by @main's mhlo.sharding / sdy.sharding annotation, and each output is put back
together from its shards. --one-device runs it whole on one device instead, its shardings ignored.

StableHLO's test data (openxla/stablehlo stablehlo/testdata) compares results with expected values
through custom calls check.expect_eq / expect_close / expect_almost_eq: flipc run takes them out of
@main, runs the module and compares on the host (expect_close: at most 3 ULP; expect_almost_eq:
within 0.001; as stablehlo-translate --interpret), one line per check; a failed check exits 1.

Several files, or a folder (its *.mlir files), run in one process on one plugin client: one line
per file (PASS: its checks hold; ran: no checks, outputs summarized; FAIL: why), then a summary.
Exit 0 when none failed, 1 when any did.

options:
  --inputs <file>    safetensors with input.0 .. input.N-1 (other tensors named output.* are ignored); one module only
  --target <t>       cpu (default), gpu or tpu: which installed plugin to use
  --plugin <path>    a PJRT plugin .so to use instead of the target's installed one
  -o, --out <file>   write the outputs there (atomically); one module only
  --random-inputs    random inputs of the declared types for every argument --inputs does not give
  --seed <n>         seed of the random inputs (default 0; only with --random-inputs)
  --one-device       run a sharded module unpartitioned on one device`;

const RAW_BITS = new Set(['bf16', 'f16', 'f8e4m3fn', 'f8e5m2', 'f8e4m3fnuz', 'f8e5m2fnuz', 'f8e8m0fnu']);

function summary(name: string, t: TensorData): string {
  // Complex elements are (real, imaginary) pairs of the host array.
  const complex = t.dtype === 'c64' || t.dtype === 'c128';
  const count = complex ? t.data.length / 2 : t.data.length;
  const n = Math.min(count, 4);
  const head = Array.from({ length: n }, (_, i) => (complex ? `(${t.data[2 * i]}, ${t.data[2 * i + 1]})` : String(t.data[i]))).join(', ');
  return `${name}: ${t.dtype}[${t.shape.join(', ')}] ${RAW_BITS.has(t.dtype) ? '(raw bits) ' : ''}[${head}${count > n ? ', ...' : ''}]`;
}

function checkLine(c: CheckResult): string {
  const what = `check.${c.kind} at ${c.where}`;
  return c.ok ? `${what}: ok (${c.elements} elements)` : `${what}: FAILED, ${c.mismatches} of ${c.elements} elements differ; first ${c.first}`;
}

/** The .mlir files named: files as given, folders as their *.mlir files (sorted, not recursing). */
function expandFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new FlipError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!st.isDirectory()) {
      out.push(p);
      continue;
    }
    const files = readdirSync(p).filter((f) => f.endsWith('.mlir')).sort();
    if (!files.length) throw new FlipError(`${p} holds no .mlir files`);
    out.push(...files.map((f) => path.join(p, f)));
  }
  return out;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new FlipError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** One line for a module that could not run: the first line of its error (internal errors say so). */
function failure(e: unknown): string {
  const msg = (isFlipError(e) || (e as Error)?.name === 'PjrtError' ? (e as Error).message : `internal error: ${String((e as Error)?.message ?? e)}`).split('\n');
  return msg.length > 1 ? `${msg[0]} (+${msg.length - 1} more)` : msg[0]!;
}

async function runMany(files: string[], base: RunMlirOptions, target: Target): Promise<number> {
  const client = await openClient({ target, ...(base.plugin ? { plugin: base.plugin } : {}) });
  let passed = 0;
  let ran = 0;
  let failed = 0;
  const started = performance.now();
  try {
    for (const file of files) {
      try {
        const r = await runMlir(readText(file), file, { ...base, client });
        const bad = r.checks.filter((c) => !c.ok);
        if (bad.length) {
          failed++;
          console.log(`FAIL ${file}: ${checkLine(bad[0]!)}${bad.length > 1 ? ` (+${bad.length - 1} more failed checks)` : ''}`);
        } else if (r.checks.length) {
          passed++;
          console.log(`PASS ${file} (${r.checks.length} check${r.checks.length > 1 ? 's' : ''})`);
        } else {
          ran++;
          console.log(`ran  ${file}: ${Object.entries(r.outputs).map(([n, t]) => `${n} ${t.dtype}[${t.shape.join(', ')}]`).join(', ') || 'no outputs'}`);
        }
      } catch (e) {
        failed++;
        console.log(`FAIL ${file}: ${failure(e)}`);
      }
    }
  } finally {
    client.dispose();
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${files.length} modules: ${passed} passed their checks, ${ran} ran (no checks), ${failed} failed (${secs} s)`);
  return failed ? 1 : 0;
}

const run: Command = {
  summary: 'run StableHLO .mlir files on a PJRT plugin with safetensors inputs',
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
    if (!positionals.length) throw new FlipError('expected a <file.mlir> (or several, or a folder) (flipc run --help)');
    const target = (values.target as string | undefined) ?? 'cpu';
    if (!(TARGETS as readonly string[]).includes(target)) throw new FlipError(`--target must be one of ${TARGETS.join(', ')}, got '${target}'`);
    const randomInputs = values['random-inputs'] === true;
    if (values.seed !== undefined && !randomInputs) throw new FlipError('--seed seeds --random-inputs; pass --random-inputs too');
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    if (!Number.isSafeInteger(seed)) throw new FlipError(`--seed must be an integer, got '${String(values.seed)}'`);
    const base: RunMlirOptions = {
      target: target as Target,
      seed,
      randomInputs,
      oneDevice: values['one-device'] === true,
      ...(values.plugin ? { plugin: values.plugin as string } : {}),
    };
    const files = expandFiles(positionals);
    if (files.length > 1 || statSync(positionals[0]!).isDirectory()) {
      if (values.inputs) throw new FlipError('--inputs belongs to one module; run the modules one at a time to give each its inputs');
      if (values.out) throw new FlipError('-o writes one module\'s outputs; run the modules one at a time to keep each one\'s');
      return runMany(files, base, target as Target);
    }
    const file = files[0]!;
    const text = readText(file);
    const inputs = values.inputs ? readSafetensors(values.inputs as string).tensors : undefined;
    const result = await runMlir(text, file, { ...base, ...(inputs ? { inputs } : {}) });
    for (const n of result.notes) console.error(`note: ${n}`);
    for (const [name, t] of Object.entries(result.outputs)) console.log(summary(name, t));
    for (const c of result.checks) console.log(checkLine(c));
    if (values.out) writeSafetensors(values.out as string, result.outputs);
    return result.checks.some((c) => !c.ok) ? 1 : 0;
  },
};

export default run;
