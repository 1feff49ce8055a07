// A process of the multi-process tests (store.test.ts, fake_plugin.test.ts), run as
//   node --import tsx child.mts <scenario> <host:port> <processId> <numProcesses> [plugin .so]
// Process 0 hosts the coordinator (as `flip run` does). Results are JSON lines on stdout: {"event": ..., ...}.
import { joinProcessGroup, openClient, type Coordination } from '../../runtime-native/index.ts';

const [scenario, coordinator, id, n, plugin] = process.argv.slice(2);
const plan = { coordinator: coordinator!, processId: Number(id), numProcesses: Number(n), source: 'flags' as const };
const emit = (event: string, data: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
const errorOf = (e: unknown) => ({ name: (e as Error).name, code: (e as { code?: string }).code, message: (e as Error).message });
const hb = { heartbeatIntervalMs: 200, heartbeatTimeoutMs: Number(process.env.TEST_HEARTBEAT_TIMEOUT_MS ?? 3000) };

const g: Coordination = await joinProcessGroup(plan, { timeoutMs: 15000, bind: '127.0.0.1', ...hb });
const me = g.processIndex;

if (scenario === 'ops') {
  await g.put(`k${me}`, `v${me}`);
  const others: Record<string, string> = {};
  for (let j = 0; j < g.processCount; j++) others[`k${j}`] = await g.get(`k${j}`, 10000);
  const missing = await g.tryGet('nobody-puts-this');
  const present = await g.tryGet(`k${(me + 1) % g.processCount}`);
  let timeout: unknown;
  const t0 = Date.now();
  try {
    await g.get('nobody-puts-this', 300);
  } catch (e) {
    timeout = { ...errorOf(e), ms: Date.now() - t0 };
  }
  // A barrier: nobody passes before the last arrives (process 2 comes 500 ms after the others are there).
  const b0 = Date.now();
  if (me === 2) {
    await Promise.all([g.get('arriving/0', 10000), g.get('arriving/1', 10000)]);
    await new Promise((r) => setTimeout(r, 500));
  } else {
    await g.put(`arriving/${me}`, '');
  }
  await g.barrier('after-puts', 10000);
  emit('ops', { values: others, missing, present, timeout, barrierMs: Date.now() - b0 });
  await g.shutdown(10000);
  emit('done');
} else if (scenario === 'kill') {
  // Everyone ready; then the test kills process 2 (kill -9, or SIGSTOP for the heartbeat case). The others wait in a
  // get that nobody answers and must fail fast, naming it; a later call fails at once.
  await g.barrier('ready', 10000);
  emit('ready');
  if (me !== 2) {
    const t0 = Date.now();
    let pending: unknown;
    try {
      await g.get('never', 60000);
    } catch (e) {
      pending = { ...errorOf(e), ms: Date.now() - t0 };
    }
    let later: unknown;
    try {
      await g.barrier('later', 60000);
    } catch (e) {
      later = errorOf(e);
    }
    emit('failed', { pending, later, failure: g.failure() });
    g.abort();
    process.exit(0);
  }
  setInterval(() => {}, 1000);
} else if (scenario === 'plugin' || scenario === 'plugin-die') {
  const client = await openClient({ target: 'gpu', plugin: plugin!, store: g });
  emit('client', {
    processIndex: client.processIndex,
    devices: client.devices.map((d) => ({ id: d.id, processIndex: d.processIndex, addressable: d.addressable, index: d.index })),
    global: client.globalDevices.map((d) => ({ id: d.id, processIndex: d.processIndex, addressable: d.addressable, index: d.index })),
    missCode: client.devices[0]!.attributes.kv_miss_code,
    timeoutCode: client.devices[0]!.attributes.kv_timeout_code,
    topologyKey: await g.tryGet(`cuda:topology/${me}`),
  });
  const exe = await client.native().compile('module @fake {}', new Uint8Array());
  for (let i = 0; i < 3; i++) await exe.execute([[], []], undefined, undefined);
  emit('executed', { runs: 3, lastKey: await g.tryGet(`cuda:exec/2/${me}`) });
  if (scenario === 'plugin-die' && me === 1) process.kill(process.pid, 'SIGKILL');
  const t0 = Date.now();
  try {
    await exe.execute([[], []], undefined, undefined);
    emit('executed-again');
  } catch (e) {
    emit('execute-failed', { ...errorOf(e), ms: Date.now() - t0 });
    g.abort();
    process.exit(0);
  }
  await g.shutdown(10000);
  client.dispose();
  emit('done');
}
