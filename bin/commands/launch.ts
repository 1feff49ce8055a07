// `flip launch`: argument parsing for starting a multi-process run's processes on this machine (runtime-native/launch.ts).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlipError } from '../../compiler/ir/errors.ts';
import { launchLocal } from '../../runtime-native/launch.ts';
import type { Command } from '../cli.ts';

const help = `usage: flip launch --local N [--port P] -- <flip run arguments>

Starts N processes of one multi-process \`flip run\` on this machine: each gets FLIP_COORDINATOR=127.0.0.1:<port>
(a free port unless --port), FLIP_NUM_PROCESSES=N and FLIP_PROCESS_ID=0..N-1; process 0 hosts the coordinator.
Each line a process writes is prefixed with [pI]. When one process fails the others are stopped (SIGTERM, then
SIGKILL after 5 s) and the launch exits with the first failure's status; 0 when all succeed.

On several machines, run \`flip run --coordinator HOST:PORT --num-processes N --process-id I\` on each instead (or
let flip read a TPU VM slice's, SLURM's or Open MPI's environment): see docs/distributed.md.

options:
  --local <n>     how many processes (>= 1)
  --port <p>      the coordinator's port (default: a free one)`;

const command: Command = {
  summary: 'start the N processes of a multi-process flip run on this machine (output prefixed [pI])',
  help,
  options: {
    local: { type: 'string' },
    port: { type: 'string' },
  },
  async run({ values, positionals }) {
    if (values.local === undefined) throw new FlipError('--local N is required (the number of processes to start here)');
    const n = Number(values.local);
    if (!Number.isInteger(n) || n < 1) throw new FlipError(`--local must be a positive integer, got '${String(values.local)}'`);
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new FlipError(`--port must be in 1..65535, got '${String(values.port)}'`);
    const args = positionals[0] === 'run' ? positionals.slice(1) : positionals;
    const clash = args.find((a) => /^--(coordinator|num-processes|process-id)(=|$)/.test(a));
    if (clash) throw new FlipError(`${clash.split('=')[0]} is set by flip launch for each process; leave it out of the run's arguments`);
    const flip = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'flip.js');
    return launchLocal({ processes: n, port, command: [process.execPath, ...process.execArgv, flip, 'run', ...args] });
  },
};

export default command;
