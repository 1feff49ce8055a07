// A multi-node plugin's bootstrap through the addon's PJRT key-value callbacks: the fake plugin of
// fake_multihost_plugin.cc (built here with g++ against the installed CPU plugin's pjrt_c_api.h) exchanges its
// topology through the callbacks from a thread of its own while the client is created, and again at every execution,
// as the CUDA plugin does (node_id / num_nodes, NCCL ids). 2 processes × 2 devices: each sees 4 global devices, 2 of
// them addressable. A process killed between executions makes the other's next execution fail at once, naming it.
// The real CPU plugin is refused for more than one process with one line saying what works instead.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinationError, installedPlugins, joinProcessGroup, openClient } from '../../runtime-native/index.ts';
import { freePort } from '../../runtime-native/launch.ts';
import { here, startChild, type Child } from './processes.ts';

let tmp: string;
let so: string;
const children: Child[] = [];
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-fake-multihost-'));
  const cpu = installedPlugins().find((p) => p.target === 'cpu' && p.package === 'xla-cpu-pjrt')!; // the build whose pjrt_c_api.h the addon is built against
  so = path.join(tmp, 'fake_multihost_plugin.so');
  execFileSync('g++', ['-std=c++17', '-shared', '-fPIC', '-pthread', '-o', so, path.join(here, 'fake_multihost_plugin.cc'), `-I${path.join(cpu.dir, 'xla_plugins', 'xla_cpu_pjrt', 'include')}`]);
});
afterAll(() => {
  for (const c of children) c.proc.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function two(scenario: string): Promise<Child[]> {
  const address = `127.0.0.1:${await freePort()}`;
  const cs = [0, 1].map((i) => startChild([scenario, address, String(i), '2', so]));
  children.push(...cs);
  return cs;
}

describe('a multi-node plugin over the store', () => {
  it('2 processes × 2 devices: 4 global devices, 2 addressable, topology and executions through the callbacks', async () => {
    const cs = await two('plugin');
    const clients = await Promise.all(cs.map((c) => c.event('client')));
    clients.forEach((c, p) => {
      expect(c.processIndex).toBe(p);
      expect(c.global).toEqual([0, 1, 2, 3].map((id) => {
        const mine = Math.floor(id / 2) === p;
        return { id, processIndex: Math.floor(id / 2), addressable: mine, index: mine ? id % 2 : -1 };
      }));
      expect(c.devices).toEqual([0, 1].map((k) => ({ id: 2 * p + k, processIndex: p, addressable: true, index: k })));
      expect(c.missCode).toBe(5); // the try-get of an absent key came back NOT_FOUND
      expect(c.timeoutCode).toBe(4); // a get of it with a 100 ms timeout came back DEADLINE_EXCEEDED
      expect(c.topologyKey).toBe('2'); // the plugin's keys carry the platform prefix, as JAX's: "cuda:topology/<node>"
    });
    for (const c of cs) expect(await c.event('executed')).toMatchObject({ runs: 3, lastKey: 'ready' });
    await Promise.all(cs.map((c) => c.event('done')));
    expect(await Promise.all(cs.map((c) => c.exited))).toEqual([0, 0]);
  }, 40_000);

  it('a process killed between executions: the other one\'s next execution fails at once, naming it', async () => {
    const cs = await two('plugin-die');
    const failed = await cs[0]!.event('execute-failed');
    expect(failed).toMatchObject({ name: 'PjrtError', code: 'UNAVAILABLE', message: `process 1 (${os.hostname()}) is gone: its connection closed (the process exited or was killed)` });
    expect(failed.ms as number).toBeLessThan(5000);
  }, 40_000);
});

describe('the real CPU plugin in a multi-process run', () => {
  it('is refused with one line saying what works instead', async () => {
    const port = await freePort();
    const [a, b] = await Promise.all([0, 1].map((id) => joinProcessGroup({ coordinator: `127.0.0.1:${port}`, processId: id, numProcesses: 2, source: 'flags' }, { bind: '127.0.0.1', timeoutMs: 5000 })));
    try {
      const e = await openClient({ target: 'cpu', store: a! }).then(() => null, (err: unknown) => err as CoordinationError);
      expect(e).toBeInstanceOf(CoordinationError);
      expect(e!.code).toBe('UNIMPLEMENTED');
      expect(e!.message).toMatch(/^the CPU plugin \(xla-cpu-pjrt 0\.0\.1\) runs one process only: it cannot run one program across 2 processes .*; on CPU, run one process with --devices N \(or --mesh data=N,\.\.\.\) for N virtual devices instead$/);
      expect(e!.message).not.toContain('\n');
    } finally {
      await Promise.all([b!.shutdown(5000), a!.shutdown(5000)]);
    }
  });
});
