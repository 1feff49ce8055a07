// The DSL's types make common mistakes tsc errors: type-check a bad file (each bad line says which error it expects)
// and a good file (no diagnostics) with ts-morph, using the repo's tsconfig options.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project, ts } from 'ts-morph';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// One program for both files: the DSL's sources are parsed and checked once.
const project = new Project({ tsConfigFilePath: path.join(ROOT, 'tsconfig.json'), skipAddingFilesFromTsConfig: true });
const BAD = 'test/fixtures/bad/dsl_types.ts';
const GOOD = 'test/dsl/fixtures/types_good.ts';
for (const f of [BAD, GOOD]) project.addSourceFileAtPath(path.join(ROOT, f));

function diagnosticsOf(file: string): { line: number; code: number; text: string }[] {
  const source = project.getSourceFileOrThrow(path.join(ROOT, file));
  return source.getPreEmitDiagnostics().map((d) => ({
    line: d.getLineNumber() ?? 0,
    code: d.getCode(),
    text: ts.flattenDiagnosticMessageText(d.compilerObject.messageText, '\n'),
  }));
}

describe('tsc catches DSL mistakes', () => {
  it('reports exactly the expected error on each bad line of test/fixtures/bad/dsl_types.ts, and nothing else', () => {
    const found = diagnosticsOf(BAD);
    const lines = readFileSync(path.join(ROOT, BAD), 'utf8').split('\n');
    const expected = lines.flatMap((l, i) => {
      const m = / \/\/ TS(\d+): (.+)$/.exec(l);
      return m ? [{ line: i + 1, code: Number(m[1]), fragment: m[2]! }] : [];
    });
    expect(expected.length).toBeGreaterThanOrEqual(15);
    for (const e of expected) {
      const hits = found.filter((d) => d.line === e.line);
      expect(hits, `line ${e.line}: ${lines[e.line - 1]}`).toHaveLength(1);
      expect(hits[0]!.code, `line ${e.line}`).toBe(e.code);
      expect(hits[0]!.text, `line ${e.line}`).toContain(e.fragment);
    }
    const unexpected = found.filter((d) => !expected.some((e) => e.line === d.line));
    expect(unexpected).toEqual([]);
  });

  it('reports nothing for correct code (test/dsl/fixtures/types_good.ts)', () => {
    expect(diagnosticsOf(GOOD)).toEqual([]);
  });
});
