// The run's compiled train step: train/step.ts's optimizer step, compiled for the run's devices by train/executor.ts
// (one device, or a data × model mesh), the state donated.
import type { Client } from '../../runtime-native/index.ts';
import { stepExecutor, type StepExecutor } from '../executor.ts';
import { batchSpecs, optimizerStep, stateSpecs, stepSpec } from '../step.ts';
import type { RunOutput } from './output.ts';
import type { RunPlan } from './plan.ts';

export async function compileTrainStep(plan: RunPlan, client: Client, out: RunOutput): Promise<StepExecutor> {
  const { model, train: t, step } = plan;
  // On CPU one device unless --devices asks for more (the CPU plugin's devices share the same cores); on an
  // accelerator every device, data-parallel (× numPartitions model-parallel).
  const devices = step.mesh?.size ?? step.devices ?? (client.target === 'cpu' ? 1 : client.devices.length);
  const executor = await stepExecutor({
    client, devices, modelPartitions: plan.config.partitioning.numPartitions, partitionStates: plan.config.partitioning.partitionStates, log: out.log,
    ...(step.mesh ? { mesh: step.mesh } : {}),
    fn: optimizerStep(step.settings),
    specs: [stateSpecs(model), batchSpecs(model, t.batchSize), stepSpec()],
    ...plan.compile,
  });
  out.print(`train step on ${executor.where}`);
  return executor;
}
