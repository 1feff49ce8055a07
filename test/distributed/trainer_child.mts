// A process of the trainer's multi-process tests (trainer_share.test.ts, trainer_state.test.ts), run as
//   node --import tsx trainer_child.mts <scenario> <host:port> <processId> <numProcesses> <workdir> [step]
// It joins the run through runtime-native's real coordination store (process 0 hosts it, as `flip run` does) and
// calls the trainer's multi-process pieces the way train/run calls them. A whole train step cannot run here (no CPU
// PJRT plugin runs one program across processes), so each scenario stops where that would begin.
// Results are JSON lines on stdout: {"event": ..., ...}.
import path from 'node:path';
import { lower } from '../../compiler/lower/index.ts';
import { flatten } from '../../compiler/trace/index.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { checkConfig } from '../../configs/validate.ts';
import { putSharded, type ShardedArray } from '../../programs/sharded.ts';
import { joinProcessGroup, openClient, type Buffer } from '../../runtime-native/index.ts';
import { checkSameStep } from '../../train/executor.ts';
import { MetricsLog } from '../../train/metrics.ts';
import { globalMeshLayout, metricsFor, outputFor, saveStatePieces, findProcessCheckpoint } from '../../train/multiprocess/index.ts';
import { loadCheckpoint } from '../../train/checkpoint.ts';
import { openTrainData, prepareData } from '../../train/run/data.ts';
import { runOutput } from '../../train/run/output.ts';
import { planRun } from '../../train/run/plan.ts';
import { startState } from '../../train/run/state.ts';
import { train_step, train_stepInputs } from '../../train/step.ts';

const [scenario, coordinator, id, n, workdir, stepArg] = process.argv.slice(2);
const processes = { coordinator: coordinator!, processId: Number(id), numProcesses: Number(n), source: 'flags' as const };
const emit = (event: string, data: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
const hb = { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 5000 };

/** The tests' flip_tiny: 48 synthetic samples, a global batch of 6 (2 per process with 3). */
const OVERRIDES = { 'model.txt.vocabSize': '128', 'train.batchSize': '6', 'train.samplesPerEpoch': '48', 'train.numEpochs': '1', 'train.warmupEpochs': '0' };
async function tinyConfig(extra: Record<string, string> = {}) {
  const c = applyOverrides(await loadConfigModule(path.resolve(import.meta.dirname, '../../configs/flip_tiny.ts')), { ...OVERRIDES, ...extra }, officialAliases);
  checkConfig(c);
  return c;
}

const group = await joinProcessGroup(processes, { timeoutMs: 20000, bind: '127.0.0.1', ...hb });
const me = group.processIndex;
try {
  if (scenario === 'share') {
    const config = await tinyConfig();
    const printed: string[] = [];
    const o = { config, workdir: workdir!, workers: 0, noEval: true, processes, group, print: (s: string) => printed.push(s), progressBar: null };
    const plan = planRun(o);
    // As runTraining: the output and metrics by writer role, then the data (process 0 writes the synthetic set).
    const out = runOutput({ ...o, ...planOutput(plan, o) });
    for (const note of plan.notes) out.print(note);
    const data = await prepareData(plan, out);
    const loader = await openTrainData(plan, data, null, out.print);
    // One epoch of this process's share: its samples / its batch rows.
    const keys: string[] = [];
    const epochs: number[] = [];
    const perProcess = 48 / group.processCount;
    while (keys.length < perProcess) {
      const b = (await loader.next())!;
      keys.push(...b.keys);
      epochs.push(b.epoch);
    }
    await loader.close();
    const metrics = metricsFor(plan.processes.role, () => new MetricsLog(workdir!));
    for (let s = 1; s <= 3; s++) metrics.write(s, { 'train/loss': 10 * (me + 1) + s });
    metrics.flush();
    metrics.close();
    out.print(`process ${me} done`);
    out.warn(`a warning from process ${me}`);
    emit('share', { keys, epochs, printed, rowsPerStep: plan.train.batchSize / group.processCount });
    // The same-program check of the train step (the executor calls it between lowering and compiling): all lower
    // flip_tiny; then process 2 lowers another config while the others keep theirs.
    const layout = globalMeshLayout(
      Array.from({ length: 2 * group.processCount }, (_, k) => ({ id: 2048 * Math.floor(k / 2) + (k % 2), processIndex: Math.floor(k / 2), addressable: Math.floor(k / 2) === me, index: Math.floor(k / 2) === me ? k % 2 : -1 })),
      { data: group.processCount, model: 2 }, me, group.processCount);
    const lowerStep = (c: typeof config) => lower(train_step as never, train_stepInputs(c), { name: 'train_step', mesh: layout.mesh, partitionStates: true, donate: [0] }).mlir;
    const mlir = lowerStep(config);
    const t0 = Date.now();
    await checkSameStep(plan.processes.group, mlir, layout.mesh, layout.deviceIds, 20000);
    emit('same', { ms: Date.now() - t0 });
    const other = me === 2 ? lowerStep(await tinyConfig({ 'model.img.maskRatio': '0.75' })) : mlir;
    const t1 = Date.now();
    try {
      await checkSameStep(plan.processes.group, other, layout.mesh, layout.deviceIds, 20000, 'train_step_again');
      emit('differ', { error: null });
    } catch (e) {
      emit('differ', { error: (e as Error).message, name: (e as Error).name, ms: Date.now() - t1 });
    }
  } else if (scenario === 'state') {
    // Every process: the run's initial state (flip_tiny, the config's seed) on its own CPU client with 2 virtual
    // devices, put on this process's positions of a data × model mesh over all processes' devices, and saved as the
    // trainer saves (per-process pieces through the store's barriers, process 0's index).
    const config = await tinyConfig();
    const plan = planRun({ config, workdir: workdir!, workers: 0, noEval: true, processes, group });
    const client = await openClient({ target: 'cpu', devices: 2 });
    const out = runOutput({ print: () => {}, progressBar: null });
    const step = Number(stepArg ?? 0);
    let host: { params: unknown; mu: unknown; nu: unknown };
    if (step === 0) {
      // Process 0 compiles init_state first; the others then load it from the compilation cache (the test's folder).
      if (me !== 0) await group.barrier('init-compiled', 60000);
      const cursor = await startState(plan, client, { resumed: null, pretrained: null }, out);
      if (me === 0) await group.barrier('init-compiled', 60000);
      host = cursor.state;
    } else {
      // A later save from another process count: the state restored whole from the first checkpoint.
      const ck = loadCheckpoint(findProcessCheckpoint(workdir!)!, plan.processes.group);
      emit('restored', { step: ck.meta.step, notes: ck.notes, position: ck.meta.position });
      const up = (m: Record<string, { data: unknown; shape: number[] }>) => Object.fromEntries(Object.entries(m).map(([k, t]) => [k, client.toDevice(t.data as Float32Array, t.shape, 'f32')]));
      host = { params: up(ck.state.params), mu: up(ck.state.mu), nu: up(ck.state.nu) };
    }
    const layout = globalMeshLayout(
      Array.from({ length: 2 * group.processCount }, (_, k) => ({ id: 2048 * Math.floor(k / 2) + (k % 2), processIndex: Math.floor(k / 2), addressable: Math.floor(k / 2) === me, index: Math.floor(k / 2) === me ? k % 2 : -1 })),
      { data: group.processCount, model: 2 }, me, group.processCount);
    // Layouts as the sharding pass gives them: some arrays split over data, some over model, the rest replicated.
    const dataWays = group.processCount;
    const spread = async (tree: unknown) => {
      const f = flatten<Buffer>(tree as Record<string, Buffer>);
      const out: Record<string, ShardedArray> = {};
      for (let i = 0; i < f.leaves.length; i++) {
        const b = f.leaves[i]!;
        const shape = [...b.shape];
        const spec: string[][] = shape.map(() => []);
        const dataDim = shape.findIndex((d) => d % dataWays === 0);
        if (i % 3 !== 2 && dataDim >= 0) spec[dataDim] = ['data'];
        if (i % 3 !== 0 && shape.length && shape.at(-1)! % 2 === 0 && dataDim !== shape.length - 1) spec[shape.length - 1] = ['model'];
        out[f.paths[i]!] = putSharded(client, (await b.toHost()) as Float32Array, { dtype: 'f32', shape, axes: shape.map((_, d) => `d${d}`) }, { mesh: layout.mesh, spec }, layout.addressable);
      }
      return out;
    };
    const state = { params: await spread(host.params), mu: await spread(host.mu), nu: await spread(host.nu) };
    const held = Object.values(state.params).map((a) => a.held);
    const folder = await saveStatePieces(plan.processes, state, { dir: plan.checkpointDir, step, samples: step * 6, position: { epoch: 0, shardIndex: me, sampleOffset: step, taken: step }, config });
    emit('saved', { folder, held: held[0] });
    client.dispose();
  }
  await group.shutdown(20000);
  emit('done');
} catch (e) {
  emit('error', { name: (e as Error).name, message: (e as Error).message });
  group.abort();
  process.exit(2);
}

/** What runTraining gives runOutput: the options by writer role (outputFor). */
function planOutput(plan: ReturnType<typeof planRun>, o: { print: (s: string) => void; progressBar: null }) {
  return outputFor(plan.processes.role, o);
}
