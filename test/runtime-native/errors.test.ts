// Failures come back as JS errors (PjrtError with PJRT's message and code, PluginError for what a
// user must fix), never as a crash.
import { optimizedHlo } from '../../programs/inspect.ts';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import { installedPlugins, openClient, PjrtError, PluginError, type Client, type PjrtCode } from '../../runtime-native/index.ts';
import { double, twoOutputs } from './modules.ts';

let client: Client;
let tmp: string;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 2 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-fake-plugins-'));
});
afterAll(() => {
  client.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Expect `p` to fail with `cls` whose code is `code` and message matches `message`. */
async function failsWith(p: Promise<unknown> | (() => unknown), cls: typeof PjrtError | typeof PluginError, code: PjrtCode, message: RegExp): Promise<Error> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(cls);
  const e = error as PjrtError;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(message);
  return e;
}

/** Build a small shared library from C++ source (the fake plugins below). */
function buildSo(name: string, source: string, include?: string): string {
  const src = path.join(tmp, `${name}.cc`);
  const out = path.join(tmp, `${name}.so`);
  fs.writeFileSync(src, source);
  execFileSync('g++', ['-std=c++17', '-shared', '-fPIC', '-o', out, src, ...(include ? [`-I${include}`] : [])]);
  return out;
}

describe('PJRT errors', () => {
  it('malformed MLIR', async () => {
    const bad = `module @bad {
  func.func public @main(%a: tensor<2xf32>, %b: tensor<3xf32>) -> tensor<2xf32> {
    %0 = stablehlo.add %a, %b : tensor<2xf32>
    return %0 : tensor<2xf32>
  }
}`;
    const e = await failsWith(client.compile(bad), PjrtError, 'UNKNOWN', /error: use of value '%b' expects different type than prior uses: 'tensor<2xf32>' vs 'tensor<3xf32>'/);
    expect(e.message).toContain('StableHLO v1.13.3');
    await failsWith(client.compile('module { this is not mlir'), PjrtError, 'UNKNOWN', /error: /);
  });

  it('wrong number of arguments', async () => {
    const exe = await client.compile(twoOutputs('f32'));
    await failsWith(exe.run([client.toDevice([1, 2, 3, 4], [4], 'f32')]), PjrtError, 'INVALID_ARGUMENT', /supplied 1 buffers but compiled program expected 2/);
  });

  it('wrong dtype or shape of an argument (checked against the signature the compile was given)', async () => {
    const exe = await client.compile(twoOutputs('f32'), { parameters: [{ dtype: 'f32', shape: [4] }, { dtype: 'f32', shape: [4] }] });
    const ok = client.toDevice([1, 2, 3, 4], [4], 'f32');
    await failsWith(exe.run([ok, client.toDevice([1, 2, 3, 4], [4], 'i32')]), PjrtError, 'INVALID_ARGUMENT', /argument 1 is i32\[4\] but the program expects f32\[4\]/);
    await failsWith(exe.run([client.toDevice([1, 2, 3, 4], [2, 2], 'f32'), ok]), PjrtError, 'INVALID_ARGUMENT', /argument 0 is f32\[2,2\] but the program expects f32\[4\]/);
    await failsWith(exe.run([client.toDevice([1, 2], [2], 'f32'), ok]), PjrtError, 'INVALID_ARGUMENT', /argument 0 is f32\[2\]/);
  });

  it('an argument on another device than the one it runs on', async () => {
    const exe = await client.compile(twoOutputs('f32'));
    const [a, b] = [client.toDevice([1, 2, 3, 4], [4], 'f32', 0), client.toDevice([1, 2, 3, 4], [4], 'f32', 1)];
    await failsWith(exe.run([a, b]), PjrtError, 'INVALID_ARGUMENT', /argument 1 .*is on device/);
  });

  it('toDevice with the wrong array kind, size or device', async () => {
    await failsWith(() => client.toDevice(new Int32Array(4) as unknown as Float32Array, [4], 'f32'), PjrtError, 'INVALID_ARGUMENT', /f32 buffer takes a Float32Array, got a Int32Array/);
    await failsWith(() => client.toDevice(new Float32Array(5), [2, 2], 'f32'), PjrtError, 'INVALID_ARGUMENT', /5 elements given for shape \[2, 2\]/);
    await failsWith(() => client.toDevice(new Float32Array(4), [4], 'f32', 7), PjrtError, 'INVALID_ARGUMENT', /device index 7 is out of range: this client has 2/);
  });
});

describe('handles used after they are gone', () => {
  it('a disposed buffer', async () => {
    const exe = await client.compile(double('f32'));
    const b = client.toDevice([1, 2, 3], [3], 'f32');
    b.dispose();
    expect(b.disposed).toBe(true);
    await failsWith(b.toHost(), PjrtError, 'FAILED_PRECONDITION', /buffer was disposed/);
    await failsWith(exe.run([b]), PjrtError, 'FAILED_PRECONDITION', /buffer was disposed/);
    b.dispose(); // twice is fine
  });

  it('a donated buffer', async () => {
    const exe = await client.compile(`module @donate {
  func.func public @main(%a: tensor<3xf32> {tf.aliasing_output = 0 : i32}, %b: tensor<3xf32>) -> tensor<3xf32> {
    %0 = stablehlo.add %a, %b : tensor<3xf32>
    return %0 : tensor<3xf32>
  }
}`);
    expect(optimizedHlo(exe)).toContain('input_output_alias={ {}: (0, {}) }');
    const a = client.toDevice([1, 2, 3], [3], 'f32');
    const b = client.toDevice([10, 20, 30], [3], 'f32');
    // donate: [] keeps every input
    const [kept] = await exe.run([a, b], { donate: [] });
    expect(a.donated).toBe(false);
    expect(Array.from(await kept!.as('f32').toHost())).toEqual([11, 22, 33]);
    // by default the module's aliasing donates %a
    const [out] = await exe.run([a, b]);
    expect(Array.from(await out!.as('f32').toHost())).toEqual([11, 22, 33]);
    expect([a.donated, b.donated]).toEqual([true, false]);
    await failsWith(a.toHost(), PjrtError, 'FAILED_PRECONDITION', /donated to an earlier execution/);
    await failsWith(exe.run([a, b]), PjrtError, 'FAILED_PRECONDITION', /donated to an earlier execution/);
    expect(Array.from(await b.as('f32').toHost())).toEqual([10, 20, 30]);
  });

  it('a client after dispose, with its buffers and executables', async () => {
    const c = await openClient({ target: 'cpu', devices: 1 });
    const exe = await c.compile(double('f32'));
    const b = c.toDevice([1, 2, 3], [3], 'f32');
    c.dispose();
    expect(c.disposed).toBe(true);
    await failsWith(() => c.toDevice([1], [1], 'f32'), PjrtError, 'FAILED_PRECONDITION', /client was disposed; open a new one/);
    await failsWith(c.compile(double('f32')), PjrtError, 'FAILED_PRECONDITION', /client was disposed/);
    await failsWith(b.toHost(), PjrtError, 'FAILED_PRECONDITION', /disposed \(or its client was\)/);
    await failsWith(exe.run([b]), PjrtError, 'FAILED_PRECONDITION', /client was disposed/);
    expect(exe.disposed).toBe(true);
    c.dispose(); // twice is fine
  });
});

describe('plugins that cannot be used', () => {
  it('a path that does not exist', async () => {
    const e = await failsWith(openClient({ plugin: '/nonexistent/libpjrt.so' }), PluginError, 'NOT_FOUND', /PJRT plugin '\/nonexistent\/libpjrt.so' \(from the plugin option\) does not exist/);
    expect(e).toBeInstanceOf(FlipError);
  });

  it('PJRT_PLUGIN_PATH pointing nowhere', async () => {
    process.env.PJRT_PLUGIN_PATH = path.join(tmp, 'missing.so');
    try {
      await failsWith(openClient({ target: 'cpu' }), PluginError, 'NOT_FOUND', /\(from PJRT_PLUGIN_PATH\) does not exist/);
    } finally {
      delete process.env.PJRT_PLUGIN_PATH;
    }
  });

  it('a target with nothing installed says how to install it', async () => {
    const old = process.env.FLIP_CACHE_DIR;
    process.env.FLIP_CACHE_DIR = path.join(tmp, 'empty-cache');
    try {
      await failsWith(openClient({ target: 'gpu' }), PluginError, 'NOT_FOUND', /^no PJRT plugin for target gpu: run `flip plugins install gpu` or set PJRT_PLUGIN_PATH$/);
    } finally {
      if (old === undefined) delete process.env.FLIP_CACHE_DIR;
      else process.env.FLIP_CACHE_DIR = old;
    }
  });

  it('a shared library that is not a PJRT plugin', async () => {
    const so = buildSo('not_a_plugin', 'extern "C" int flip_not_a_plugin() { return 42; }\n');
    await failsWith(openClient({ plugin: so }), PluginError, 'INVALID_ARGUMENT', /is not a PJRT plugin: it exports no GetPjrtApi symbol/);
  });

  it('a file that is not a shared library', async () => {
    const file = path.join(tmp, 'text.so');
    fs.writeFileSync(file, 'not an ELF file');
    await failsWith(openClient({ plugin: file }), PluginError, 'INVALID_ARGUMENT', /cannot load PJRT plugin .*text\.so/);
  });

  it('a plugin whose PJRT C API is too old', async () => {
    // Only the start of PJRT_Api, which has been stable across versions: sizes and the version.
    const so = buildSo('old_plugin', `#include <cstddef>
struct Version { size_t struct_size; void* ext; int major; int minor; };
struct OldApi { size_t struct_size; void* ext; Version version; void* fns[8]; };
static OldApi api = { sizeof(OldApi), nullptr, { sizeof(Version), nullptr, 0, 30 }, {} };
extern "C" const OldApi* GetPjrtApi() { return &api; }
`);
    await failsWith(openClient({ plugin: so }), PluginError, 'FAILED_PRECONDITION', /is too old: it implements PJRT C API 0\.30, flip needs at least 0\.57 \(built against 0\.81\)/);
  });

  it('a plugin that finds no device fails with one sentence', async () => {
    const cpu = installedPlugins().find((p) => p.target === 'cpu' && p.package === 'xla-cpu-pjrt')!; // the build whose pjrt_c_api.h the addon is built against
    const include = path.join(cpu.dir, 'xla_plugins', 'xla_cpu_pjrt', 'include');
    const so = buildSo('no_device_plugin', `#include <string>
#include "pjrt_c_api.h"
struct PJRT_Error { std::string message; PJRT_Error_Code code; };
static void ErrorDestroy(PJRT_Error_Destroy_Args* a) { delete a->error; }
static void ErrorMessage(PJRT_Error_Message_Args* a) { a->message = a->error->message.data(); a->message_size = a->error->message.size(); }
static PJRT_Error* ErrorGetCode(PJRT_Error_GetCode_Args* a) { a->code = a->error->code; return nullptr; }
static PJRT_Error* Initialize(PJRT_Plugin_Initialize_Args*) { return nullptr; }
static PJRT_Error* Attributes(PJRT_Plugin_Attributes_Args* a) { a->attributes = nullptr; a->num_attributes = 0; return nullptr; }
static PJRT_Error* ClientCreate(PJRT_Client_Create_Args*) { return new PJRT_Error{"No accelerator found on this host.\\nDetails follow.", PJRT_Error_Code_NOT_FOUND}; }
static PJRT_Api api;
extern "C" const PJRT_Api* GetPjrtApi() {
  api.struct_size = PJRT_Api_STRUCT_SIZE;
  api.pjrt_api_version = {PJRT_Api_Version_STRUCT_SIZE, nullptr, PJRT_API_MAJOR, PJRT_API_MINOR};
  api.PJRT_Error_Destroy = ErrorDestroy;
  api.PJRT_Error_Message = ErrorMessage;
  api.PJRT_Error_GetCode = ErrorGetCode;
  api.PJRT_Plugin_Initialize = Initialize;
  api.PJRT_Plugin_Attributes = Attributes;
  api.PJRT_Client_Create = ClientCreate;
  return &api;
}
`, include);
    process.env.FLIP_SKIP_DEVICE_CHECK = '1'; // this machine has no TPU: let the fake plugin answer instead of the PCI check
    try {
      const e = await failsWith(openClient({ target: 'tpu', plugin: so }), PluginError, 'UNAVAILABLE', /^the tpu plugin \(.*no_device_plugin\.so\) is installed but found no TPU device on this machine \(No accelerator found on this host\.\)$/);
      expect((e.cause as PjrtError).code).toBe('NOT_FOUND');
    } finally {
      delete process.env.FLIP_SKIP_DEVICE_CHECK;
    }
  });

  it('a TPU target on a machine without a TPU is refused before libtpu is loaded', async () => {
    const fake = path.join(tmp, 'libtpu.so');
    fs.writeFileSync(fake, 'not loaded: the check comes first');
    process.env.PJRT_PLUGIN_PATH = fake;
    try {
      await failsWith(openClient({ target: 'tpu' }), PluginError, 'UNAVAILABLE', /found no TPU device on this machine \(no Google TPU on its PCI bus\)$/);
    } finally {
      delete process.env.PJRT_PLUGIN_PATH;
    }
  });
});
