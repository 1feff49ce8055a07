// The coordination store (runtime-native/coordinator.ts over src/coord.cc) across real processes: three child
// processes (process 0 hosting the coordinator, as flip run does) put, get, try-get, time out and meet at barriers;
// kill -9 of one makes the others' pending and later calls fail within seconds with an error naming it; a stopped
// one (SIGSTOP: alive, silent) is found by the missed heartbeats. In-process: registration errors.
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { agreeOn, connect, CoordinationError, startCoordinator, type Coordinator } from '../../runtime-native/index.ts';
import { freePort } from '../../runtime-native/launch.ts';
import { startChild, type Child } from './processes.ts';

const children: Child[] = [];
const servers: Coordinator[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.proc.kill('SIGKILL');
  for (const s of servers.splice(0)) s.stop();
});

async function three(scenario: string, env: NodeJS.ProcessEnv = {}): Promise<Child[]> {
  const address = `127.0.0.1:${await freePort()}`;
  const cs = [0, 1, 2].map((i) => startChild([scenario, address, String(i), '3'], env));
  children.push(...cs);
  return cs;
}

describe('the coordination store across 3 processes', () => {
  it('put, get, try-get, a get that times out, a barrier', async () => {
    const cs = await three('ops');
    const results = await Promise.all(cs.map((c) => c.event('ops')));
    results.forEach((r, i) => {
      expect(r.values).toEqual({ k0: 'v0', k1: 'v1', k2: 'v2' });
      expect(r.missing).toBeNull();
      expect(r.present).toBe(`v${(i + 1) % 3}`);
      expect(r.timeout).toMatchObject({ name: 'CoordinationError', code: 'DEADLINE_EXCEEDED', message: "key 'nobody-puts-this' was not put within 300 ms" });
      expect((r.timeout as { ms: number }).ms).toBeGreaterThanOrEqual(250);
      expect((r.timeout as { ms: number }).ms).toBeLessThan(5000);
    });
    // processes 0 and 1 waited at the barrier for process 2, which came 500 ms after them
    expect(results[0]!.barrierMs).toBeGreaterThanOrEqual(450);
    expect(results[1]!.barrierMs).toBeGreaterThanOrEqual(450);
    await Promise.all(cs.map((c) => c.event('done')));
    expect(await Promise.all(cs.map((c) => c.exited))).toEqual([0, 0, 0]);
  }, 40_000);

  it('kill -9 of process 2 fails the others\' pending and later calls within seconds, naming it', async () => {
    const cs = await three('kill');
    await Promise.all(cs.map((c) => c.event('ready')));
    await new Promise((r) => setTimeout(r, 300)); // the others are inside their get
    const killedAt = Date.now();
    cs[2]!.proc.kill('SIGKILL');
    const failed = await Promise.all([cs[0]!.event('failed'), cs[1]!.event('failed')]);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    const name = `process 2 (${os.hostname()}) is gone: its connection closed (the process exited or was killed)`;
    for (const f of failed) {
      expect(f.pending).toMatchObject({ name: 'CoordinationError', code: 'UNAVAILABLE', message: name });
      expect((f.pending as { ms: number }).ms).toBeLessThan(5000);
      expect(f.later).toMatchObject({ code: 'UNAVAILABLE', message: name });
      expect(f.failure).toBe(name);
    }
  }, 40_000);

  it('a process that stops answering (SIGSTOP) is found by its missed heartbeats', async () => {
    const cs = await three('kill', { TEST_HEARTBEAT_TIMEOUT_MS: '1500' });
    await Promise.all(cs.map((c) => c.event('ready')));
    const stoppedAt = Date.now();
    cs[2]!.proc.kill('SIGSTOP');
    const failed = await Promise.all([cs[0]!.event('failed'), cs[1]!.event('failed')]);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    for (const f of failed) {
      expect((f.pending as { message: string }).message).toMatch(new RegExp(`^process 2 \\(${os.hostname()}\\) is gone: no heartbeat for \\d+ ms`));
      expect((f.pending as { code: string }).code).toBe('UNAVAILABLE');
    }
    cs[2]!.proc.kill('SIGKILL');
  }, 40_000);
});

describe('joining', () => {
  const errorOf = async (p: Promise<unknown>) => p.then(() => { throw new Error('resolved'); }, (e: unknown) => e as CoordinationError);

  it('a missing process: every process that came fails after the timeout, naming who did not', async () => {
    const s = startCoordinator({ bind: '127.0.0.1', numProcesses: 3 });
    servers.push(s);
    const t0 = Date.now();
    const [a, b] = await Promise.all([0, 1].map((id) => errorOf(connect({ address: `127.0.0.1:${s.port}`, processId: id, numProcesses: 3, timeoutMs: 800 }))));
    expect(Date.now() - t0).toBeLessThan(5000);
    for (const e of [a!, b!]) {
      expect(e).toBeInstanceOf(CoordinationError);
      expect(e.message).toMatch(/^not all 3 processes connected to the coordinator within \d+ ms: process 2 did not$/);
      expect(e.code).toBe('DEADLINE_EXCEEDED');
    }
  });

  it('an unreachable coordinator, a wrong count, a taken id, an id out of range', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const e = await errorOf(connect({ address: `127.0.0.1:${port}`, processId: 0, numProcesses: 2, timeoutMs: 500 }));
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toBe(`cannot reach the coordinator at 127.0.0.1:${port} within 500 ms (Connection refused); is process 0 running, and is that its address?`);

    const s = startCoordinator({ bind: '127.0.0.1', numProcesses: 2 });
    servers.push(s);
    const address = `127.0.0.1:${s.port}`;
    const wrong = await errorOf(connect({ address, processId: 0, numProcesses: 3, timeoutMs: 2000 }));
    expect(wrong.message).toBe(`process 0 (${os.hostname()}) was started for 3 processes, but the coordinator for 2`);
    const first = connect({ address, processId: 1, numProcesses: 2, timeoutMs: 3000 });
    await new Promise((r) => setTimeout(r, 200));
    const taken = await errorOf(connect({ address, processId: 1, numProcesses: 2, timeoutMs: 2000 }));
    expect(taken.code).toBe('ALREADY_EXISTS');
    expect(taken.message).toBe(`process 1 is already registered (from ${os.hostname()}); each process needs its own id`);
    const zero = await connect({ address, processId: 0, numProcesses: 2, timeoutMs: 3000 });
    const one = await first;
    await Promise.all([zero.shutdown(2000), one.shutdown(2000)]);
    await zero.shutdown(); // twice is fine
    await expect(zero.put('k', 'v')).rejects.toThrow('this process already shut down its coordination client');

    await expect(connect({ address, processId: 2, numProcesses: 2 })).rejects.toThrow('the process id must be an integer in 0..1 (2 processes), got 2');
    expect(() => startCoordinator({ bind: '127.0.0.1', port: s.port, numProcesses: 2 })).toThrow(`cannot listen on 127.0.0.1:${s.port} for the coordinator: Address already in use`);
    await expect(connect({ address: 'no-port', processId: 0, numProcesses: 2 })).rejects.toThrow("the coordinator address must be HOST:PORT with a port in 1..65535, got 'no-port'");
  });
});

describe('agreeOn', () => {
  it('passes when every process has the same value; otherwise every process fails alike, listing who has what', async () => {
    const s = startCoordinator({ bind: '127.0.0.1', numProcesses: 3 });
    servers.push(s);
    const gs = await Promise.all([0, 1, 2].map((id) => connect({ address: `127.0.0.1:${s.port}`, processId: id, numProcesses: 3, timeoutMs: 5000 })));
    await Promise.all(gs.map((g) => agreeOn(g, 'same', 'abc')));
    const results = await Promise.allSettled(gs.map((g) => agreeOn(g, 'fp', g.processIndex === 1 ? 'other' : 'abc', { what: 'the compiled program' })));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as CoordinationError;
      expect(e).toBeInstanceOf(CoordinationError);
      expect([e.code, e.message]).toEqual(['FAILED_PRECONDITION', 'the compiled program differs between the processes: processes 0, 2 have abc; process 1 has other']);
    }
    await Promise.all(gs.map((g) => g.shutdown(5000)));
  });
});

describe('onFailure', () => {
  it('tells a process that is waiting on nothing that a peer left without shutting down', async () => {
    const s = startCoordinator({ bind: '127.0.0.1', numProcesses: 2 });
    servers.push(s);
    const [a, b] = await Promise.all([0, 1].map((id) => connect({ address: `127.0.0.1:${s.port}`, processId: id, numProcesses: 2, timeoutMs: 5000 })));
    const seen = new Promise<CoordinationError>((resolve) => a!.onFailure(resolve));
    expect(a!.failure()).toBeNull();
    b!.abort();
    const e = await seen;
    expect([e.code, e.message]).toEqual(['UNAVAILABLE', `process 1 (${os.hostname()}) is gone: its connection closed (the process exited or was killed)`]);
    expect(a!.failure()).toBe(e.message);
    a!.abort();
  });
});
