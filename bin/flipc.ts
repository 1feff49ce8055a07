// `flipc`: the compiler CLI. Argument parsing only; each command lives in bin/commands/.
import { main } from './cli.ts';

await main('flipc', {
  compile: () => import('./commands/compile.ts').then((m) => m.default),
  check: () => import('./commands/check.ts').then((m) => m.default),
  run: () => import('./commands/run.ts').then((m) => m.default),
});
