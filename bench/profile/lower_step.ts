// bench/profile/ab.ts's helper: flip_small's train step at one mask as the source tree at ROOT lowers it (ROOT: a git
// worktree of another commit), written as JSON: its StableHLO text and its parameters' and results' types, which
// ab.ts compares with its own Program's as data. Usage: npx tsx lower_step.ts ROOT MASK OUT.json
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, maskArg, out] = process.argv.slice(2);
if (!root || !maskArg || !out) {
  console.error('usage: npx tsx bench/profile/lower_step.ts ROOT MASK OUT.json');
  process.exit(2);
}
const at = (p: string) => import(pathToFileURL(path.resolve(root, p)).href);
const { cpuPlan, withMask } = await at('bench/plan.ts');
const { lower } = await at('compiler/lower/index.ts');
const { batchSpecs, stateSpecs, stepSpec, optimizerStep } = await at('train/step.ts');
const s = cpuPlan().steps;
const config = withMask(s.config, Number(maskArg), 'float32');
const o = config.train.optimizer;
const step = optimizerStep({ model: config.model, schedule: s.schedule, adamw: s.adamw, excludeWd: o.excludeWd, seed: s.seed });
const program = lower(step, [stateSpecs(config.model), batchSpecs(config.model, s.batchSize), stepSpec()], { name: 'train_step', donate: [0] });
type Arg = { type: { dtype: string; shape: number[] } };
const types = (args: Arg[]) => args.map((a) => ({ dtype: a.type.dtype, shape: a.type.shape }));
writeFileSync(out, JSON.stringify({ mlir: program.mlir, params: types(program.params), results: types(program.results) }));
