// runtime-native's host-memory setting (docs/runtime.md, "Host memory"): glibc takes both modes; a CPU client keeps
// freed memory by default, FLIP_HOST_MALLOC=system leaves glibc's defaults, any other value is one clear error.
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { openClient, setHostMemory, PluginError, type Buffer } from '../../runtime-native/index.ts';

const saved = process.env.FLIP_HOST_MALLOC;
afterEach(() => {
  if (saved === undefined) delete process.env.FLIP_HOST_MALLOC;
  else process.env.FLIP_HOST_MALLOC = saved;
  setHostMemory('keep');
});

describe('host memory', () => {
  it('glibc accepts both settings', () => {
    expect(setHostMemory('system')).toBe(true);
    expect(setHostMemory('keep')).toBe(true);
  });

  it('a bad FLIP_HOST_MALLOC is refused by name before a client opens', async () => {
    process.env.FLIP_HOST_MALLOC = 'tcmalloc';
    const e = await openClient({ target: 'cpu', devices: 1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PluginError);
    expect((e as Error).message).toBe('FLIP_HOST_MALLOC=tcmalloc: use keep (the default) or system');
  });

  it('FLIP_HOST_MALLOC=system opens a CPU client that runs', async () => {
    process.env.FLIP_HOST_MALLOC = 'system';
    const client = await openClient({ target: 'cpu', devices: 1 });
    const b = client.toDevice(new Float32Array([1, 2]), [2], 'f32');
    expect(Array.from(await b.toHost())).toEqual([1, 2]);
    client.dispose();
  });
});

// V8's view of device memory (docs/runtime.md, "V8's view of device memory"): a donated input's bytes leave V8's
// external-memory count when its execution completes, netted against the outputs. Before, a step that donates a
// large state (here 128 MiB, above V8's 64 MiB allowance) added it to the count every time, and V8 ran a full garbage
// collection per step.
describe("V8's view of device memory", () => {
  it('repeated steps that donate their state bring no full garbage collection each', async () => {
    const n = 32 << 20;
    const client = await openClient({ target: 'cpu', devices: 1 });
    const exe = await client.compile(`module @donate {
  func.func public @main(%s: tensor<${n}xf32> {tf.aliasing_output = 0 : i32}) -> tensor<${n}xf32> {
    %c = stablehlo.constant dense<1.0> : tensor<f32>
    %one = stablehlo.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<${n}xf32>
    %r = stablehlo.add %s, %one : tensor<${n}xf32>
    return %r : tensor<${n}xf32>
  }
}`);
    let state: Buffer = client.toDevice(new Float32Array(n), [n], 'f32');
    [state] = (await exe.run([state])) as [Buffer];
    let major = 0;
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (((e as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
    });
    observer.observe({ entryTypes: ['gc'] });
    const steps = 8;
    for (let i = 0; i < steps; i++) {
      const before = state;
      [state] = (await exe.run([state])) as [Buffer];
      expect(before.donated).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 50)); // gc entries arrive asynchronously
    observer.disconnect();
    const head = ((await state.toHost()) as Float32Array).subarray(0, 4);
    expect(Array.from(head)).toEqual([9, 9, 9, 9]);
    expect(major).toBeLessThanOrEqual(1);
    client.dispose();
  });
});
