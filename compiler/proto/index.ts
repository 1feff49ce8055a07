// Serialized xla.CompileOptionsProto for PJRT_Client_Compile, from a few options flip uses.
import { create, toBinary } from '@bufbuild/protobuf';
import {
  CompileOptionsProtoSchema,
  DeviceAssignmentProtoSchema,
  DeviceAssignmentProto_ComputationDeviceSchema,
  ExecutableBuildOptionsProtoSchema,
  OptionOverrideProtoSchema,
  type OptionOverrideProto,
} from './compile_options_pb.ts';

export * from './compile_options_pb.ts';
export * from './hlo_pb.ts';

/** A value for one XLA debug option (`env_option_overrides`), e.g. `{ xla_dump_to: '/tmp/d' }`. */
export type EnvOverride = string | boolean | number | bigint;

export interface CompileOptionsInit {
  /** SPMD partitions (devices per replica). Default 1. */
  numPartitions?: number;
  /** Replicas. Default 1. */
  numReplicas?: number;
  /**
   * Device ids, flattened replica-major: `deviceIds[r * numPartitions + p]` runs partition p of
   * replica r (JAX's order). Omitted: a single-device program compiles portable (runs on any
   * device), a multi-device one gets the plugin's default assignment.
   */
  deviceIds?: readonly number[];
  /** Use the SPMD partitioner. Default: numPartitions > 1. */
  spmd?: boolean;
  /** Use Shardy instead of GSPMD for sharding propagation. Default false. */
  shardy?: boolean;
  /** Compile portable (pick the device at execute time). Default: one device and no deviceIds. */
  portable?: boolean;
  /** XLA debug options by name. Integers become int_field, other numbers double_field. */
  envOverrides?: Readonly<Record<string, EnvOverride>>;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`compileOptions: ${name} must be a positive integer, got ${v}`);
  return v;
}

function override(value: EnvOverride): OptionOverrideProto {
  const v: OptionOverrideProto['value'] =
    typeof value === 'string'
      ? { case: 'stringField', value }
      : typeof value === 'boolean'
        ? { case: 'boolField', value }
        : typeof value === 'bigint'
          ? { case: 'intField', value }
          : Number.isInteger(value)
            ? { case: 'intField', value: BigInt(value) }
            : { case: 'doubleField', value };
  return create(OptionOverrideProtoSchema, { value: v });
}

/** Bytes of an `xla.CompileOptionsProto` (what PJRT_Client_Compile's `compile_options` takes). */
export function compileOptions(init: CompileOptionsInit = {}): Uint8Array {
  const partitions = positiveInt('numPartitions', init.numPartitions ?? 1);
  const replicas = positiveInt('numReplicas', init.numReplicas ?? 1);
  const ids = init.deviceIds;
  if (ids && ids.length !== partitions * replicas) {
    throw new RangeError(`compileOptions: deviceIds has ${ids.length} ids but numReplicas * numPartitions = ${replicas * partitions}`);
  }
  const portable = init.portable ?? (!ids && partitions * replicas === 1);
  const build = create(ExecutableBuildOptionsProtoSchema, {
    deviceOrdinal: -1n,
    numReplicas: BigInt(replicas),
    numPartitions: BigInt(partitions),
    useSpmdPartitioning: init.spmd ?? partitions > 1,
    useShardyPartitioner: init.shardy ?? false,
  });
  if (ids && !portable) {
    build.deviceAssignment = create(DeviceAssignmentProtoSchema, {
      replicaCount: replicas,
      computationCount: partitions,
      computationDevices: Array.from({ length: partitions }, (_, p) =>
        create(DeviceAssignmentProto_ComputationDeviceSchema, {
          replicaDeviceIds: Array.from({ length: replicas }, (_, r) => BigInt(ids[r * partitions + p]!)),
        }),
      ),
    });
  }
  const proto = create(CompileOptionsProtoSchema, {
    executableBuildOptions: build,
    compilePortableExecutable: portable,
    envOptionOverrides: Object.fromEntries(Object.entries(init.envOverrides ?? {}).map(([k, v]) => [k, override(v)])),
  });
  return toBinary(CompileOptionsProtoSchema, proto);
}
