// `npm run bench` finds a Python >= 3.12 for its JAX half as a newcomer's machine has one: on PATH, or only under
// pyenv or uv (where a pyenv shim on PATH fails), 3.12 first; when there is none it says in one line how to point at one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BenchError, findPython, pythonCandidates } from '../../bench/jax_half.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-bench-python-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function install(root: string, version: string, withBinary = true): string {
  const bin = path.join(root, version, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  const exe = path.join(bin, 'python3');
  if (withBinary) fs.writeFileSync(exe, '');
  return exe;
}

describe('the bench finds its Python', () => {
  it('looks on PATH, then in pyenv\'s and uv\'s folders: 3.12 first, newest patch first, then newer minors; never below 3.12', () => {
    const pyenv = path.join(tmp, 'pyenv'), data = path.join(tmp, 'data');
    install(path.join(pyenv, 'versions'), '3.11.7');
    const p3121 = install(path.join(pyenv, 'versions'), '3.12.1');
    const p31210 = install(path.join(pyenv, 'versions'), '3.12.10');
    const p313 = install(path.join(pyenv, 'versions'), '3.13.0');
    install(path.join(pyenv, 'versions'), '3.14.0', false); // a folder without its interpreter
    const uv = install(path.join(data, 'uv', 'python'), 'cpython-3.12.4-linux-x86_64-gnu');
    expect(pythonCandidates({ PYENV_ROOT: pyenv, XDG_DATA_HOME: data }, path.join(tmp, 'home'))).toEqual([
      'python3.12', 'python3.13', 'python3', p31210, p3121, p313, uv,
    ]);
    // Without PYENV_ROOT / XDG_DATA_HOME: the home folder's ~/.pyenv and ~/.local/share/uv.
    const home = path.join(tmp, 'home2');
    const h = install(path.join(home, '.pyenv', 'versions'), '3.12.2');
    expect(pythonCandidates({}, home)).toEqual(['python3.12', 'python3.13', 'python3', h]);
  });

  it('none usable: one line that says how to point at one', () => {
    const nowhere = { PATH: path.join(tmp, 'empty-path'), PYENV_ROOT: path.join(tmp, 'no-pyenv'), XDG_DATA_HOME: path.join(tmp, 'no-data') };
    expect(() => findPython(nowhere, path.join(tmp, 'no-home'))).toThrow(BenchError);
    expect(() => findPython(nowhere, path.join(tmp, 'no-home'))).toThrow(/^the JAX side needs Python >= 3\.12 .*found none .*set FLIP_BENCH_PYTHON=\/path\/to\/python3\.12, or run with --skip-jax/);
    // An interpreter that is not one (here an empty file from the folders above): named, with what to do.
    const fake = path.join(tmp, 'pyenv', 'versions', '3.12.1', 'bin', 'python3');
    expect(() => findPython({ ...nowhere, FLIP_BENCH_PYTHON: fake }, tmp)).toThrow(`FLIP_BENCH_PYTHON=${fake} is not a Python >= 3.12 with venv (JAX 0.11.2 requires 3.12): point it at one, or run with --skip-jax.`);
    const pyenvOnly = { ...nowhere, PYENV_ROOT: path.join(tmp, 'pyenv') };
    // Candidates that exist but do not run are passed over, not taken.
    expect(() => findPython(pyenvOnly, tmp)).toThrow(/found none/);
  });
});
