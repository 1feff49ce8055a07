// Importing a user's TypeScript module (a model for flipc compile, a config for flip run) into this process.
//
// A plain dynamic import, not tsx's isolated tsImport: the user's file must share this process's instances of
// compiler/trace and dsl/ (the active trace and the Tensor boxing live in module state). When flip runs from its
// sources (tsx, vitest) a .ts import just works. When it runs compiled (dist/, bin/start.mjs), Node cannot import .ts
// by itself: the first such import registers tsx (loaded only then: it costs ~0.2 s) and hooks.mjs, which resolves
// flip's own modules to dist/ and takes any user .ts for an ES module.
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// scripts/build_js.mjs gives compiled modules their source's import.meta.url (so paths beside a module are the
// checkout's), but leaves import.meta.filename the compiled file's: that tells whether this module runs compiled.
const compiled = /\.js$/.test(import.meta.filename ?? '');
let ready: Promise<void> | undefined;

async function registerLoaders(): Promise<void> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  const build = JSON.parse(readFileSync(path.join(root, 'dist', 'build.json'), 'utf8')) as { roots: string[] };
  register(new URL('./hooks.mjs', import.meta.url), { data: { root: pathToFileURL(root + path.sep).href, compiled: build.roots } });
}

/** Import `file` (a .ts, .mts, .js or .mjs module) as flip's CLIs do. */
export async function importUserModule(file: string): Promise<Record<string, unknown>> {
  const abs = path.resolve(file);
  if (compiled && /\.[cm]?ts$/.test(abs)) await (ready ??= registerLoaders());
  return (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
}
