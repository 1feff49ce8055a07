// runtime-native's host-memory setting (docs/runtime.md, "Host memory"): glibc takes both modes; a CPU client keeps
// freed memory by default, FLIP_HOST_MALLOC=system leaves glibc's defaults, any other value is one clear error.
import { afterEach, describe, expect, it } from 'vitest';
import { openClient, setHostMemory, PluginError } from '../../runtime-native/index.ts';

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
