// docs/DESIGN.md's rooms: a part imports only parts listed above it in the table (or itself). The order is read from
// the table, every relative import of every source file is checked against it.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../compiler/load/index.ts';

const table = readFileSync(path.join(REPO_ROOT, 'docs', 'DESIGN.md'), 'utf8');
const rooms = [...table.matchAll(/^\| `([a-z/_-]+)` \|/gm)].map((m) => m[1]!);

function sources(dir: string): string[] {
  return readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : sources(rel);
    return /\.(ts|mts|mjs)$/.test(e.name) ? [rel] : [];
  });
}

/** The room of a repo-relative path: the longest folder of the table it lies in. */
function roomOf(file: string): string | undefined {
  return rooms.filter((r) => file === r || file.startsWith(`${r}/`)).sort((a, b) => b.length - a.length)[0];
}

describe('docs/DESIGN.md rooms', () => {
  it('lists every top-level folder of the repo', () => {
    // The folders git tracks (ignored outputs such as out/, kit/, dist/ or runs/ are nobody's room).
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 << 20 }).split('\0');
    const top = [...new Set(tracked.filter((f) => f.includes('/')).map((f) => f.split('/')[0]!))].filter((d) => !d.startsWith('.'));
    const missing = top.filter((d) => !rooms.some((r) => r === d || r.startsWith(`${d}/`)));
    expect(missing).toEqual([]);
    expect(rooms.length).toBeGreaterThan(15);
  });

  it('every import points up the table', () => {
    const bad: string[] = [];
    for (const room of rooms.filter((r) => r !== 'test')) {
      for (const file of sources(room)) {
        if (roomOf(file) !== room) continue;
        const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
        for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
          const spec = m[1] ?? m[2]!;
          const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
          const to = roomOf(target);
          if (!to) continue;
          if (rooms.indexOf(to) > rooms.indexOf(room)) bad.push(`${file} imports ${target} (${room} → ${to})`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
