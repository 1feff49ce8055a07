// `flip`: the training CLI. Argument parsing only; each command lives in bin/commands/.
import { main } from './cli.ts';

await main('flip', {
  cache: () => import('./commands/cache.ts').then((m) => m.default),
  data: () => import('./commands/data.ts').then((m) => m.default),
  eval: () => import('./commands/eval.ts').then((m) => m.default),
  export: () => import('./commands/export.ts').then((m) => m.default),
  launch: () => import('./commands/launch.ts').then((m) => m.default),
  plot: () => import('./commands/plot.ts').then((m) => m.default),
  plugins: () => import('./commands/plugins.ts').then((m) => m.default),
  run: () => import('./commands/train_run.ts').then((m) => m.default),
});
