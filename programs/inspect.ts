// What XLA made of a module: compile it through a plugin and report the optimized HLO with its cost and memory figures.
import type { Program } from '../compiler/lower/index.ts';
import { openClient, type Executable, type OpenClientOptions } from '../runtime-native/index.ts';
import { compileProgram } from './compile.ts';
import { optimizedHloText } from './hlo.ts';

/** The optimized HLO module of an executable as text (decoded from the HloModuleProto the plugin returns). */
export function optimizedHlo(exe: Executable): string {
  const p = exe.optimizedProgram();
  return optimizedHloText(p.format, p.code);
}

export interface OptimizedReport {
  /** XLA's optimized HLO module (fusions, layouts), in HLO text syntax. */
  hlo: string;
  cost: Record<string, number> | null;
  memory: Record<string, number | undefined> | null;
  platform: string;
}

export async function compileOptimized(program: Program, opts: Pick<OpenClientOptions, 'target' | 'plugin'> = {}): Promise<OptimizedReport> {
  const client = await openClient(opts);
  try {
    const exe = await compileProgram(client, program, { cache: false });
    const memory = exe.memoryStats();
    const platform = `${client.plugin.target}, ${client.devices[0]?.kind ?? 'no device'}, ${client.plugin.path}`;
    return { hlo: optimizedHlo(exe), cost: exe.costAnalysis(), memory: memory ? { ...memory } : null, platform };
  } finally {
    client.dispose();
  }
}

/** XLA's cost figures a reader wants first, in this order (the rest: `all`). */
export const MAIN_COSTS = ['flops', 'bytes accessed', 'transcendentals', 'optimal_seconds'] as const;

/** 2656 → `2,656`; large or fractional values in exponent form. */
function figure(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  return Math.abs(v) >= 1e6 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(+v.toPrecision(6));
}

/** `// name   value` lines, names padded to one column. */
function table(rows: [string, number][]): string[] {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `//   ${k.padEnd(w)}  ${figure(v)}`);
}

/**
 * The report as text: figures first as `//` comment lines (so the HLO below stays readable), then the module. The
 * cost analysis shows flops, bytes accessed, transcendentals and optimal seconds, one a line; `all` adds the other
 * figures XLA reports (per-operand bytes accessed, utilization) and every memory figure, zeros included.
 */
export function formatOptimized(r: OptimizedReport, opts: { all?: boolean } = {}): string {
  const lines = [`// XLA optimized HLO (${r.platform})`];
  if (r.cost) {
    const cost = r.cost;
    const main = MAIN_COSTS.filter((k) => k in cost).map((k): [string, number] => [k, cost[k]!]);
    const rest = Object.keys(cost).filter((k) => !(MAIN_COSTS as readonly string[]).includes(k)).sort().map((k): [string, number] => [k, cost[k]!]);
    lines.push('// cost (XLA cost analysis, one run):', ...table(opts.all ? [...main, ...rest] : main));
    if (!opts.all && rest.length) lines.push(`//   (${rest.length} more figures: --all-costs)`);
  } else lines.push('// cost: not reported by this plugin');
  if (r.memory) {
    const mem = Object.entries(r.memory).filter((e): e is [string, number] => e[1] !== undefined && (opts.all || e[1] !== 0));
    const name = (k: string) => k.replace(/InBytes$/, '').replace(/([A-Z])/g, ' $1').toLowerCase();
    lines.push('// memory (bytes):', ...table(mem.map(([k, v]) => [name(k), v])));
    if (!opts.all && mem.length < Object.keys(r.memory).length) lines.push('//   (zero figures left out: --all-costs)');
  } else lines.push('// memory: not reported by this plugin');
  return `${lines.join('\n')}\n${r.hlo}${r.hlo.endsWith('\n') ? '' : '\n'}`;
}
