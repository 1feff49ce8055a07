// The run's compiled train step: train/step.ts's optimizer step, compiled for the run's devices by train/executor.ts
// (one device, or a data × model mesh), the state donated.
import { fileURLToPath } from 'node:url';
import type { Client } from '../../runtime-native/index.ts';
import { stepExecutor, type StepExecutor } from '../executor.ts';
import { declarationLoc } from '../../compiler/load/check.ts';
import type { Loc } from '../../compiler/ir/types.ts';
import { PROCESS_WAIT_MS } from '../multiprocess/index.ts';
import { train_step, train_stepInputs } from '../step.ts';
import type { RunOutput } from './output.ts';
import type { RunPlan } from './plan.ts';

export async function compileTrainStep(plan: RunPlan, client: Client, out: RunOutput): Promise<StepExecutor> {
  const { step } = plan;
  // On CPU one device unless --devices asks for more (the CPU plugin's devices share the same cores); on an
  // accelerator every device, data-parallel (× numPartitions model-parallel).
  const devices = step.mesh?.size ?? step.devices ?? (client.target === 'cpu' ? 1 : client.devices.length);
  const executor = await stepExecutor({
    client, devices, modelPartitions: plan.config.partitioning.numPartitions, partitionStates: plan.config.partitioning.partitionStates, log: out.log,
    ...(step.mesh ? { mesh: step.mesh } : {}),
    ...(plan.processes.multi ? { processes: multiProcessStep(plan) } : {}),
    // The entry flipc compiles too (train/step.ts train_step): the same function, arguments and lowering options.
    fn: train_step, specs: train_stepInputs(plan.config), loc: stepLoc(),
    ...plan.compile,
  });
  out.print(`train step on ${executor.where}`);
  return executor;
}

/** Over several processes: the group (same-program check) and this process's first row of the global batch. */
function multiProcessStep(plan: RunPlan) {
  const g = plan.processes.group;
  return { group: g, rowBegin: g.processIndex * (plan.train.batchSize / g.processCount), timeoutMs: PROCESS_WAIT_MS };
}

let loc: Loc | undefined | null = null;
/** Where train/step.ts declares train_step (parsed once per process). */
function stepLoc(): Loc | undefined {
  if (loc === null) loc = declarationLoc(fileURLToPath(new URL('../step.ts', import.meta.url)), 'train_step');
  return loc;
}
