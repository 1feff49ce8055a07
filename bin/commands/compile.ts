// `flipc compile`: argument parsing for compiling one exported function of a .ts file to StableHLO (logic in compiler/load, compiler/stablehlo).
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from '../cli.ts';
import { FlipError } from '../../compiler/ir/errors.ts';
import { lowerEntry } from '../../compiler/load/index.ts';
import type { Program } from '../../compiler/lower/index.ts';
import { compileOptimized, formatOptimized } from '../../programs/inspect.ts';
import type { Target } from '../../runtime-native/index.ts';
import { describeSharding, parseMesh, type Mesh } from '../../compiler/passes/index.ts';
import { applyOverrides, configOptionsIn, officialAliases, overridesFrom } from '../../configs/overrides.ts';

/** What each `--stage` prints, from the lowered entry (compiler/lower: what flip run compiles). */
const STAGES: Record<string, (program: Program, target: Target, allCosts: boolean) => string | Promise<string>> = {
  stablehlo: (program) => program.mlir,
  // XLA's optimized HLO (after fusion and layout assignment) with the executable's cost and memory figures.
  optimized: async (program, target, all) => formatOptimized(await compileOptimized(program, { target }), { all }),
};

/**
 * A mesh that does not divide the batch: the sharding pass says `make the batch a multiple of N`; with a config, say
 * how (flip's entries take their batch from the config's train.batchSize).
 */
function withBatchFlag(e: unknown): unknown {
  if (!(e instanceof FlipError)) return e;
  const m = /batch=(\d+)[^\n]*make the batch a multiple of (\d+)/.exec(e.message);
  if (!m) return e;
  const ways = Number(m[2]);
  const next = Math.ceil(Number(m[1]) / ways) * ways;
  return new FlipError(e.message.replace(`make the batch a multiple of ${ways}`, `make the batch a multiple of ${ways} (an entry that takes its batch from the config: --config.train.batchSize=${next})`));
}

const help = `usage: flipc compile <file.ts> --entry <exportedFunction> [--config <configs/x.ts> [--config.<field>=<value> ...]] [-o out.mlir] [--stage stablehlo|optimized [--target cpu|gpu|tpu]]
                     [--mesh data=4,model=2 [--partition-states]] [--dump-partitioned DIR] [--verbose]

Type-checks <file.ts> (with the repo's tsconfig options), traces the exported function --entry at its declared
input shapes, and prints the StableHLO module (func.func public @main, loc(...) pointing into your file).

Input shapes. TS types carry dtype and axis names; the sizes come from an export named <entry>Inputs in the
file, a record keyed by parameter name (or an array of arguments) whose leaves are spec(dtype, {axis: size}):

  // examples/mlp.ts
  export function mlp(x: Tensor<'f32', ['batch', 'embed']>, params: MlpParams) { ... }
  export const mlpInputs = {
    x: spec('f32', { batch: 8, embed: 64 }),
    params: { w1: spec('f32', { embed: 64, mlp: 256 }), w2: spec('f32', { mlp: 256, embed: 64 }) },
  };

  flipc compile examples/mlp.ts --entry mlp -o mlp.mlir

--config <configs/x.ts> overrides them: the config's export <entry>Inputs or inputs wins. Either export may be a
function; it is called with the config's default export (or its 'config' export), e.g.
  export const mlpInputs = (cfg: MlpConfig) => ({ x: spec('f32', { batch: cfg.batch, embed: cfg.embed }), ... });
JS numbers, strings and booleans among the inputs are static arguments. Where a parameter's type names a literal
dtype or axis names, the spec must agree.

options:
  --entry <name>     the exported function to compile (required; without it, or with an unknown name, the
                     exported functions are listed)
  --config <file>    a config module with inputs (see above)
  --config.<field>=<value>
                     override a field of the config's default export before the inputs function reads it, as
                     flip run does: --config.model.img.maskRatio=0 (or the official name,
                     --config.model.model_img.mask_ratio=0.0); values are parsed as the field's type
  -o, --out <file>   write the module there instead of stdout
  --stage <stage>    what to print: ${Object.keys(STAGES).join(', ')} (default stablehlo). optimized compiles the
                     module through the target's PJRT plugin and prints XLA's optimized HLO (fusions, layouts),
                     headed by the executable's cost analysis (flops, bytes accessed, transcendentals,
                     optimal seconds: one a line) and its non-zero memory figures
  --all-costs        with --stage optimized: every figure XLA reports (per-operand bytes, utilization, zeros)
  --target <t>       the plugin for --stage optimized: cpu (default), gpu or tpu
  --mesh <axes>      shard over a device mesh, e.g. data=4,model=2: parameters by their axis names through FLIP's
                     logical axis rules (batch→data; mlp, heads, vocab → model), inputs by their batch axis, shard()
                     constraints by the rules; prints the module with mhlo.sharding annotations and
                     mhlo.num_partitions (see docs/distributed.md). --verbose lists each leaf's sharding.
  --partition-states also split optimizer states (paths with opt/mu/nu) over the mesh axis their param leaves free
  --dump-partitioned <dir>
                     also compile the module with the CPU plugin (one CPU device per mesh position) and have XLA
                     dump the HLO after SPMD partitioning into <dir> (per-device shapes, collectives)
  --verbose          timings on stderr, and stack traces on errors

Errors (type errors as file:line:col, an unknown entry, a bad spec, shapes that do not fit) print one message each
and exit with code 2.`;

const MODULE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

/** A model or config file the loader can take: an existing TypeScript/JavaScript module. */
function checkModule(file: string, what: string): void {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new FlipError(`${what} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw new FlipError(`${what} ${file} is not a file`);
  if (!MODULE_EXTENSIONS.includes(path.extname(file))) throw new FlipError(`${what} ${file} is not a TypeScript or JavaScript module (${MODULE_EXTENSIONS.join(', ')})`);
}

/** An output folder: absent (made later) or a folder, never a file. */
function checkFolder(dir: string, option: string): void {
  try {
    if (!statSync(dir).isDirectory()) throw new FlipError(`${option} ${dir} is a file; give a folder`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e instanceof FlipError ? e : new FlipError(`${option} ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const compile: Command = {
  summary: 'compile an exported function of a .ts file to StableHLO text',
  help,
  options: {
    entry: { type: 'string' },
    config: { type: 'string' },
    out: { type: 'string', short: 'o' },
    stage: { type: 'string', default: 'stablehlo' },
    'all-costs': { type: 'boolean' },
    target: { type: 'string', default: 'cpu' },
    mesh: { type: 'string' },
    'partition-states': { type: 'boolean' },
    'dump-partitioned': { type: 'string' },
    ...configOptionsIn(process.argv.slice(2)),
  },
  async run({ values, positionals }) {
    const [file, ...extra] = positionals;
    if (!file) throw new FlipError('missing <file.ts> (flipc compile --help)');
    if (extra.length) throw new FlipError(`unexpected arguments: ${extra.join(' ')}`);
    const entry = typeof values['entry'] === 'string' && values['entry'] ? values['entry'] : undefined;
    const stageName = String(values['stage']);
    const stage = STAGES[stageName];
    if (!stage) throw new FlipError(`unknown --stage '${stageName}' (stages: ${Object.keys(STAGES).join(', ')})`);
    if (values['all-costs'] && stageName !== 'optimized') throw new FlipError('--all-costs goes with --stage optimized');
    const verbose = values['verbose'] === true;
    const log = verbose ? (line: string) => process.stderr.write(`flipc compile: ${line}\n`) : undefined;
    const config = values['config'];
    checkModule(file, 'model file');
    if (typeof config === 'string') checkModule(config, '--config');
    if (typeof values['dump-partitioned'] === 'string') checkFolder(values['dump-partitioned'], '--dump-partitioned');
    if (typeof values['out'] === 'string') {
      try {
        if (statSync(values['out']).isDirectory()) throw new FlipError(`-o ${values['out']} is a folder; give a file name`);
      } catch (e) {
        if (e instanceof FlipError) throw e;
      }
    }
    const overrides = overridesFrom(values);
    const configure = Object.keys(overrides).length ? (c: unknown) => applyOverrides(c, overrides, officialAliases) : undefined;
    const meshText = values['mesh'];
    const mesh: Mesh | undefined = typeof meshText === 'string' ? parseMesh(meshText) : undefined;
    if (values['partition-states'] && !mesh) throw new FlipError('--partition-states needs --mesh');
    // The same pipeline and options flip run lowers with: the entry's own lowering options (`<entry>Lowering`, e.g.
    // donation) and, with --mesh, the sharding pass.
    const { program } = await lowerEntry(file, {
      entry, ...(typeof config === 'string' ? { config } : {}), ...(configure ? { configure } : {}), ...(log ? { log } : {}),
      ...(mesh ? { mesh, partitionStates: values['partition-states'] === true } : {}),
    }).catch((e: unknown) => {
      throw typeof config === 'string' ? withBatchFlag(e) : e;
    });
    let text: string;
    if (program.sharding) {
      for (const n of program.sharding.notes) process.stderr.write(`flipc compile: note: ${n}\n`);
      log?.(describeSharding(program.sharding));
      text = program.mlir;
    } else {
      const target = String(values['target']);
      if (target !== 'cpu' && target !== 'gpu' && target !== 'tpu') throw new FlipError(`unknown --target '${target}' (cpu, gpu or tpu)`);
      text = await stage(program, target, values['all-costs'] === true);
    }
    const dumpDir = values['dump-partitioned'];
    if (typeof dumpDir === 'string') {
      const { dumpPartitioned } = await import('../../programs/sharded.ts');
      const files = await dumpPartitioned(program, dumpDir).catch((e: unknown) => {
        const code = (e as NodeJS.ErrnoException).code;
        throw code ? new FlipError(`--dump-partitioned ${dumpDir}: cannot write there (${code})`) : e;
      });
      process.stderr.write(`flipc compile: partitioned HLO in ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
    }
    const out = values['out'];
    if (typeof out === 'string') {
      try {
        mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
        writeFileSync(out, text);
      } catch (e) {
        throw new FlipError(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      log?.(`wrote ${out}`);
    } else {
      // Wait for the write: the CLI exits right after, and a pipe may still hold a large module (async on macOS).
      await new Promise<void>((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(e) : resolve())));
    }
  },
};

export default compile;
