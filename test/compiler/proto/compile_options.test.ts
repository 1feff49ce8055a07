// compileOptions() writes the xla.CompileOptionsProto bytes PJRT expects (XLA's field numbers).
import { fromBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { CompileOptionsProtoSchema, compileOptions } from '../../../compiler/proto/index.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('compileOptions', () => {
  it('single device: portable, ordinal -1, one replica and partition (byte for byte)', () => {
    // field 3 (executable_build_options) { 1: -1 (ten-byte varint), 4: 1, 5: 1 }, field 4: true
    expect(hex(compileOptions())).toBe('1a0f' + '08ffffffffffffffffff01' + '2001' + '2801' + '2001');
    const p = fromBinary(CompileOptionsProtoSchema, compileOptions());
    expect(p.compilePortableExecutable).toBe(true);
    expect(p.executableBuildOptions?.deviceOrdinal).toBe(-1n);
    expect(p.executableBuildOptions?.useSpmdPartitioning).toBe(false);
    expect(p.executableBuildOptions?.deviceAssignment).toBeUndefined();
  });

  it('SPMD over explicit devices: a device assignment with one computation per partition', () => {
    const p = fromBinary(CompileOptionsProtoSchema, compileOptions({ numPartitions: 4, deviceIds: [3, 2, 1, 0] }));
    const b = p.executableBuildOptions!;
    expect([b.numReplicas, b.numPartitions, b.useSpmdPartitioning, p.compilePortableExecutable]).toEqual([1n, 4n, true, false]);
    expect(b.deviceAssignment?.replicaCount).toBe(1);
    expect(b.deviceAssignment?.computationCount).toBe(4);
    expect(b.deviceAssignment?.computationDevices.map((c) => c.replicaDeviceIds)).toEqual([[3n], [2n], [1n], [0n]]);
  });

  it('replicas x partitions take device ids replica-major', () => {
    const b = fromBinary(CompileOptionsProtoSchema, compileOptions({ numReplicas: 2, numPartitions: 2, deviceIds: [0, 1, 2, 3] })).executableBuildOptions!;
    // partition p of replica r runs on deviceIds[r * 2 + p]
    expect(b.deviceAssignment?.computationDevices.map((c) => c.replicaDeviceIds)).toEqual([[0n, 2n], [1n, 3n]]);
  });

  it('env overrides of each kind', () => {
    const p = fromBinary(CompileOptionsProtoSchema, compileOptions({ envOverrides: { xla_dump_to: '/tmp/d', xla_cpu_enable_fast_math: false, xla_force_host_platform_device_count: 8, some_ratio: 0.5, big: 2n ** 40n } }));
    const o = p.envOptionOverrides;
    expect(o.xla_dump_to?.value).toEqual({ case: 'stringField', value: '/tmp/d' });
    expect(o.xla_cpu_enable_fast_math?.value).toEqual({ case: 'boolField', value: false });
    expect(o.xla_force_host_platform_device_count?.value).toEqual({ case: 'intField', value: 8n });
    expect(o.some_ratio?.value).toEqual({ case: 'doubleField', value: 0.5 });
    expect(o.big?.value).toEqual({ case: 'intField', value: 2n ** 40n });
  });

  it('rejects inconsistent counts', () => {
    expect(() => compileOptions({ numPartitions: 2, deviceIds: [0] })).toThrow(/deviceIds has 1 ids but numReplicas \* numPartitions = 2/);
    expect(() => compileOptions({ numPartitions: 0 })).toThrow(/numPartitions must be a positive integer/);
  });
});
