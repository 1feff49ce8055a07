// What an optimized HLO module moves through memory, per run: for each instruction of the entry computation
// (fusions, dots, copies, ...), the bytes of its operands plus the bytes of its result, as if each were read and
// written once (a fused computation reading a slice of a large operand counts the whole operand). A memory-bound
// step's time follows these sums more closely than instruction counts. Reads the HLO text files the bench writes
// (out/bench/cpu/hlo/{flip,jax}_train_step_mask*.hlo.txt) or programs/inspect.ts's optimizedHlo.
// Usage: npx tsx bench/profile/hlo_bytes.ts FILE.hlo.txt [OTHER.hlo.txt]   (two files: side by side)
import { readFileSync } from 'node:fs';
import path from 'node:path';

const DTYPE_BYTES: Record<string, number> = { f32: 4, s32: 4, u32: 4, bf16: 2, f16: 2, pred: 1, s8: 1, u8: 1, s64: 8, u64: 8, f64: 8 };
const FREE = new Set(['parameter', 'get-tuple-element', 'tuple', 'bitcast', 'constant']);

/** Bytes of an HLO shape string (a tuple counts its elements). */
function shapeBytes(shape: string): number {
  let total = 0;
  for (const m of shape.matchAll(/(\w+)\[([\d,]*)\]/g)) {
    const b = DTYPE_BYTES[m[1]!];
    if (b === undefined) continue;
    total += (m[2] ? m[2].split(',').map(Number) : []).reduce((a, d) => a * d, 1) * b;
  }
  return total;
}

export interface HloBytes {
  total: number;
  byKind: Map<string, { count: number; bytes: number }>;
  /** The entry's fusion with the most operands, scalar results left out (sums of scalars): its name and operand count. */
  widest: { name: string; operands: number };
  top: { name: string; kind: string; bytes: number; shape: string }[];
}

export function hloBytes(text: string): HloBytes {
  const start = text.indexOf('\nENTRY ');
  if (start < 0) throw new Error('no ENTRY computation in this HLO text');
  const entry = text.slice(start + 1, text.indexOf('\n}', start + 1));
  const shapes = new Map<string, string>();
  const byKind = new Map<string, { count: number; bytes: number }>();
  const rows: HloBytes['top'] = [];
  let widest = { name: '', operands: 0 };
  for (const line of entry.split('\n').slice(1)) {
    const m = /^\s+(?:ROOT )?%([\w.\-]+) = (.*?) ([a-z][\w\-]*)\((.*?)\)(.*)$/.exec(line);
    if (!m) continue;
    const [, name, shape, op, args, rest] = m as unknown as [string, string, string, string, string, string];
    shapes.set(name, shape);
    if (FREE.has(op)) continue;
    const operands = [...args.matchAll(/%([\w.\-]+)/g)].map((a) => a[1]!);
    const bytes = shapeBytes(shape) + operands.reduce((a, o) => a + shapeBytes(shapes.get(o) ?? ''), 0);
    const kind = op === 'fusion' ? `fusion ${/kind=(\w+)/.exec(rest)?.[1] ?? ''}` : op;
    const k = byKind.get(kind) ?? { count: 0, bytes: 0 };
    byKind.set(kind, { count: k.count + 1, bytes: k.bytes + bytes });
    if (op === 'fusion' && /\[\d/.test(shape) && operands.length > widest.operands) widest = { name, operands: operands.length };
    rows.push({ name, kind, bytes, shape: shape.replace(/\{[^}]*\}/g, '') });
  }
  rows.sort((a, b) => b.bytes - a.bytes);
  return { total: rows.reduce((a, r) => a + r.bytes, 0), byKind, widest, top: rows.slice(0, 12) };
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('hlo_bytes.ts')) {
  const files = process.argv.slice(2);
  if (files.length === 0 || files.length > 2) {
    console.error('usage: npx tsx bench/profile/hlo_bytes.ts FILE.hlo.txt [OTHER.hlo.txt]');
    process.exit(2);
  }
  // Piped into head or less that exits early: stop quietly, as other command-line tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));
  const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
  for (const f of files) {
    let r: HloBytes;
    try {
      r = hloBytes(readFileSync(f, 'utf8'));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      console.error(`hlo_bytes: ${f}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
      process.exit(2);
    }
    console.log(`${path.basename(f)}: ${mb(r.total)} read + written by the entry computation's instructions`);
    for (const [kind, k] of [...r.byKind].sort((a, b) => b[1].bytes - a[1].bytes)) console.log(`  ${kind.padEnd(16)} ${String(k.count).padStart(5)}  ${mb(k.bytes)}`);
    console.log(`  widest fusion: ${r.widest.name} (${r.widest.operands} operands)`);
    for (const t of r.top) console.log(`  ${mb(t.bytes).padStart(8)}  ${t.name} ${t.shape}`);
  }
}
