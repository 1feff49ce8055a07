// How bin/flip.js and bin/flipc.js start: the compiled JS in dist/ (scripts/build_js.mjs) when it is as new as the
// sources, else the TypeScript sources through tsx, with one line that says so (a developer edited a .ts and did not
// run `npm run build`; or an install that skipped the build). FLIP_TSX=1 runs the sources through tsx without a word
// (development, debugging with the .ts files themselves).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { staleness } from './freshness.mjs';
import { restartForHost } from '../runtime-native/host_start.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Run the CLI `name` (bin/<name>.ts) compiled, or from its sources. */
export async function start(name) {
  // First, before any work or output: a CPU run starts again in place when the process lacks start-up-only settings
  // (one malloc arena, so that the CPU plugin's per-execution buffers are reused: runtime-native/host_start.mjs).
  restartForHost();
  const why = process.env.FLIP_TSX === '1' ? 'FLIP_TSX=1' : staleness(root);
  if (why === null) {
    // Stack traces and the tracer's source locations then name the .ts lines (dist/ carries source maps).
    process.setSourceMapsEnabled(true);
    await import(pathToFileURL(path.join(root, 'dist', 'bin', `${name}.js`)).href);
    return;
  }
  if (why !== 'FLIP_TSX=1') console.error(`${name}: running the TypeScript sources through tsx (slower start-up): ${why}; npm run build compiles them`);
  const { register } = await import('tsx/esm/api');
  register();
  // flip-xla/… imports and user models outside any package (compiler/load/hooks.mjs); nothing is redirected to dist/.
  const { register: registerHooks } = await import('node:module');
  registerHooks(new URL('../compiler/load/hooks.mjs', import.meta.url), { data: { root: pathToFileURL(root + path.sep).href } });
  await import(`./${name}.ts`);
}
