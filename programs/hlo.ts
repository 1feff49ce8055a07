// The optimized HLO module PJRT returns (a serialized HloModuleProto): its entry signature, which
// runs check arguments against, and a text listing in XLA's HLO syntax for people to read.
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import {
  HloModuleProtoSchema,
  HloModuleProtoWithConfigSchema,
  PrimitiveType,
  ProgramShapeProtoSchema,
  type HloComputationProto,
  type HloInstructionProto,
  type HloModuleProto,
  type LiteralProto,
  type ShapeProto,
} from '../compiler/proto/index.ts';
import { PjrtError } from '../runtime-native/errors.ts';

export function decodeOptimizedProgram(format: string, code: Uint8Array): HloModuleProto {
  if (format === 'hlo_with_config') {
    const m = fromBinary(HloModuleProtoWithConfigSchema, code).hloModule;
    if (!m) throw new PjrtError('the optimized program has no HLO module', 'INTERNAL');
    return m;
  }
  if (format === 'hlo') return fromBinary(HloModuleProtoSchema, code);
  throw new PjrtError(`cannot read an optimized program in format '${format}' (expected hlo or hlo_with_config)`, 'UNIMPLEMENTED');
}

/** An array type as flip names it ('f32', 'i1', ...) with its dimensions; tuples and tokens have none. */
export interface ArrayType {
  dtype: string;
  shape: number[];
}

const DTYPE_OF: Partial<Record<PrimitiveType, string>> = {
  [PrimitiveType.PRED]: 'i1', [PrimitiveType.S8]: 'i8', [PrimitiveType.S16]: 'i16', [PrimitiveType.S32]: 'i32',
  [PrimitiveType.S64]: 'i64', [PrimitiveType.U8]: 'u8', [PrimitiveType.U16]: 'u16', [PrimitiveType.U32]: 'u32',
  [PrimitiveType.U64]: 'u64', [PrimitiveType.F16]: 'f16', [PrimitiveType.BF16]: 'bf16', [PrimitiveType.F32]: 'f32',
  [PrimitiveType.F64]: 'f64',
};

function arrayType(s: ShapeProto): ArrayType | undefined {
  const dtype = DTYPE_OF[s.elementType];
  return dtype ? { dtype, shape: s.dimensions.map(Number) } : undefined;
}

/**
 * The entry parameters' types as one device sees them (after SPMD partitioning: shard shapes),
 * undefined for parameters that are not plain arrays. Reads only the module's
 * `host_program_shape`, skipping the computations, so it stays cheap for big programs.
 */
export function entryParameterTypes(format: string, code: Uint8Array): (ArrayType | undefined)[] | undefined {
  const module = format === 'hlo_with_config' ? lengthDelimited(code, 1) : format === 'hlo' ? code : undefined;
  const shape = module && lengthDelimited(module, 4);
  return shape && fromBinary(ProgramShapeProtoSchema, shape).parameters.map(arrayType);
}

function lengthDelimited(bytes: Uint8Array, field: number): Uint8Array | undefined {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wire] = r.tag();
    if (no === field && wire === WireType.LengthDelimited) return r.bytes();
    r.skip(wire, no);
  }
  return undefined;
}

function entryComputation(m: HloModuleProto): HloComputationProto | undefined {
  return m.computations.find((c) => c.id === m.entryComputationId) ?? m.computations.find((c) => c.name === m.entryComputationName);
}

// ---- HLO text ----

const PRIMITIVE_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(PrimitiveType).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k === 'TUPLE' ? 'tuple' : k === 'OPAQUE_TYPE' ? 'opaque' : k.toLowerCase()]),
);

function shapeText(s: ShapeProto | undefined, layout = true): string {
  if (!s) return '()';
  if (s.elementType === PrimitiveType.TUPLE) return `(${s.tupleShapes.map((t) => shapeText(t, layout)).join(', ')})`;
  if (s.elementType === PrimitiveType.TOKEN) return 'token[]';
  const dims = s.dimensions.map((d, i) => (s.isDynamicDimension[i] ? `<=${d}` : `${d}`)).join(',');
  let text = `${PRIMITIVE_NAME[s.elementType] ?? `type${s.elementType}`}[${dims}]`;
  if (layout && s.layout && s.dimensions.length > 0) {
    const tiles = s.layout.tiles.map((t) => `(${t.dimensions.join(',')})`).join('');
    text += `{${s.layout.minorToMajor.join(',')}${tiles ? `:T${tiles}` : ''}}`;
  }
  return text;
}

const list = (xs: readonly (number | bigint)[]): string => `{${xs.join(',')}}`;

function literalText(l: LiteralProto | undefined): string {
  if (!l) return '{...}';
  const values: (number | bigint | boolean)[] =
    l.preds.length ? l.preds : l.f32s.length ? l.f32s : l.f64s.length ? l.f64s : l.s32s.length ? l.s32s : l.s64s.length ? l.s64s : l.u32s.length ? l.u32s : l.u64s.length ? l.u64s : [...l.u8s];
  const count = (l.shape?.dimensions ?? []).reduce((a, b) => a * Number(b), 1);
  if (values.length === 0 && count > 0) return '{...}';
  const shown = values.slice(0, 8).map((v) => (typeof v === 'boolean' ? (v ? 'true' : 'false') : String(v)));
  const body = shown.join(', ') + (values.length > 8 ? ', ...' : '');
  return (l.shape?.dimensions.length ?? 0) === 0 ? body : `{${body}}`;
}

function attributes(i: HloInstructionProto, comp: (id: bigint) => string): string[] {
  const a: string[] = [];
  const called = i.calledComputationIds.map(comp);
  const op = i.opcode;
  if (i.dimensions.length || ['broadcast', 'reduce', 'transpose', 'reverse', 'concatenate'].includes(op)) a.push(`dimensions=${list(i.dimensions)}`);
  if (op === 'get-tuple-element') a.push(`index=${i.tupleIndex}`);
  if (i.sliceDimensions.length) a.push(`slice={${i.sliceDimensions.map((s) => `[${s.start}:${s.limit}${s.stride !== 1n ? `:${s.stride}` : ''}]`).join(', ')}}`);
  if (i.dynamicSliceSizes.length) a.push(`dynamic_slice_sizes=${list(i.dynamicSliceSizes)}`);
  if (i.comparisonDirection) a.push(`direction=${i.comparisonDirection}`);
  if (i.comparisonType) a.push(`type=${i.comparisonType}`);
  const dot = i.dotDimensionNumbers;
  if (dot) {
    if (dot.lhsBatchDimensions.length) a.push(`lhs_batch_dims=${list(dot.lhsBatchDimensions)}`);
    a.push(`lhs_contracting_dims=${list(dot.lhsContractingDimensions)}`);
    if (dot.rhsBatchDimensions.length) a.push(`rhs_batch_dims=${list(dot.rhsBatchDimensions)}`);
    a.push(`rhs_contracting_dims=${list(dot.rhsContractingDimensions)}`);
  }
  if (i.channelId > 0n) a.push(`channel_id=${i.channelId}`);
  const groups = i.collectiveDeviceList?.replicaGroups.length ? i.collectiveDeviceList.replicaGroups : i.replicaGroups;
  if (groups.length) a.push(`replica_groups={${groups.map((g) => list(g.replicaIds)).join(',')}}`);
  const iota = i.collectiveDeviceList?.iotaReplicaGroupList;
  if (iota && iota.numReplicaGroups > 0n) a.push(`replica_groups=[${iota.numReplicaGroups},${iota.numDevicesPerGroup}]<=[${iota.iotaReshapeDims.join(',')}]`);
  if (i.useGlobalDeviceIds) a.push('use_global_device_ids=true');
  if (i.customCallTarget) a.push(`custom_call_target="${i.customCallTarget}"`);
  if (op === 'fusion') a.push(`kind=${i.fusionKind}`, `calls=${called[0]}`);
  else if (op === 'while') a.push(`condition=${called[1]}`, `body=${called[0]}`);
  else if (op === 'conditional') a.push(`branch_computations={${called.join(', ')}}`);
  else if (called.length === 1) a.push(`${op === 'async-start' || op === 'custom-call' ? 'calls' : 'to_apply'}=${called[0]}`);
  else if (called.length > 1) a.push(`called_computations={${called.join(', ')}}`);
  if (i.isStable) a.push('is_stable=true');
  if (i.indicesAreSorted) a.push('indices_are_sorted=true');
  if (i.uniqueIndices) a.push('unique_indices=true');
  if (i.metadata && (i.metadata.opName || i.metadata.sourceFile)) {
    const m = i.metadata;
    const parts = [m.opName && `op_name="${m.opName}"`, m.sourceFile && `source_file="${m.sourceFile}"`, m.sourceLine && `source_line=${m.sourceLine}`].filter(Boolean);
    a.push(`metadata={${parts.join(' ')}}`);
  }
  return a;
}

function computationText(c: HloComputationProto, isEntry: boolean, comp: (id: bigint) => string): string {
  const byId = new Map(c.instructions.map((i) => [i.id, i]));
  const params = c.instructions.filter((i) => i.opcode === 'parameter').sort((x, y) => Number(x.parameterNumber - y.parameterNumber));
  const root = byId.get(c.rootId) ?? c.instructions[c.instructions.length - 1];
  const sig = `(${params.map((p) => `${p.name}: ${shapeText(p.shape, false)}`).join(', ')}) -> ${shapeText(root?.shape, false)}`;
  const lines = [`${isEntry ? 'ENTRY ' : ''}%${c.name} ${sig} {`];
  for (const i of c.instructions) {
    const operands = i.operandIds.map((id) => {
      const o = byId.get(id);
      return o ? `${shapeText(o.shape)} %${o.name}` : `%<${id}>`;
    });
    const head = i.opcode === 'parameter' ? `parameter(${i.parameterNumber})` : i.opcode === 'constant' ? `constant(${literalText(i.literal)})` : `${i.opcode}(${operands.join(', ')})`;
    const attrs = attributes(i, comp);
    lines.push(`  ${i === root ? 'ROOT ' : ''}%${i.name} = ${shapeText(i.shape)} ${head}${attrs.length ? `, ${attrs.join(', ')}` : ''}`);
  }
  lines.push('}');
  return lines.join('\n');
}

/**
 * The module in HLO text syntax (the listing XLA's dumps show: computations, instructions with
 * shapes and layouts, the attributes flip's programs use). Rendered from the proto here, so rare
 * attributes may be missing; the instructions and shapes are the compiled program's.
 */
export function hloText(m: HloModuleProto): string {
  const names = new Map(m.computations.map((c) => [c.id, `%${c.name}`]));
  const comp = (id: bigint): string => names.get(id) ?? `%<computation ${id}>`;
  const entry = entryComputation(m);
  const layout = m.hostProgramShape
    ? `, entry_computation_layout={(${m.hostProgramShape.parameters.map((p) => shapeText(p)).join(', ')})->${shapeText(m.hostProgramShape.result)}}`
    : '';
  const alias = m.inputOutputAlias?.entries.length
    ? `, input_output_alias={ ${m.inputOutputAlias.entries.map((e) => `{${e.outputShapeIndex.join(',')}}: (${e.parameterNumber}, {${e.parameterShapeIndex.join(',')}})`).join(', ')} }`
    : '';
  const parts = [`HloModule ${m.name}${layout}${alias}`];
  for (const c of m.computations) parts.push(computationText(c, c === entry, comp));
  return `${parts.join('\n\n')}\n`;
}

export function optimizedHloText(format: string, code: Uint8Array): string {
  return hloText(decodeOptimizedProgram(format, code));
}
