// `flipc`: the compiler CLI. Argument parsing only; each command lives in bin/commands/. A summary beside a loader lets
// `flipc --help` list the commands without importing them (bin/cli.ts `Registration`).
import { main } from './cli.ts';

await main('flipc', {
  compile: { summary: 'compile an exported function of a .ts file to StableHLO text', load: () => import('./commands/compile.ts').then((m) => m.default) },
  check: { summary: 'parse and verify a StableHLO .mlir file', load: () => import('./commands/check.ts').then((m) => m.default) },
  run: { summary: 'run StableHLO .mlir files on a PJRT plugin with safetensors inputs', load: () => import('./commands/run.ts').then((m) => m.default) },
});
