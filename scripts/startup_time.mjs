#!/usr/bin/env node
// Start-up time of the CLIs: the median wall time of N runs of each command (default 10), as README reports it, next
// to a bare `node -e 0` (the floor on this machine). Other checkouts (e.g. an older commit's worktree) given as
// arguments are measured interleaved with this one, run for run, so that both see the same machine load.
//   node scripts/startup_time.mjs [--runs N] [checkout ...]
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const at = args.indexOf('--runs');
const runs = at >= 0 ? Number(args.splice(at, 2)[1]) : 10;
if (!Number.isInteger(runs) || runs < 1) { console.error('startup_time: --runs takes a positive integer'); process.exit(2); }
const roots = [root, ...args.map((a) => path.resolve(a))];
const commands = [
  ['-e', '0'],
  ['bin/flip.js', '--help'],
  ['bin/flipc.js', '--help'],
  ['bin/flip.js', 'plugins'],
];
const stats = (times) => {
  const runs = times.length;
  times.sort((a, b) => a - b);
  return `median ${((times[(runs - 1) >> 1] + times[runs >> 1]) / 2).toFixed(0).padStart(5)} ms (min ${times[0].toFixed(0)}, max ${times[runs - 1].toFixed(0)})`;
};
for (const argv of commands) {
  const times = roots.map(() => []);
  for (let i = 0; i < runs; i++) {
    roots.forEach((cwd, k) => {
      if (argv[0] === '-e' && k > 0) return; // the floor: one checkout is enough
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, argv, { cwd, encoding: 'utf8' });
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.status !== 0) { console.error(`${cwd}: node ${argv.join(' ')}: exit ${r.status}\n${r.stderr}`); process.exit(1); }
      if (i === 0 && r.stderr.trim()) console.error(`${cwd}: node ${argv.join(' ')}: ${r.stderr.trim()}`);
    });
  }
  roots.forEach((cwd, k) => {
    if (!times[k].length) return;
    const label = `node ${argv.join(' ')}`.padEnd(24);
    console.log(`${label} ${stats(times[k])}  ${roots.length > 1 ? path.relative(process.cwd(), cwd) || '.' : ''}`);
  });
}
console.log(`${runs} runs each, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
