// The multi-process CLI: `flip run --coordinator/--num-processes/--process-id` (and FLIP_* variables, and the
// environments of a TPU VM slice, SLURM and Open MPI) into a ProcessPlan; every bad value, an unreachable
// coordinator, a missing peer and the CPU plugin end in one line and status 2 within seconds; `flip launch --local N`
// starts N processes with their output prefixed, ending the others when one fails.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { firstSlurmHost, portFromJobId, resolveProcessPlan } from '../../runtime-native/cluster.ts';
import { freePort, launchLocal } from '../../runtime-native/launch.ts';
import { root } from './processes.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-multihost-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function flip(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(root, 'bin', 'flip.js'), ...args], { cwd: tmp, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}

const workdir = () => ['--workdir', path.join(tmp, 'run')];

describe('flip run in a multi-process run: one line and status 2', () => {
  it('bad values, the CPU plugin, an unreachable coordinator, a missing peer', async () => {
    const [port, lonely] = [await freePort(), await freePort()];
    const [outOfRange, cpu, unreachable, missing] = await Promise.all([
      flip(['run', '--coordinator', '127.0.0.1:5', '--num-processes', '2', '--process-id', '2', ...workdir()]),
      flip(['run', '--coordinator', '127.0.0.1:5', '--num-processes', '2', '--process-id', '0', ...workdir()]),
      flip(['run', '--target', 'gpu', '--coordinator', `127.0.0.1:${port}`, '--num-processes', '2', '--process-id', '1', '--coordination-timeout', '1', ...workdir()]),
      flip(['run', '--target', 'gpu', '--coordinator', `127.0.0.1:${lonely}`, '--num-processes', '2', '--process-id', '0', '--coordination-timeout', '1', ...workdir()]),
    ]);
    expect(outOfRange.stderr).toBe('flip run: --process-id 2 is out of range for 2 processes (0..1)\n');
    expect(cpu.stderr).toMatch(/^flip run: the CPU plugin \(xla-cpu-pjrt 0\.0\.1\) runs one process only: .* --devices N \(or --mesh data=N,\.\.\.\) for N virtual devices instead\n$/);
    expect(unreachable.stderr).toBe(`flip run: cannot reach the coordinator at 127.0.0.1:${port} within 1000 ms (Connection refused); is process 0 running, and is that its address?\n`);
    expect(missing.stderr).toMatch(/^flip run: not all 2 processes connected to the coordinator within \d+ ms: process 1 did not\n$/);
    for (const r of [outOfRange, cpu, unreachable, missing]) {
      expect(r.code).toBe(2);
      expect(r.ms).toBeLessThan(30_000); // node + tsx startup on a loaded 2-core VM; the waits themselves are 1 s
    }
  }, 60_000);

  it('flip launch --local 2: both processes join, their lines prefixed; the first failure\'s status', async () => {
    const r = await flip(['launch', '--local', '2', '--', '--target', 'gpu', '--coordination-timeout', '20', ...workdir()], { FLIP_CACHE_DIR: path.join(tmp, 'empty-cache') });
    expect(r.code).toBe(2);
    for (const p of [0, 1]) {
      expect(r.stdout).toMatch(new RegExp(`^\\[p${p}\\] flip run: process ${p} of 2 \\(coordinator 127\\.0\\.0\\.1:\\d+, from launch\\); waiting for the others \\.\\.\\.$`, 'm'));
      expect(r.stderr).toMatch(new RegExp(`^\\[p${p}\\] flip run: `, 'm'));
    }
    expect(r.stderr.trim().split('\n').every((l) => /^\[p[01]\] /.test(l))).toBe(true);
    const bad = await flip(['launch', '--local', '2', '--', '--process-id', '1']);
    expect([bad.code, bad.stderr]).toEqual([2, 'flip launch: --process-id is set by flip launch for each process; leave it out of the run\'s arguments\n']);
  }, 60_000);
});

describe('launchLocal', () => {
  it('prefixes lines, sets FLIP_* per process, ends the others when one fails, exits with its status', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const script = `const id = process.env.FLIP_PROCESS_ID;
console.log('hello from', id, process.env.FLIP_NUM_PROCESSES, process.env.FLIP_COORDINATOR);
if (id === '1') { console.error('failing'); setTimeout(() => process.exit(3), 200); } else setTimeout(() => {}, 30000);`;
    const t0 = Date.now();
    const status = await launchLocal({ processes: 3, port: 4321, command: [process.execPath, '-e', script], stdout: (l) => out.push(l), stderr: (l) => err.push(l), killGraceMs: 1000 });
    expect(status).toBe(3);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(out.sort()).toEqual([0, 1, 2].map((p) => `[p${p}] hello from ${p} 3 127.0.0.1:4321`));
    expect(err).toEqual(['[p1] failing']);
    expect(await launchLocal({ processes: 2, command: [process.execPath, '-e', ''], stdout: () => {}, stderr: () => {} })).toBe(0);
  });
});

describe('the process plan', () => {
  const noEnv = {};
  it('flags first, then FLIP_* variables; one process is no plan', async () => {
    expect(await resolveProcessPlan({ coordinator: 'h:1234', numProcesses: '4', processId: '3' }, { env: { FLIP_COORDINATOR: 'x:1', FLIP_NUM_PROCESSES: '2', FLIP_PROCESS_ID: '0' } }))
      .toEqual({ coordinator: 'h:1234', numProcesses: 4, processId: 3, source: 'flags' });
    expect(await resolveProcessPlan({}, { env: { FLIP_COORDINATOR: 'x:1', FLIP_NUM_PROCESSES: '2', FLIP_PROCESS_ID: '1', FLIP_LAUNCH: '1' } }))
      .toEqual({ coordinator: 'x:1', numProcesses: 2, processId: 1, source: 'launch' });
    expect(await resolveProcessPlan({}, { env: noEnv })).toBeUndefined();
    expect(await resolveProcessPlan({ coordinator: 'h:1', numProcesses: '1', processId: '0' }, { env: noEnv })).toBeUndefined();
    await expect(resolveProcessPlan({ coordinator: 'h:1', numProcesses: 'two', processId: '0' }, { env: noEnv })).rejects.toThrow("--num-processes must be an integer >= 1, got 'two'");
    await expect(resolveProcessPlan({ processId: '0' }, { env: noEnv })).rejects.toThrow('--coordinator and --num-processes are missing');
    await expect(resolveProcessPlan({}, { env: { FLIP_NUM_PROCESSES: '2' } })).rejects.toThrow(
      'a multi-process run needs FLIP_COORDINATOR, FLIP_NUM_PROCESSES and FLIP_PROCESS_ID together; FLIP_COORDINATOR and FLIP_PROCESS_ID are missing');
    await expect(resolveProcessPlan({ coordinator: 'nohost', numProcesses: '2', processId: '0' }, { env: noEnv })).rejects.toThrow(
      "--coordinator must be HOST:PORT (process 0's address and a port in 1..65535), got 'nohost'");
    await expect(resolveProcessPlan({ coordinator: 'h:70000', numProcesses: '2', processId: '0' }, { env: noEnv })).rejects.toThrow("got 'h:70000'");
  });

  it('SLURM, Open MPI and a TPU VM slice, as JAX reads them', async () => {
    expect(firstSlurmHost('node001')).toBe('node001');
    expect(firstSlurmHost('node001,host2')).toBe('node001');
    expect(firstSlurmHost('node[001-015],host2')).toBe('node001');
    expect(firstSlurmHost('gpu[007,009-012]')).toBe('gpu007');
    expect(portFromJobId(123456)).toBe(123456 % 4096 + 61440);
    expect(await resolveProcessPlan({}, { env: { SLURM_JOB_ID: '123456', SLURM_STEP_NODELIST: 'gpu[07-08]', SLURM_NTASKS: '2', SLURM_PROCID: '1' } }))
      .toEqual({ coordinator: `gpu07:${123456 % 4096 + 61440}`, numProcesses: 2, processId: 1, source: 'slurm' });
    expect(await resolveProcessPlan({}, { env: { SLURM_JOB_ID: '5', SLURM_STEP_NODELIST: 'a', SLURM_NTASKS: '1', SLURM_PROCID: '0' } })).toBeUndefined();
    const job = 1531576320;
    expect(await resolveProcessPlan({}, { env: { OMPI_MCA_orte_hnp_uri: `${job}.0;tcp://10.96.0.1,10.148.0.1:34911`, OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_RANK: '2' } }))
      .toEqual({ coordinator: `10.96.0.1:${Math.floor(job / 4096) % 4096 + 61440}`, numProcesses: 4, processId: 2, source: 'openmpi' });
    expect(await resolveProcessPlan({}, { env: { TPU_WORKER_HOSTNAMES: '10.0.0.5,10.0.0.6,10.0.0.7,10.0.0.8', TPU_WORKER_ID: '3' } }))
      .toEqual({ coordinator: '10.0.0.5:8476', numProcesses: 4, processId: 3, source: 'tpu' });
    await expect(resolveProcessPlan({}, { env: { TPU_WORKER_HOSTNAMES: 'a,b', TPU_WORKER_ID: '2' } })).rejects.toThrow('TPU_WORKER_ID 2 is out of range for 2 processes (0..1)');
  });
});
