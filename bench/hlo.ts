// What an optimized HLO module is made of (XLA's text form, flip's via programs/inspect.ts optimizedHlo(exe), JAX's via
// `compiled.as_text()`): instruction counts by opcode, fusions in the entry computation, f64 values. The bench
// prints these side by side so that a gap in step time can be traced to a difference in the programs XLA runs.

export interface HloSummary {
  /** Instructions in all computations (fused ones included). */
  instructions: number;
  /** Instructions of the entry computation (what the runtime dispatches, one thunk each roughly). */
  entryInstructions: number;
  /** Fusion calls in the entry computation. */
  fusions: number;
  dots: number;
  convolutions: number;
  transposes: number;
  copies: number;
  gathers: number;
  scatters: number;
  sorts: number;
  customCalls: number;
  /** Instructions with an f64 value (a sign of an f64 leak). */
  f64: number;
}

const OPCODE = /=\s*(?:\([^=]*?\)|[a-z0-9]+\[[^\]]*\](?:\{[^}]*\})?|[a-z0-9]+\[\]|token\[\])\s+([a-z][a-z0-9_.-]*)\(/;

/** The opcode of one instruction line, or null for a line that is not an instruction. */
export function opcodeOf(line: string): string | null {
  const m = OPCODE.exec(line);
  return m ? m[1]! : null;
}

export function summarizeHlo(text: string): HloSummary {
  const counts = new Map<string, number>();
  let instructions = 0, entryInstructions = 0, fusions = 0, f64 = 0;
  let inEntry = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('ENTRY ')) {
      inEntry = true;
      continue;
    }
    if (line === '}') inEntry = false;
    const op = opcodeOf(line);
    if (!op) continue;
    instructions++;
    counts.set(op, (counts.get(op) ?? 0) + 1);
    if (/\bf64\[/.test(line)) f64++;
    if (inEntry) {
      entryInstructions++;
      if (op === 'fusion') fusions++;
    }
  }
  const n = (op: string) => counts.get(op) ?? 0;
  return {
    instructions, entryInstructions, fusions, dots: n('dot'), convolutions: n('convolution'), transposes: n('transpose'),
    copies: n('copy'), gathers: n('gather'), scatters: n('scatter'), sorts: n('sort'), customCalls: n('custom-call'), f64,
  };
}
