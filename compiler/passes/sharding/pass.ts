// The sharding pass: give every parameter, result and `shard()` constraint of a Func a GSPMD sharding on a mesh.
//
// Why GSPMD (`mhlo.sharding` strings, `custom_call @Sharding`) rather than Shardy (`sdy.mesh`, `sdy.sharding`):
// checked on the xla-cpu-pjrt 0.0.1 plugin (PJRT C API 0.81, StableHLO 1.13.3), both partition, but a Shardy module
// compiles only with `use_shardy_partitioner = true` (without it XLA fails a RET_CHECK on the `xla.sdy.*` custom
// calls), while a GSPMD module compiles under either setting (Shardy falls back to GSPMD). So GSPMD text cannot be
// broken by compile options it travels without (`flipc run`, another tool), it is what every plugin we target
// accepts (older libtpu and CUDA plugins predate Shardy), and it is the notation XLA itself prints in the partitioned
// HLO that `--dump-partitioned` shows, so one notation runs end to end. The IR (ArgInfo.sharding,
// `sharding_constraint`) therefore carries HloSharding strings.
import { FlipError, FuncBuilder, showType, type ArgInfo, type Func, type PrimAttrs, type TensorType, type Value } from '../../ir/index.ts';
import { MeshError, axisSize, showMesh, type Mesh } from './mesh.ts';
import { FLIP_AXIS_RULES, logicalToMesh, type AxisRules, type PartitionSpec } from './rules.ts';
import { hloSharding, replicatedSpec, showSpec, tileCounts } from './spec.ts';

/** `(mesh data=2, model=4)`: how the errors below show the mesh. */
const meshText = (m: Mesh) => `mesh ${m.axes.map((a, i) => `${a}=${m.shape[i]}`).join(', ')}`;
/** `; 15 more tensors fail too`, or nothing. */
const moreText = (more: number) => (more > 0 ? `; ${more} more tensor${more === 1 ? '' : 's'} fail${more === 1 ? 's' : ''} too` : '');

/**
 * A tensor whose dimension the mesh axes it is mapped to do not divide (the runtime's shards are even, and GSPMD's
 * padding is not used). The message names the tensor, its axes and the mesh:
 * `params.mlp.wi f32[embed=8, mlp=30]: mesh axis model=4 does not divide mlp=30 (mesh data=2, model=4)`.
 */
export class IndivisibleAxisError extends MeshError {
  override name = 'IndivisibleAxisError';
  constructor(
    /** The tensor: a parameter's or result's path, or `shard [names] at file:line`. */
    readonly tensor: string,
    readonly type: TensorType,
    /** The dimension, and the (logical) name it goes by. */
    readonly dim: number,
    readonly axis: string,
    /** The mesh axes that split it. */
    readonly meshAxes: readonly string[],
    readonly mesh: Mesh,
    more = 0,
  ) {
    const n = type.shape[dim]!;
    const ways = meshAxes.reduce((w, a) => w * axisSize(mesh, a), 1);
    const by = meshAxes.length === 1 ? `mesh axis ${meshAxes[0]}=${ways} does not` : `mesh axes ${meshAxes.map((a) => `${a}=${axisSize(mesh, a)}`).join(' × ')} (${ways} ways) do not`;
    const hint = axis === 'batch' ? `; make the batch a multiple of ${ways}` : '';
    super(`${tensor} ${showType(type)}: ${by} divide ${axis}=${n} (${meshText(mesh)})${hint}${moreText(more)}`);
  }
}

/**
 * A tensor sharded by the logical axis rules (a parameter, an optimizer state, a `shard()` constraint) with an axis
 * name that no rule mentions. A rule mapping the name to `null` (replicated) is fine; a name with no rule at all is
 * most likely a typo or a layer whose names the rules were not told about, so it is an error rather than a silent
 * replication.
 */
export class UnmappedAxisError extends MeshError {
  override name = 'UnmappedAxisError';
  constructor(
    readonly tensor: string,
    readonly type: TensorType,
    readonly axis: string,
    readonly rules: AxisRules,
    readonly mesh: Mesh,
    more = 0,
  ) {
    const names = [...new Set(rules.map(([r]) => r))];
    const shown = names.length > 8 ? `${names.slice(0, 8).join(', ')}, … (${names.length} in all)` : names.join(', ');
    super(
      `${tensor} ${showType(type)}: axis '${axis}' has no logical axis rule (${meshText(mesh)}; rules map: ${shown}; ` +
        `add ['${axis}', null] to the rules to replicate it, or rename the axis)${moreText(more)}`,
    );
  }
}

/**
 * How a leaf is sharded:
 * - `param`: every axis by the rules (a parameter's axis names are its logical axes, as t5x's `param_with_axes`);
 * - `state`: an optimizer state of a parameter: as `param`, and with `partitionStates` also split over the mesh
 *   axes the parameter leaves free (FLIP's `partition_states`);
 * - `data`: only the `batch` axis, by the rule for `batch` (t5x's `data_partition_spec`); no `batch` axis: replicated;
 * - `replicated`: a full copy on every device.
 */
export type LeafRole = 'param' | 'state' | 'data' | 'replicated';

export interface ShardingOptions {
  mesh: Mesh;
  /** Default FLIP_AXIS_RULES. */
  rules?: AxisRules;
  /** Split optimizer states further (FLIP's `config.partitioning.partition_states`). Default false. */
  partitionStates?: boolean;
  /** The role (or an explicit spec) of a parameter or result, by its pytree path; undefined: the default (`defaultRole`). */
  roleOf?: (name: string, type: TensorType, kind: 'param' | 'result') => LeafRole | PartitionSpec | undefined;
}

export interface LeafSharding {
  readonly name?: string;
  readonly type: TensorType;
  readonly role: LeafRole | 'explicit' | 'same as param';
  readonly spec: PartitionSpec;
  /** The HloSharding string (also in the Func's ArgInfo). */
  readonly hlo: string;
}

export interface ShardedFunc {
  /** The Func with ArgInfo.sharding on every parameter and result and every constraint resolved. */
  readonly func: Func;
  readonly mesh: Mesh;
  /** `mhlo.num_partitions` and the compile options' partition count. */
  readonly numPartitions: number;
  readonly params: readonly LeafSharding[];
  readonly results: readonly LeafSharding[];
  /**
   * Decisions a user may want to know about: with `partitionStates`, a mesh axis that no free dimension of an
   * optimizer state divides (that state is then not split further). A dimension the mesh does not divide, or an axis
   * name no rule maps, is not a note but an error (IndivisibleAxisError, UnmappedAxisError).
   */
  readonly notes: readonly string[];
}

const OPT_SEGMENT = /^(opt|optimizer|opt_?state|optState|mu|nu|momentum)$/;

/**
 * The role of a leaf by its path: a scalar is replicated; a path with a segment `opt`, `optState`, `opt_state`,
 * `optimizer`, `mu`, `nu` or `momentum` is a `state`; one with a segment `params` (or `param`) is a `param`; the rest
 * (batches, rng keys, per-example outputs) is `data`.
 */
export function defaultRole(name: string | undefined, type: TensorType): LeafRole {
  if (type.shape.length === 0) return 'replicated';
  const segments = (name ?? '').split('.');
  if (segments.some((s) => OPT_SEGMENT.test(s))) return 'state';
  if (segments.some((s) => s === 'params' || s === 'param')) return 'param';
  return 'data';
}

class Planner {
  /** Note text → the leaves it applies to (one note per reason, however many leaves). */
  private readonly noted = new Map<string, string[]>();
  /** Tensors the mesh or the rules cannot shard, in the order met: the first is thrown, with a count of the rest. */
  private readonly problems: ((more: number) => MeshError)[] = [];
  private readonly troubled = new Set<string>();
  readonly rules: AxisRules;
  /** The mesh axis (or axes) `batch` maps to: t5x's data axis. */
  readonly dataAxes: readonly string[];

  constructor(readonly opts: ShardingOptions) {
    this.rules = opts.rules ?? FLIP_AXIS_RULES;
    this.dataAxes = logicalToMesh(['batch'], this.rules, opts.mesh)[0]!;
  }

  note(reason: string, what: string): void {
    const whats = this.noted.get(reason) ?? [];
    if (!whats.includes(what)) whats.push(what);
    this.noted.set(reason, whats);
  }

  get notes(): string[] {
    return [...this.noted].map(([reason, whats]) => `${reason} (${whats.length > 2 ? `${whats[0]} and ${whats.length - 1} more` : whats.join(', ')})`);
  }

  /** Record that tensor `what` cannot be sharded (once per tensor); `check()` throws the first. */
  problem(what: string, error: (more: number) => MeshError): void {
    if (this.troubled.has(what)) return;
    this.troubled.add(what);
    this.problems.push(error);
  }

  /** Throw the first problem met, counting the other tensors that have one. */
  check(): void {
    if (this.problems.length) throw this.problems[0]!(this.problems.length - 1);
  }

  /** Every split dim must divide evenly (GSPMD would pad; the runtime's shards are even): else an IndivisibleAxisError. */
  fit(spec: PartitionSpec, t: TensorType, what: string, names: readonly (string | null)[] = t.axes): PartitionSpec {
    const tiles = tileCounts(spec, this.opts.mesh);
    return spec.map((axes, i) => {
      if (t.shape[i]! % tiles[i]! === 0) return axes;
      this.problem(what, (more) => new IndivisibleAxisError(what, t, i, names[i] ?? t.axes[i] ?? `dim ${i}`, axes, this.opts.mesh, more));
      return [];
    });
  }

  byRules(t: TensorType, names: readonly (string | null)[], what: string): PartitionSpec {
    for (const n of names) if (n !== null && !this.rules.some(([r]) => r === n)) this.problem(what, (more) => new UnmappedAxisError(what, t, n, this.rules, this.opts.mesh, more));
    return this.fit(logicalToMesh(names, this.rules, this.opts.mesh), t, what, names);
  }

  spec(role: LeafRole, t: TensorType, what: string): PartitionSpec {
    switch (role) {
      case 'replicated':
        return replicatedSpec(t.shape.length);
      case 'data':
        return this.fit(t.axes.map((a) => (a === 'batch' ? this.dataAxes : [])), t, what);
      case 'param':
        return this.byRules(t, t.axes, what);
      case 'state': {
        const spec = this.byRules(t, t.axes, what);
        return this.opts.partitionStates ? this.splitState(spec, t, what) : spec;
      }
    }
  }

  /**
   * FLIP's `partition_states` (t5x/partitioning.py `revise_axes`): a 2-D state whose parameter is split over one of
   * (data, model) gets the other on its free dim. Generalised to any rank >= 2 and any mesh: each mesh axis the spec
   * leaves free (the data axis first) goes to the first free dim it divides. One deviation: FLIP turns `[model, -]`
   * into `[data, model]`; this keeps `model` where the parameter has it (`[model, data]`): the same bytes per
   * device, and the update needs no transpose of the parameter's layout.
   */
  splitState(spec: PartitionSpec, t: TensorType, what: string): PartitionSpec {
    const m = this.opts.mesh;
    if (t.shape.length < 2 || spec.every((a) => a.length === 0)) return spec;
    const out = spec.map((a) => [...a]);
    const free = [...this.dataAxes, ...m.axes.filter((a) => !this.dataAxes.includes(a))].filter((a) => axisSize(m, a) > 1 && !spec.flat().includes(a));
    for (const a of free) {
      const dim = out.findIndex((axes, i) => axes.length === 0 && t.shape[i]! % axisSize(m, a) === 0);
      if (dim >= 0) out[dim] = [a];
      else this.note(`partitionStates: no free dimension divides mesh axis ${a}=${axisSize(m, a)}; the state is not split over it`, what);
    }
    return out;
  }
}

function leaf(p: Planner, name: string | undefined, index: number, t: TensorType, kind: 'param' | 'result', given: LeafRole | PartitionSpec | undefined): LeafSharding {
  const what = name ?? `${kind} #${index}`;
  if (given !== undefined && typeof given !== 'string') {
    if (given.length !== t.shape.length) throw new MeshError(`${what}: spec ${showSpec(given)} has rank ${given.length}, ${showType(t)} has ${t.shape.length}`);
    const spec = p.fit(given, t, what);
    return { ...(name !== undefined ? { name } : {}), type: t, role: 'explicit', spec, hlo: hloSharding(spec, p.opts.mesh) };
  }
  const role = given ?? defaultRole(name, t);
  const spec = p.spec(role, t, what);
  return { ...(name !== undefined ? { name } : {}), type: t, role, spec, hlo: hloSharding(spec, p.opts.mesh) };
}

const sameType = (a: TensorType, b: TensorType) => a.dtype === b.dtype && a.shape.join() === b.shape.join() && a.axes.join() === b.axes.join();

/**
 * Shard `f` over `opts.mesh`: parameters by their role (see `defaultRole`, or `roleOf`); results that have a
 * parameter's name and type (a train step returning `{params, opt, ...}` as it took them) as that parameter, the rest
 * by their own role (metrics, being scalars, replicated); `shard(x, axes)` constraints by the rules. XLA's SPMD
 * partitioner propagates these to every other value. On a one-device mesh nothing is annotated.
 */
export function shardFunc(f: Func, opts: ShardingOptions): ShardedFunc {
  const p = new Planner(opts);
  const m = opts.mesh;
  const params = f.params.map((v, i) => {
    const name = f.paramInfo[i]?.name;
    return leaf(p, name, i, v.type, 'param', opts.roleOf?.(name ?? `arg${i}`, v.type, 'param'));
  });
  const byName = new Map(params.flatMap((l) => (l.name !== undefined ? [[l.name, l] as const] : [])));
  const results = f.results.map((v, i): LeafSharding => {
    const name = f.resultInfo[i]?.name;
    const given = opts.roleOf?.(name ?? `result${i}`, v.type, 'result');
    const twin = name !== undefined ? byName.get(name) : undefined;
    if (given === undefined && twin && sameType(twin.type, v.type)) return { ...twin, role: 'same as param' };
    return leaf(p, name, i, v.type, 'result', given);
  });

  const annotate = m.size > 1;
  // A loop body's `shard()` constraints and values are not resolved against the mesh (yet): refuse rather than leave
  // them silently replicated.
  const loop = annotate ? f.ops.find((op) => op.prim === 'scan') : undefined;
  if (loop) {
    throw new MeshError(`@${f.name} has a scan (a loop over layers${loop.loc ? ` at ${loop.loc.file}:${loop.loc.line}` : ''}); ` +
      `scans are not supported on a mesh of ${m.size} devices yet (${meshText(m)}): run it on one device, or unroll the loop (scanLayers: false)`);
  }
  const b = new FuncBuilder(f.name);
  const map = new Map<number, Value>();
  f.params.forEach((v, i) => {
    const info: ArgInfo = { ...f.paramInfo[i], ...(annotate ? { sharding: params[i]!.hlo } : {}) };
    if (!annotate) delete info.sharding;
    map.set(v.id, b.param(v.type, info));
  });
  const get = (v: Value) => {
    const w = map.get(v.id);
    if (!w) throw new FlipError(`shardFunc: @${f.name} uses %${v.id} before defining it`);
    return w;
  };
  for (const op of f.ops) {
    let attrs = op.attrs;
    if (op.prim === 'sharding_constraint') {
      const a = op.attrs as PrimAttrs['sharding_constraint'];
      if (a.logical) {
        const t = op.operands[0]!.type;
        if (a.logical.length !== t.shape.length) throw new MeshError(`shard: logical axes [${a.logical.join(', ')}] do not match ${showType(t)}`);
        const names = `[${a.logical.map((n) => n ?? '-').join(', ')}]`;
        const where = op.loc ? `shard ${names} at ${op.loc.file}:${op.loc.line}` : `shard ${names} (%${op.results[0]?.id ?? '?'})`;
        const spec = p.byRules(t, a.logical, where);
        attrs = { ...a, sharding: hloSharding(spec, m) };
      }
    }
    const outs = b.withRemat(op.remat, () => b.emit(op.prim, op.operands.map(get), attrs as never, op.loc));
    op.results.forEach((r, k) => map.set(r.id, outs[k]!));
  }
  p.check();
  const resultInfo = f.results.map((_, i) => {
    const info: ArgInfo = { ...f.resultInfo[i], ...(annotate ? { sharding: results[i]!.hlo } : {}) };
    if (!annotate) delete info.sharding;
    return info;
  });
  const func = b.finish(f.results.map(get), resultInfo, f.loc);
  return { func, mesh: m, numPartitions: m.size, params, results, notes: p.notes };
}

/** A one-line-per-leaf table of the shardings (what `flipc compile --mesh` prints to stderr with --verbose). */
export function describeSharding(s: ShardedFunc): string {
  const row = (kind: string, l: LeafSharding) => `${kind} ${l.name ?? '?'}: ${showType(l.type)} ${l.role} ${showSpec(l.spec)} ${l.hlo}`;
  return [`mesh ${showMesh(s.mesh)}`, ...s.params.map((l) => row('param', l)), ...s.results.map((l) => row('result', l))].join('\n');
}
