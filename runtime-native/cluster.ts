// Where this process stands in a multi-process run, as a ProcessPlan: from the flags (--coordinator,
// --num-processes, --process-id), else the FLIP_COORDINATOR / FLIP_NUM_PROCESSES / FLIP_PROCESS_ID variables, else
// the environment a cluster gives its processes, found the way JAX's cluster detection finds it (jax/_src/clusters):
// a Cloud TPU VM slice (TPU_WORKER_HOSTNAMES + TPU_WORKER_ID, or the GCE metadata server's worker-network-endpoints
// and agent-worker-number; coordinator port 8476), SLURM (SLURM_JOB_ID; SLURM_NTASKS, SLURM_PROCID, the first host
// of SLURM_STEP_NODELIST, a port from the job id) and Open MPI (OMPI_MCA_orte_hnp_uri; OMPI_COMM_WORLD_SIZE/_RANK,
// the launcher's address, a port from the job id). A single process (none of these, or a count of 1) has no plan.
import { CoordinationError } from './errors.ts';
import { parseAddress, type ProcessPlan } from './coordinator.ts';
import { hasTpuDevice } from './plugins.ts';

export type { ProcessPlan } from './coordinator.ts';

/** The three values as given (flags or variables), unparsed. */
export interface ProcessFlags {
  coordinator?: string;
  numProcesses?: string | number;
  processId?: string | number;
}

/** JAX's TPU coordinator port. */
export const TPU_COORDINATOR_PORT = 8476;

function intOf(v: string | number | undefined, what: string, min: number): number {
  const n = typeof v === 'number' ? v : v !== undefined && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min) throw new CoordinationError(`${what} must be an integer >= ${min}, got '${String(v)}'`, 'INVALID_ARGUMENT');
  return n;
}

/** Validates a plan: a HOST:PORT coordinator, N >= 1, 0 <= id < N. One line per mistake. */
export function checkPlan(flags: ProcessFlags, names: { coordinator: string; numProcesses: string; processId: string }, source: ProcessPlan['source']): ProcessPlan | undefined {
  const given = [flags.coordinator, flags.numProcesses, flags.processId].filter((v) => v !== undefined && v !== '').length;
  if (given === 0) return undefined;
  if (given < 3) {
    const missing = ([['coordinator', names.coordinator], ['numProcesses', names.numProcesses], ['processId', names.processId]] as const)
      .filter(([k]) => flags[k] === undefined || flags[k] === '').map(([, n]) => n);
    throw new CoordinationError(
      `a multi-process run needs ${names.coordinator}, ${names.numProcesses} and ${names.processId} together; ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing`,
      'INVALID_ARGUMENT',
    );
  }
  const numProcesses = intOf(flags.numProcesses, names.numProcesses, 1);
  const processId = intOf(flags.processId, names.processId, 0);
  if (processId >= numProcesses) {
    throw new CoordinationError(`${names.processId} ${processId} is out of range for ${numProcesses} process${numProcesses > 1 ? 'es' : ''} (0..${numProcesses - 1})`, 'INVALID_ARGUMENT');
  }
  const coordinator = String(flags.coordinator).trim();
  try {
    parseAddress(coordinator);
  } catch {
    throw new CoordinationError(`${names.coordinator} must be HOST:PORT (process 0's address and a port in 1..65535), got '${coordinator}'`, 'INVALID_ARGUMENT');
  }
  if (numProcesses === 1) return undefined;
  return { coordinator, processId, numProcesses, source };
}

/** The first host of a SLURM node list: 'node001', 'node001,host2', 'node[001-015],host2', 'node[001,007-015]'. */
export function firstSlurmHost(list: string): string {
  const i = list.search(/[,[]/);
  if (i < 0 || list[i] === ',') return i < 0 ? list : list.slice(0, i);
  const rest = list.slice(i + 1);
  const j = rest.search(/[,\-\]]/);
  return list.slice(0, i) + (j < 0 ? rest : rest.slice(0, j));
}

/** A port in [61440, 65535] from a job id, as JAX picks one (so every process of the job agrees without talking). */
export function portFromJobId(id: number): number {
  return (id % 4096) + (65535 - 4096 + 1);
}

type Env = Readonly<Record<string, string | undefined>>;

function fromSlurm(env: Env): ProcessPlan | undefined {
  if (env.SLURM_JOB_ID === undefined) return undefined;
  const nodes = env.SLURM_STEP_NODELIST ?? env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
  if (env.SLURM_NTASKS === undefined || env.SLURM_PROCID === undefined || !nodes) return undefined; // not inside srun
  const port = portFromJobId(intOf(env.SLURM_JOB_ID, 'SLURM_JOB_ID', 0));
  return checkPlan({ coordinator: `${firstSlurmHost(nodes)}:${port}`, numProcesses: env.SLURM_NTASKS, processId: env.SLURM_PROCID },
    { coordinator: 'SLURM_STEP_NODELIST', numProcesses: 'SLURM_NTASKS', processId: 'SLURM_PROCID' }, 'slurm');
}

function fromOpenMpi(env: Env): ProcessPlan | undefined {
  const uri = env.OMPI_MCA_orte_hnp_uri;
  if (uri === undefined) return undefined;
  // e.g. 1531576320.0;tcp://10.96.0.1,10.148.0.1:34911 or ...;tcp6://[fe80::1,2620::2]:43370
  const job = Number(uri.split('.')[0]);
  const ip = /tcp:\/\/(.+?)[,:]|tcp6:\/\/\[(.+?)[,\]]/.exec(uri);
  if (!Number.isInteger(job) || !ip) throw new CoordinationError(`cannot read the launcher's address from OMPI_MCA_orte_hnp_uri='${uri}'`, 'INVALID_ARGUMENT');
  const host = ip[1] ?? `[${ip[2]}]`;
  const port = portFromJobId(Math.floor(job / 4096));
  return checkPlan({ coordinator: `${host}:${port}`, numProcesses: env.OMPI_COMM_WORLD_SIZE, processId: env.OMPI_COMM_WORLD_RANK },
    { coordinator: 'OMPI_MCA_orte_hnp_uri', numProcesses: 'OMPI_COMM_WORLD_SIZE', processId: 'OMPI_COMM_WORLD_RANK' }, 'openmpi');
}

function fromTpuEnv(env: Env): ProcessPlan | undefined {
  const hosts = env.TPU_WORKER_HOSTNAMES ?? env.TPU_PROCESS_ADDRESSES;
  if (!hosts || env.TPU_WORKER_ID === undefined) return undefined;
  const list = hosts.split(',').map((h) => h.trim()).filter(Boolean);
  const slices = env.MEGASCALE_NUM_SLICES ? intOf(env.MEGASCALE_NUM_SLICES, 'MEGASCALE_NUM_SLICES', 1) : 1;
  const slice = env.MEGASCALE_SLICE_ID ? intOf(env.MEGASCALE_SLICE_ID, 'MEGASCALE_SLICE_ID', 0) : 0;
  const head = (env.MEGASCALE_COORDINATOR_ADDRESS ?? list[0]!).split(':')[0]!;
  const worker = intOf(env.TPU_WORKER_ID, 'TPU_WORKER_ID', 0);
  return checkPlan({ coordinator: `${head}:${TPU_COORDINATOR_PORT}`, numProcesses: list.length * slices, processId: slice * list.length + worker },
    { coordinator: 'TPU_WORKER_HOSTNAMES', numProcesses: 'TPU_WORKER_HOSTNAMES', processId: 'TPU_WORKER_ID' }, 'tpu');
}

/** The GCE metadata server of a Cloud TPU VM (2 s per question): the slice's workers and this one's number. */
async function fromTpuMetadata(env: Env): Promise<ProcessPlan | undefined> {
  const base = `http://${env.GCE_METADATA_IP ?? 'metadata.google.internal'}/computeMetadata/v1/instance/attributes`;
  const ask = async (key: string): Promise<string | undefined> => {
    try {
      const r = await fetch(`${base}/${key}`, { headers: { 'Metadata-Flavor': 'Google' }, signal: AbortSignal.timeout(2000) });
      return r.ok ? (await r.text()).trim() : undefined;
    } catch {
      return undefined;
    }
  };
  const [endpoints, worker] = await Promise.all([ask('worker-network-endpoints'), ask('agent-worker-number')]);
  if (!endpoints || worker === undefined) return undefined;
  // Each endpoint is "<id>:<name>:<ip>"; the first worker's ip is the coordinator.
  const ips = endpoints.split(',').map((e) => e.split(':')[2]).filter((ip): ip is string => !!ip);
  if (ips.length === 0) return undefined;
  return checkPlan({ coordinator: `${ips[0]}:${TPU_COORDINATOR_PORT}`, numProcesses: ips.length, processId: worker },
    { coordinator: 'worker-network-endpoints', numProcesses: 'worker-network-endpoints', processId: 'agent-worker-number' }, 'tpu');
}

export interface ResolveOptions {
  /** The target the run is for: the TPU metadata server is asked only for tpu on a machine with a TPU. */
  target?: string;
  env?: Env;
  /** Ask the GCE metadata server on a TPU VM (default true). */
  metadata?: boolean;
}

/**
 * This process's plan: flags first, then FLIP_* variables (with FLIP_LAUNCH=1, set by `flip launch`, the source is
 * 'launch'), then the cluster's environment. undefined for a single-process run. Bad values throw one-line
 * CoordinationErrors (INVALID_ARGUMENT).
 */
export async function resolveProcessPlan(flags: ProcessFlags = {}, opts: ResolveOptions = {}): Promise<ProcessPlan | undefined> {
  const env = opts.env ?? process.env;
  const flagNames = { coordinator: '--coordinator', numProcesses: '--num-processes', processId: '--process-id' };
  if ([flags.coordinator, flags.numProcesses, flags.processId].some((v) => v !== undefined)) return checkPlan(flags, flagNames, 'flags');
  const fromEnv = { coordinator: env.FLIP_COORDINATOR, numProcesses: env.FLIP_NUM_PROCESSES, processId: env.FLIP_PROCESS_ID };
  if (Object.values(fromEnv).some((v) => v !== undefined)) {
    return checkPlan(fromEnv, { coordinator: 'FLIP_COORDINATOR', numProcesses: 'FLIP_NUM_PROCESSES', processId: 'FLIP_PROCESS_ID' }, env.FLIP_LAUNCH === '1' ? 'launch' : 'env');
  }
  const found = fromTpuEnv(env) ?? fromSlurm(env) ?? fromOpenMpi(env);
  if (found || env.SLURM_JOB_ID !== undefined || env.OMPI_MCA_orte_hnp_uri !== undefined) return found;
  if (opts.target === 'tpu' && opts.metadata !== false && hasTpuDevice()) return fromTpuMetadata(env);
  return undefined;
}
