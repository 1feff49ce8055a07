// The coordination store of a multi-process run (the native service of src/coord.cc): process 0 hosts it, every
// process (process 0 too) is a client. A key-value store (blocking get with a timeout, try-get, put), barriers with
// timeouts (one at shutdown) and heartbeats; a process that dies (connection lost, heartbeats missed) fails every
// pending and later call of every process with a CoordinationError naming it (process id and host). A client is also
// what `openClient({ store })` hands a PJRT plugin as its key-value callbacks.
import { addon, type NativeCoordClient, type NativeCoordServer } from './addon.ts';
import { CoordinationError } from './errors.ts';

/** Defaults: a heartbeat every second; a process silent for 10 s is gone; 60 s for everyone to connect. */
export const COORDINATION_DEFAULTS = { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 10_000, connectTimeoutMs: 60_000, timeoutMs: 60_000 } as const;

export interface HeartbeatOptions {
  /** How often each side sends a heartbeat (default 1000 ms). */
  heartbeatIntervalMs?: number;
  /** A peer silent this long is gone (default 10000 ms). */
  heartbeatTimeoutMs?: number;
}

export interface CoordinatorOptions extends HeartbeatOptions {
  /** Address to listen on (default '0.0.0.0': every interface). */
  bind?: string;
  /** TCP port; 0 (the default) picks a free one: read it from `port`. */
  port?: number;
  /** How many processes take part (ids 0..numProcesses-1). */
  numProcesses: number;
}

/** The service, running on a native thread of this process. */
export interface Coordinator {
  readonly bind: string;
  readonly port: number;
  /**
   * Ends the service. After the shutdown barrier (drain, the default) the last replies go out and the peers get 2 s
   * to close; `stop(false)` closes every connection at once (peers still connected see the coordinator gone).
   */
  stop(drain?: boolean): void;
}

export interface ConnectOptions extends HeartbeatOptions {
  /** The coordinator's `host:port`. */
  address: string;
  processId: number;
  numProcesses: number;
  /** For connecting (retried while process 0 is not up yet) and for every process to register (default 60000). */
  timeoutMs?: number;
}

/** This process's view of the group: the store, barriers, shutdown. */
export interface Coordination {
  readonly processIndex: number;
  readonly processCount: number;
  put(key: string, value: string | Uint8Array): Promise<void>;
  /** Waits until some process puts `key` (DEADLINE_EXCEEDED after `timeoutMs`, default 60000). */
  get(key: string, timeoutMs?: number): Promise<string>;
  getBytes(key: string, timeoutMs?: number): Promise<Uint8Array>;
  /** The value now, or null when no process put it yet. */
  tryGet(key: string): Promise<string | null>;
  /** Resolves when every process reached the barrier `name` (each name once per run; default timeout 60000). */
  barrier(name: string, timeoutMs?: number): Promise<void>;
  /** The shutdown barrier, then the connection closes (and process 0 stops the service it hosts). Twice is fine. */
  shutdown(timeoutMs?: number): Promise<void>;
  /** Why the group failed (a process gone, named), or null while it is healthy. */
  failure(): string | null;
  /** Calls `f` once with the failure as soon as it is seen (polled twice a second, not keeping Node alive). */
  onFailure(f: (error: CoordinationError) => void): () => void;
  /** Closes the connection without the shutdown barrier: the other processes see this one gone. */
  abort(): void;
  /** @internal the native client, for openClient({ store }) */
  readonly native: NativeCoordClient;
}

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new CoordinationError(`${what} must be a positive integer, got ${v}`, 'INVALID_ARGUMENT');
  return v;
}

function timeout(ms: number | undefined, fallback: number, what: string): number {
  const t = ms ?? fallback;
  if (!(Number.isFinite(t) && t >= 0 && t <= 2 ** 31 - 1)) throw new CoordinationError(`${what} must be a number of milliseconds >= 0, got ${t}`, 'INVALID_ARGUMENT');
  return Math.round(t);
}

/** Splits `host:port` (`[v6]:port` too); throws a one-line CoordinationError when it is not one. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:\s]+):(\d+)$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new CoordinationError(`the coordinator address must be HOST:PORT with a port in 1..65535, got '${address}'`, 'INVALID_ARGUMENT');
  }
  return { host: m[1]!, port };
}

/** Host the coordination service on a native thread of this process (process 0). */
export function startCoordinator(opts: CoordinatorOptions): Coordinator {
  const bind = opts.bind ?? '0.0.0.0';
  const port = opts.port ?? 0;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new CoordinationError(`the coordinator port must be 0..65535, got ${port}`, 'INVALID_ARGUMENT');
  const n = positiveInt(opts.numProcesses, 'the number of processes');
  const server: NativeCoordServer = new (addon().CoordServer)(
    bind, port, n,
    timeout(opts.heartbeatIntervalMs, COORDINATION_DEFAULTS.heartbeatIntervalMs, 'heartbeatIntervalMs'),
    timeout(opts.heartbeatTimeoutMs, COORDINATION_DEFAULTS.heartbeatTimeoutMs, 'heartbeatTimeoutMs'),
  );
  return { bind, port: server.port, stop: (drain = true) => server.stop(drain) };
}

const decoder = new TextDecoder();

/** Connect this process to the coordinator and wait until all `numProcesses` have (or fail within `timeoutMs`). */
export async function connect(opts: ConnectOptions): Promise<Coordination> {
  const { host, port } = parseAddress(opts.address);
  const n = positiveInt(opts.numProcesses, 'the number of processes');
  const id = opts.processId;
  if (!(Number.isInteger(id) && id >= 0 && id < n)) {
    throw new CoordinationError(`the process id must be an integer in 0..${n - 1} (${n} processes), got ${id}`, 'INVALID_ARGUMENT');
  }
  const native = await addon().connectCoordinator(
    host, port, id, n,
    timeout(opts.timeoutMs, COORDINATION_DEFAULTS.connectTimeoutMs, 'timeoutMs'),
    timeout(opts.heartbeatIntervalMs, COORDINATION_DEFAULTS.heartbeatIntervalMs, 'heartbeatIntervalMs'),
    timeout(opts.heartbeatTimeoutMs, COORDINATION_DEFAULTS.heartbeatTimeoutMs, 'heartbeatTimeoutMs'),
  );
  return wrap(native);
}

function wrap(native: NativeCoordClient, onShutdown?: (graceful: boolean) => void): Coordination {
  const t = (ms: number | undefined) => timeout(ms, COORDINATION_DEFAULTS.timeoutMs, 'a timeout');
  return {
    processIndex: native.processId,
    processCount: native.numProcesses,
    native,
    put: (key, value) => native.put(key, value),
    get: async (key, ms) => decoder.decode(await native.get(key, t(ms))),
    getBytes: async (key, ms) => new Uint8Array(await native.get(key, t(ms))),
    tryGet: async (key) => {
      const v = await native.tryGet(key);
      return v === null ? null : decoder.decode(v);
    },
    barrier: (name, ms) => native.barrier(name, t(ms)),
    shutdown: async (ms) => {
      let ok = false;
      try {
        await native.shutdown(t(ms));
        ok = true;
      } finally {
        onShutdown?.(ok);
      }
    },
    failure: () => native.failure(),
    onFailure(f) {
      let fired = false;
      const timer = setInterval(() => {
        const why = native.failure();
        if (why === null || fired) return;
        fired = true;
        clearInterval(timer);
        f(new CoordinationError(why, 'UNAVAILABLE'));
      }, 500);
      timer.unref();
      return () => clearInterval(timer);
    },
    abort: () => {
      native.abort();
      onShutdown?.(false);
    },
  };
}

/**
 * Where a process stands in a multi-process run: the coordinator's `host:port`, its id and the process count, and
 * where that came from (the flags, FLIP_* variables, `flip launch`, or a cluster's own environment).
 */
export interface ProcessPlan {
  coordinator: string;
  processId: number;
  numProcesses: number;
  source: 'flags' | 'env' | 'launch' | 'tpu' | 'slurm' | 'openmpi';
}

export interface JoinOptions extends HeartbeatOptions {
  /** For connecting and registering (default 60000 ms). */
  timeoutMs?: number;
  /** Process 0's listening address (default '0.0.0.0'; the port is the plan's). */
  bind?: string;
}

/**
 * Join the run a plan describes: process 0 starts the coordinator on the plan's port, then every process connects
 * and waits for the others. `shutdown()` passes the shutdown barrier and, in process 0, stops the service.
 */
export async function joinProcessGroup(plan: ProcessPlan, opts: JoinOptions = {}): Promise<Coordination> {
  const { port } = parseAddress(plan.coordinator);
  const hb = { heartbeatIntervalMs: opts.heartbeatIntervalMs, heartbeatTimeoutMs: opts.heartbeatTimeoutMs };
  const server = plan.processId === 0 ? startCoordinator({ bind: opts.bind, port, numProcesses: plan.numProcesses, ...hb }) : undefined;
  try {
    const c = await connect({ address: plan.coordinator, processId: plan.processId, numProcesses: plan.numProcesses, timeoutMs: opts.timeoutMs, ...hb });
    return wrap(c.native, server ? (graceful) => server.stop(graceful) : undefined);
  } catch (e) {
    server?.stop(false);
    throw e;
  }
}

export interface AgreeOptions {
  /** For every process's value to arrive (default 60000 ms). */
  timeoutMs?: number;
  /** What the value is, for the message (default the name), e.g. 'the compiled train step's fingerprint'. */
  what?: string;
}

/**
 * Every process puts its `value` under `name` and reads everyone's: resolves when all are equal, else every process
 * fails alike with one line listing who has what (FAILED_PRECONDITION), never a hang (a missing one is a timeout or a
 * process gone). Each name once per run. For checks such as "all processes compiled the same program".
 */
export async function agreeOn(group: Coordination, name: string, value: string, opts: AgreeOptions = {}): Promise<void> {
  const key = (p: number) => `agree/${name}/${p}`;
  await group.put(key(group.processIndex), value);
  const values = await Promise.all(Array.from({ length: group.processCount }, (_, p) => group.get(key(p), opts.timeoutMs)));
  const groups = new Map<string, number[]>();
  values.forEach((v, p) => groups.set(v, [...(groups.get(v) ?? []), p]));
  if (groups.size === 1) return;
  const short = (v: string) => (v.length > 24 ? `${v.slice(0, 24)}…` : v);
  const procs = (ps: number[]) => (ps.length === 1 ? `process ${ps[0]}` : `processes ${ps.join(', ')}`);
  const parts = [...groups].map(([v, ps]) => `${procs(ps)} ${ps.length === 1 ? 'has' : 'have'} ${short(v)}`);
  throw new CoordinationError(`${opts.what ?? name} differs between the processes: ${parts.join('; ')}`, 'FAILED_PRECONDITION');
}
