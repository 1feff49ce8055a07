// `flip`: the training CLI. Argument parsing only; each command lives in bin/commands/. A summary beside a loader lets
// `flip --help` list the commands without importing them (bin/cli.ts `Registration`).
import { main } from './cli.ts';

await main('flip', {
  cache: { summary: 'show the compilation cache (entries, size, folder) or clear it: cache clear', load: () => import('./commands/cache.ts').then((m) => m.default) },
  data: { summary: 'synthetic webdataset shards (synth), data pipeline throughput (bench)', load: () => import('./commands/data.ts').then((m) => m.default) },
  eval: { summary: 'evaluate a checkpoint zero-shot (top-1 / top-5 next to chance) on an image folder or labelled shards', load: () => import('./commands/eval.ts').then((m) => m.default) },
  export: { summary: 'write a flip checkpoint as a t5x checkpoint (or safetensors) with the official names and shapes', load: () => import('./commands/export.ts').then((m) => m.default) },
  launch: { summary: 'start N local processes of one multi-process flip run (flip launch --local N -- <flip run args>)', load: () => import('./commands/launch.ts').then((m) => m.default) },
  plot: { summary: "a PNG of a run's loss and zero-shot accuracy curves (from WORKDIR/metrics.jsonl)", load: () => import('./commands/plot.ts').then((m) => m.default) },
  plugins: { summary: 'list PJRT plugins (attributes, devices) or install one: plugins install cpu|gpu|tpu', load: () => import('./commands/plugins.ts').then((m) => m.default) },
  run: { summary: 'train FLIP and evaluate it zero-shot (default: a small model on synthetic data, on CPU)', load: () => import('./commands/train_run.ts').then((m) => m.default) },
});
