// The npm package is named flip-xla: `flip` on the registry is someone else's package, which `npx flip` outside the
// checkout would fetch. The commands stay `flip` and `flipc`; package-lock.json agrees with package.json.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const json = (f: string) => JSON.parse(readFileSync(path.join(root, f), 'utf8')) as { name: string; bin?: Record<string, string>; packages?: Record<string, { name?: string }> };

describe('package identity', () => {
  it('is flip-xla with the bins flip and flipc', () => {
    const pkg = json('package.json');
    expect(pkg.name).toBe('flip-xla');
    expect(pkg.bin).toEqual({ flip: 'bin/flip.js', flipc: 'bin/flipc.js' });
    const lock = json('package-lock.json');
    expect([lock.name, lock.packages?.['']?.name]).toEqual(['flip-xla', 'flip-xla']);
  });
});
