// Bad paths given to the CLIs are one line and exit status 2, never a stack trace, with nothing left behind:
// a missing model or config file, a config that is not a module, an output folder that is a file, a workdir
// in or under a file; and the file system's own refusals (read-only, no permission, a file in the way).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemError } from '../../bin/cli.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-cli-errors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = path.join(tmp, 'a-file');
writeFileSync(file, 'x');

function cli(bin: 'flip' | 'flipc', ...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, `bin/${bin}.js`), ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
  return [r.status, r.stdout, r.stderr];
}

const mlp = path.join(root, 'examples/mlp.ts');

describe('bad paths: one line, exit 2', () => {
  it('flipc compile: a missing model or config file, a config that is not a module, --dump-partitioned or -o in the way', () => {
    expect(cli('flipc', 'compile', path.join(tmp, 'nope.ts'))).toEqual([2, '', `flipc compile: model file ${path.join(tmp, 'nope.ts')}: no such file\n`]);
    expect(cli('flipc', 'compile', mlp, '--config', 'nope.ts')).toEqual([2, '', 'flipc compile: --config nope.ts: no such file\n']);
    expect(cli('flipc', 'compile', mlp, '--config', path.join(root, 'README.md'))).toEqual([2, '',
      `flipc compile: --config ${path.join(root, 'README.md')} is not a TypeScript or JavaScript module (.ts, .mts, .cts, .js, .mjs, .cjs)\n`]);
    expect(cli('flipc', 'compile', mlp, '--mesh', 'data=2', '--dump-partitioned', file)).toEqual([2, '', `flipc compile: --dump-partitioned ${file} is a file; give a folder\n`]);
    mkdirSync(path.join(tmp, 'a-folder'));
    expect(cli('flipc', 'compile', mlp, '-o', path.join(tmp, 'a-folder'))).toEqual([2, '', `flipc compile: -o ${path.join(tmp, 'a-folder')} is a folder; give a file name\n`]);
    expect(readdirSync(tmp).sort()).toEqual(['a-file', 'a-folder']);
  });

  it('flip run: a workdir that is a file, or under one', () => {
    expect(cli('flip', 'run', '--workdir', file)).toEqual([2, '', `flip run: --workdir ${file}: ${file} is a file, not a folder; give another --workdir\n`]);
    expect(cli('flip', 'run', '--workdir', path.join(file, 'sub'))).toEqual([2, '', `flip run: --workdir ${path.join(file, 'sub')}: ${file} is a file, not a folder; give another --workdir\n`]);
  });

  it("the file system's refusals are one line naming the call, the path and the reason", () => {
    let err: unknown;
    try {
      mkdirSync(path.join(file, 'sub'), { recursive: true });
    } catch (e) {
      err = e;
    }
    expect(systemError(err)).toBe(`cannot mkdir ${path.join(file, 'sub')}: a file is in the way (not a folder) (ENOTDIR)`);
    expect(systemError(new Error('a bug'))).toBeNull();
  });
});
