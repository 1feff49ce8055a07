// Checkpoints of the trainer over real processes joined through runtime-native's coordination store
// (trainer_child.mts 'state'): 3 processes each build flip_tiny's initial state on their own CPU client (2 virtual
// devices each), hold their positions of a data=3,model=2 mesh over all 6 devices, and save it as the trainer does
// (per-process pieces, the store's barriers, process 0's index); 2 processes then resume from it (another process
// count) and save again on data=2,model=2. One process reading either checkpoint gets the one-process initial state
// bit for bit.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flatten } from '../../compiler/trace/index.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { openClient, type Buffer as DeviceBuffer } from '../../runtime-native/index.ts';
import { checkpointFolder, readCheckpointIndex } from '../../train/multiprocess/index.ts';
import { loadCheckpoint } from '../../train/checkpoint.ts';
import { runOutput } from '../../train/run/output.ts';
import { planRun } from '../../train/run/plan.ts';
import { startState } from '../../train/run/state.ts';
import { freePort } from '../../runtime-native/launch.ts';
import { startChild, type Child } from './processes.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-mp-state-'));
const children: Child[] = [];
afterAll(() => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

async function run(n: number, workdir: string, step: number): Promise<Record<string, unknown>[]> {
  const address = `127.0.0.1:${await freePort()}`;
  // The compilation cache (a folder of this test's) lets the processes after the first load init_state's executable.
  const env = { FLIP_COMPILE_CACHE: '1', FLIP_COMPILE_CACHE_DIR: path.join(tmp, 'cache') };
  const group = Array.from({ length: n }, (_, i) => startChild(['state', address, String(i), String(n), workdir, String(step)], env, 'trainer_child.mts'));
  children.push(...group);
  const saved = await Promise.all(group.map((c) => c.event('saved')));
  expect(await Promise.all(group.map((c) => c.exited)), group.map((c) => c.stderr).join('\n')).toEqual(new Array(n).fill(0));
  return saved;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('trainer checkpoints over real processes', () => {
  it('3 processes save the initial state, 2 resume it and save; one process restores both bit for bit', async () => {
    const workdir = path.join(tmp, 'run');
    const three = await run(3, workdir, 0);
    const first = checkpointFolder(path.join(workdir, 'checkpoints'), 0);
    expect(three.map((e) => e.folder)).toEqual([first, first, first]);
    // Each process held its own positions of data=3,model=2 (the rest are the others').
    expect(three.map((e) => e.held)).toEqual([[0, 1], [2, 3], [4, 5]]);
    expect(readdirSync(first).sort()).toEqual(['index.json', 'process_0-of-3.safetensors', 'process_1-of-3.safetensors', 'process_2-of-3.safetensors']);
    const { index } = readCheckpointIndex(first);
    expect(index).toMatchObject({ step: 0, processCount: 3, mesh: 'data=3,model=2' });
    // Blocks split over data come from every process.
    expect(new Set(Object.values(index.arrays).flatMap((a) => a.pieces.map((p) => p.file))).size).toBe(3);

    const two = await run(2, workdir, 1);
    const second = checkpointFolder(path.join(workdir, 'checkpoints'), 1);
    expect(two.map((e) => e.folder)).toEqual([second, second]);
    const resumed = children.slice(3).map((c) => c.events.find((e) => e.event === 'restored')!);
    for (const r of resumed) {
      expect(r.step).toBe(0);
      expect(r.position).toBeNull(); // written by 3 processes: each of the 2 starts its data share afresh
      expect((r.notes as string[])[0]).toMatch(/was written by 3 process\(es\), this run has 2: the state is restored, each process's data starts afresh/);
    }
    expect(readCheckpointIndex(second).index).toMatchObject({ step: 1, processCount: 2, mesh: 'data=2,model=2' });

    // One process: the initial state of a one-process run of the same config, and both checkpoints read whole.
    const config = applyOverrides(await loadConfigModule(path.resolve('configs/flip_tiny.ts')), { 'model.txt.vocabSize': '128', 'train.batchSize': '6', 'train.samplesPerEpoch': '48', 'train.numEpochs': '1', 'train.warmupEpochs': '0' }, officialAliases);
    const plan = planRun({ config, workdir: path.join(tmp, 'one'), noEval: true, workers: 0 });
    const client = await openClient({ target: 'cpu', devices: 2 }); // as the processes' (init runs on device 0)
    try {
      // init_state from the processes' compilation cache (the same program and options; the executable XLA made).
      const saved = { on: process.env.FLIP_COMPILE_CACHE, dir: process.env.FLIP_COMPILE_CACHE_DIR };
      Object.assign(process.env, { FLIP_COMPILE_CACHE: '1', FLIP_COMPILE_CACHE_DIR: path.join(tmp, 'cache') });
      const cursor = await startState(plan, client, { resumed: null, pretrained: null }, runOutput({ print: () => {}, progressBar: null })).finally(() => {
        for (const [k, v] of [['FLIP_COMPILE_CACHE', saved.on], ['FLIP_COMPILE_CACHE_DIR', saved.dir]] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      });
      const want: Record<string, Float32Array> = {};
      for (const [k, prefix] of [['params', 'params'], ['mu', 'mu'], ['nu', 'nu']] as const) {
        const f = flatten<DeviceBuffer>(cursor.state[k] as Record<string, Buffer>);
        for (let i = 0; i < f.leaves.length; i++) want[`${prefix}.${f.paths[i]}`] = (await f.leaves[i]!.toHost()) as Float32Array;
      }
      for (const folder of [first, second]) {
        const ck = loadCheckpoint(folder);
        const got: Record<string, Float32Array> = {};
        for (const k of ['params', 'mu', 'nu'] as const) for (const [name, t] of Object.entries(ck.state[k])) got[`${k}.${name}`] = t.data as Float32Array;
        expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
        for (const [name, a] of Object.entries(want)) expect(bits(got[name]!).equals(bits(a)), `${folder}: ${name}`).toBe(true);
        expect(Object.values(want).some((a) => a.some((x) => x !== 0))).toBe(true);
      }
    } finally {
      client.dispose();
    }
  }, 120_000);
});
