// Node module hooks for a user's TypeScript (a model, a config) loaded by the CLIs; registered by ts_import.ts (when
// flip runs compiled) or bin/start.mjs (when it runs its sources through tsx), after tsx's own hooks. Plain JS: they
// run in Node's loader thread.
//
//  - `flip-xla` and `flip-xla/<path>` name flip's own modules from anywhere, a folder outside the checkout included
//    (package.json "exports" says the same for TypeScript and for installs): `flip-xla` is dsl/index.ts,
//    `flip-xla/dsl/random` is dsl/random.ts, `flip-xla/dsl` and `flip-xla/dsl/nn` are the folders' index.ts.
//  - A user's .ts file is an ES module wherever it lies. (tsx follows the nearest package.json, so a model in a
//    folder without one `"type": "module"` was compiled to CommonJS, and its imports of flip failed with
//    ERR_REQUIRE_CYCLE_MODULE.)
//  - When flip runs compiled, its own modules resolve to dist/ even when a user's file imports the .ts (`../dsl/index.ts`,
//    `flip-xla/dsl`): the user's model and flip's compiler must share one instance of compiler/trace and dsl/ (the
//    active trace lives in module state). bin/start.mjs has checked that dist/ is as new as the sources.
import fs from 'node:fs';

let root = ''; // file:///…/flip/ (with the slash)
let compiledRoots = []; // folders compiled into dist/ ('compiler', 'dsl', ...), when flip runs compiled
const NAME = 'flip-xla';

export function initialize(data) {
  root = data.root;
  compiledRoots = data.compiled ?? [];
}

function ownModule(specifier) {
  const sub = specifier === NAME ? 'dsl' : specifier.slice(NAME.length + 1);
  const candidates = [`${sub}.ts`, `${sub}/index.ts`];
  if (sub.endsWith('.ts') || sub.endsWith('.js')) candidates.unshift(`${sub.slice(0, -3)}.ts`);
  for (const c of candidates) {
    const url = new URL(c, root);
    if (url.href.startsWith(root) && fs.existsSync(url)) return url.href;
  }
  return undefined;
}

export async function resolve(specifier, context, next) {
  if (specifier === NAME || specifier.startsWith(`${NAME}/`)) {
    const url = ownModule(specifier);
    if (!url) throw Object.assign(new Error(`Cannot find module '${specifier}': flip has no module ${specifier.slice(NAME.length) || '/dsl'}(.ts)`), { code: 'ERR_MODULE_NOT_FOUND' });
    return place({ url, format: 'module', shortCircuit: true });
  }
  return place(await next(specifier, context));
}

function place(r) {
  const url = r.url;
  if (!url.startsWith('file:') || !/\.[cm]?ts$/.test(url) || url.includes('/node_modules/')) return r;
  if (url.startsWith(root) && url.endsWith('.ts')) {
    const rel = url.slice(root.length);
    if (compiledRoots.some((d) => rel.startsWith(`${d}/`))) {
      const dist = new URL(`dist/${rel.slice(0, -3)}.js`, root);
      if (fs.existsSync(dist)) return { url: dist.href, format: 'module', shortCircuit: true };
    }
  }
  return url.endsWith('.cts') ? r : { ...r, format: 'module' };
}
