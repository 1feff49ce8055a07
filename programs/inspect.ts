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

/** The report as text: figures first as `//` comment lines (so the HLO below stays readable), then the module. */
export function formatOptimized(r: OptimizedReport): string {
  const lines = [`// XLA optimized HLO (${r.platform})`];
  const fmt = (v: number) => (Math.abs(v) >= 1e6 ? v.toExponential(3) : String(v));
  if (r.cost) lines.push(`// cost: ${Object.entries(r.cost).map(([k, v]) => `${k}=${fmt(v)}`).join(', ')}`);
  else lines.push('// cost: not reported by this plugin');
  if (r.memory) lines.push(`// memory (bytes): ${Object.entries(r.memory).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  else lines.push('// memory: not reported by this plugin');
  return `${lines.join('\n')}\n${r.hlo}${r.hlo.endsWith('\n') ? '' : '\n'}`;
}
