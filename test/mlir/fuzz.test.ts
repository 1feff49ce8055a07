// Mutated corpus text (tokens or characters deleted, duplicated, swapped) never crashes or hangs the
// reader: parse and verify either succeed or throw a FlipError, and what parses also prints back.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlipError } from '../../compiler/ir/errors.ts';
import { parseModule, printModule, verifyModule } from '../../compiler/mlir/index.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/mlir');
// All fixtures but the largest (27 KB): smaller texts give more runs in the time.
const texts = ['.', 'jax-examples', 'jax-extra']
  .flatMap((d) => readdirSync(path.join(FIXTURES, d)).filter((f) => f.endsWith('.mlir') && f !== 'flip_loss_grad.mlir').map((f) => path.join(FIXTURES, d, f)))
  .map((f) => readFileSync(f, 'utf8'));

/** Tokens of MLIR text, whitespace kept as its own pieces so that joining restores the text. */
const pieces = (t: string): string[] => t.match(/\s+|%[\w.$-]+|[#@^!]?[\w.$]+|"(?:[^"\\]|\\.)*"|->|./gs) ?? [];

type Edit = { kind: 'delete' | 'duplicate' | 'swap'; at: number; len: number };

function apply(units: string[], e: Edit): string[] {
  const n = units.length;
  const i = e.at % n;
  const j = Math.min(n, i + e.len);
  const out = units.slice();
  if (e.kind === 'delete') out.splice(i, j - i);
  else if (e.kind === 'duplicate') out.splice(i, 0, ...units.slice(i, j));
  else {
    const k = (i + e.len) % n;
    [out[i], out[k]] = [out[k]!, out[i]!];
  }
  return out;
}

const edit = fc.record({
  kind: fc.constantFrom<Edit['kind']>('delete', 'duplicate', 'swap'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 4 }),
});

const mutation = fc.record({
  text: fc.integer({ min: 0, max: texts.length - 1 }),
  chars: fc.boolean(),
  edits: fc.array(edit, { minLength: 1, maxLength: 3 }),
});

describe('fuzzing the reader with mutated fixtures', () => {
  it('only FlipErrors come out, and nothing hangs', () => {
    let runs = 0;
    let parsed = 0;
    let slowest = 0;
    fc.assert(
      fc.property(mutation, ({ text, chars, edits }) => {
        const src = texts[text]!;
        let units = chars ? [...src] : pieces(src);
        for (const e of edits) units = apply(units, e);
        const mutated = units.join('');
        const t0 = performance.now();
        runs++;
        try {
          const m = parseModule(mutated, { filename: 'fuzz.mlir' });
          verifyModule(m);
          const printed = printModule(m);
          expect(printModule(parseModule(printed))).toBe(printed);
          parsed++;
        } catch (e) {
          if (!isFlipError(e)) {
            throw new Error(`non-FlipError on mutated input: ${String(e)}\n--- input ---\n${mutated.slice(0, 2000)}`);
          }
        }
        slowest = Math.max(slowest, performance.now() - t0);
      }),
      { numRuns: 1_000_000, interruptAfterTimeLimit: Number(process.env.FUZZ_MS ?? 5_000), seed: Number(process.env.FUZZ_SEED ?? 20261128) },
    );
    if (process.env.FUZZ_SEED) console.log({ runs, parsed, slowest });
    expect(runs).toBeGreaterThan(200);
    // Some mutations keep the module valid (e.g. swapping two spaces); most must not.
    expect(parsed).toBeLessThan(runs);
    expect(slowest).toBeLessThan(2_000);
  });
});
