// `flip plugins`: list the PJRT plugins flip can use (attributes, devices), or install one.
import type { Command } from '../cli.ts';
import { installPlugin, pluginReport, PluginError, TARGETS, type CudaVersion, type PluginReport, type Target } from '../../runtime-native/index.ts';

function versionText(v: unknown): string {
  return Array.isArray(v) ? v.join('.') : String(v);
}

function format(r: PluginReport): string {
  const head = r.installed ? `${r.target}  ${r.installed.package} ${r.installed.version}` : r.path ? `${r.target}  ${r.path}` : `${r.target}  not installed`;
  const lines = [head];
  if (r.path) lines.push(`     path: ${r.path}${r.source && r.source !== 'cache' ? ` (from ${r.source === 'option' ? '--plugin' : r.source})` : ''}`);
  if (r.apiVersion) {
    const a = r.attributes ?? {};
    const parts = [`PJRT C API ${r.apiVersion}`];
    if (a.xla_version !== undefined) parts.push(`xla_version ${versionText(a.xla_version)}`);
    if (a.stablehlo_current_version !== undefined) {
      parts.push(`StableHLO ${versionText(a.stablehlo_current_version)}` + (a.stablehlo_minimum_version !== undefined ? ` (reads >= ${versionText(a.stablehlo_minimum_version)})` : ''));
    }
    lines.push(`     ${parts.join(', ')}`);
    const rest = Object.entries(a).filter(([k]) => !['xla_version', 'stablehlo_current_version', 'stablehlo_minimum_version'].includes(k));
    if (rest.length) lines.push(`     attributes: ${rest.map(([k, v]) => `${k}=${versionText(v)}`).join(', ')}`);
  }
  if (r.devices) {
    lines.push(`     platform ${r.platform?.name} ${r.platform?.version}; ${r.devices.length} device(s):`);
    for (const d of r.devices) lines.push(`       [${d.index}] id ${d.id} ${d.kind}: ${d.description}`);
  }
  if (r.error) lines.push(`     ${r.error}`);
  return lines.join('\n');
}

const command: Command = {
  summary: 'list PJRT plugins (attributes, devices) or install one: plugins install cpu|gpu|tpu',
  help: `usage: flip plugins [--plugin <path>] [--target cpu|gpu|tpu]
       flip plugins install cpu [--build xla|lammps] [--version <v> [--sha256 <hex>]]
       flip plugins install gpu|tpu [--cuda 12|13] [--version <v>]

Without arguments, lists each target's plugin: where it is, the PJRT C API version, the plugin's
own attributes (xla_version, StableHLO versions) and the devices it sees on this machine.

install fetches a plugin from PyPI with pip into flip's cache ($FLIP_CACHE_DIR, default
~/.cache/flip/pjrt): cpu = one of the two pinned CPU builds, xla (xla-cpu-pjrt 0.0.1) or lammps
(lammps-jax-pjrt-cpu 0.11.2, built from jaxlib 0.11.2's XLA); npm install installs xla and the
default build (docs/runtime.md). A cpu --version that flip does not pin is installed only with
its wheel's --sha256. gpu = jax-cuda13-pjrt (or --cuda 12: jax-cuda12-pjrt) with the nvidia-*
CUDA wheels it needs, tpu = libtpu.

FLIP_CPU_BUILD=xla|lammps picks the CPU build a run uses; PJRT_PLUGIN_PATH or --plugin <path>
use another plugin .so instead of the cached one.`,
  options: {
    plugin: { type: 'string' },
    target: { type: 'string' },
    cuda: { type: 'string' },
    version: { type: 'string' },
    build: { type: 'string' },
    sha256: { type: 'string' },
  },
  async run({ values, positionals }) {
    const target = values.target as Target | undefined;
    if (target !== undefined && !TARGETS.includes(target)) throw new PluginError(`unknown target '${target}': use one of ${TARGETS.join(', ')}`, 'INVALID_ARGUMENT');
    if (positionals[0] === 'install') {
      const which = positionals[1] as Target | undefined;
      if (!which || !TARGETS.includes(which)) throw new PluginError(`say which plugin to install: flip plugins install ${TARGETS.join('|')}`, 'INVALID_ARGUMENT');
      const cuda = values.cuda as string | undefined;
      if (cuda !== undefined && cuda !== '12' && cuda !== '13') throw new PluginError(`--cuda must be 12 or 13, got ${cuda}`, 'INVALID_ARGUMENT');
      const opt = (k: string) => (values[k] === undefined ? {} : { [k]: values[k] as string });
      await installPlugin(which, { cuda: cuda as CudaVersion | undefined, ...opt('version'), ...opt('build'), ...opt('sha256') });
      return 0;
    }
    if (positionals.length) throw new PluginError(`unknown argument '${positionals[0]}' (flip plugins --help)`, 'INVALID_ARGUMENT');
    const reports = await pluginReport({ plugin: values.plugin as string | undefined, target });
    console.log(reports.map(format).join('\n\n'));
    return reports.some((r) => r.devices) ? 0 : 1;
  },
};

export default command;
