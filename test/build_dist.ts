// vitest's global setup: the tests that spawn bin/flip.js and bin/flipc.js exercise the compiled JS (dist/), so it must
// be as new as the sources under test (a developer's edit since `npm ci`); scripts/build_js.mjs is a no-op when it is.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '..');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build_js.mjs')], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build_js.mjs failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
}
