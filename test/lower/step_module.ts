// Prints the StableHLO module flip run compiles for its train step (the run's own parts: planRun, compileTrainStep),
// run compiled as bin/flip.js runs the trainer (test/lower/pipeline.test.ts imports it through dist/'s importUserModule), or
// from the sources: `node --import tsx test/lower/step_module.ts <config.ts> <devices> [mesh]`.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseMesh } from '../../compiler/passes/index.ts';
import type { FlipConfig } from '../../configs/types.ts';
import { openClient } from '../../runtime-native/index.ts';
import { compileTrainStep } from '../../train/run/compiled_step.ts';
import { runOutput } from '../../train/run/output.ts';
import { planRun } from '../../train/run/plan.ts';

const [configFile, devicesText, meshText] = process.argv.slice(2);
const config = ((await import(pathToFileURL(path.resolve(configFile!)).href)) as { default: FlipConfig }).default;
const devices = Number(devicesText ?? 1);
const client = await openClient({ target: 'cpu', devices });
try {
  const plan = planRun({ config, workdir: 'runs/unused', client, fastCompile: true, devices, ...(meshText ? { mesh: parseMesh(meshText) } : {}) });
  const exe = await compileTrainStep(plan, client, runOutput({ print: () => {}, warn: () => {}, progressBar: null }));
  await new Promise<void>((resolve, reject) => process.stdout.write(exe.mlir, (e) => (e ? reject(e) : resolve())));
} finally {
  client.dispose();
}
