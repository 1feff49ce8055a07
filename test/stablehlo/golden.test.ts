// The StableHLO of the example models, pinned as golden files a reviewer can read. UPDATE_GOLDEN=1 rewrites them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, lowerEntry } from '../../compiler/load/index.ts';

const GOLDEN_DIR = path.join(REPO_ROOT, 'test', 'golden', 'emitter');
const update = process.env['UPDATE_GOLDEN'] === '1';

describe.each([
  ['examples/mlp.ts', 'mlp', 'mlp.mlir'],
  ['examples/attention.ts', 'attention', 'attention.mlir'],
])('%s --entry %s', (file, entry, golden) => {
  it(`matches test/golden/emitter/${golden}`, async () => {
    // Locations are relative to the working directory, as `flipc compile` run from the repo root writes them.
    const cwd = process.cwd();
    process.chdir(REPO_ROOT);
    let text: string;
    try {
      text = (await lowerEntry(file, { entry })).program.mlir;
    } finally {
      process.chdir(cwd);
    }
    const goldenPath = path.join(GOLDEN_DIR, golden);
    if (update) writeFileSync(goldenPath, text);
    expect(existsSync(goldenPath), `${goldenPath} is missing: run UPDATE_GOLDEN=1 npx vitest run test/stablehlo/golden.test.ts`).toBe(true);
    expect(text).toBe(readFileSync(goldenPath, 'utf8'));
    expect(text).toContain(`loc("${file}":`);
  });
});
