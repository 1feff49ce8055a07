// Module entry of flip_pjrt.node: per-instance data and the JS classes.
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

namespace flip {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

namespace {

// setErrorFactory((message, code, kind) => Error): how native errors become PjrtError/PluginError.
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  Data(info.Env()).error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// inFlight(): asynchronous work started and not yet delivered (see InFlight in common.h).
Napi::Value InFlightCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(InFlight().load()));
}

// exitNow(code): ends the process at once with that status, without running static destructors
// or exit handlers (which crash while PJRT threads still run work). stdio is flushed first.
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  fflush(nullptr);
  _exit(code);
}

// keepHostMemory(on): glibc malloc keeps freed memory in the process instead of giving it back to the OS.
// With mmap off and no trimming, blocks freed after one step are reused by the next instead of being mapped,
// faulted in and zeroed again. It does not reach the CPU plugin's per-execution temporary buffer (hundreds of
// MB for a train step) unless every thread shares the main arena: a PJRT thread allocates it from its own
// arena otherwise, whose heaps hold at most 64 MiB, so glibc maps a block that large on its own whatever
// M_MMAP_MAX says. glibc.malloc.arena_max=1, which only works from a process's start, is what
// runtime-native/host_start.mjs restarts for (docs/runtime.md, "Host memory"). on=false restores glibc's
// default limits. Returns whether glibc accepted both settings.
Napi::Value KeepHostMemory(const Napi::CallbackInfo& info) {
  bool on = info.Length() > 0 && info[0].ToBoolean().Value();
  int ok = mallopt(M_MMAP_MAX, on ? 0 : 65536);
  // -1: no trimming at all (mallopt(3)). INT_MAX, the largest positive value, still gave back the heap's top once a
  // block over 2 GiB was freed: a flip_base step at batch 8 re-faulted its 2.1 GB temporary buffer every step.
  ok &= mallopt(M_TRIM_THRESHOLD, on ? -1 : 128 * 1024);
  return Napi::Boolean::New(info.Env(), ok == 1);
}

// restart(file, argv, env): replaces this process's image with `file` run on argv and env (execve):
// the same pid, stdio and parent, so nothing around the process (a shell, a test, a lock file naming
// the pid) sees a second process. Used at start-up only, before any PJRT work, to start again with
// environment that only takes effect when a process starts (glibc's malloc tunables; see
// runtime-native/host_start.mjs). Returns the error message when execve fails; on success it does
// not return.
Napi::Value Restart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsArray()) {
    Napi::TypeError::New(env, "restart(file: string, argv: string[], env: string[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto strings = [](Napi::Array a) {
    std::vector<std::string> v;
    for (uint32_t i = 0; i < a.Length(); ++i) v.push_back(a.Get(i).ToString().Utf8Value());
    return v;
  };
  const std::string file = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> argv = strings(info[1].As<Napi::Array>()), envp = strings(info[2].As<Napi::Array>());
  auto pointers = [](std::vector<std::string>& v) {
    std::vector<char*> p;
    for (auto& s : v) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  };
  std::vector<char*> argvp = pointers(argv), envpp = pointers(envp);
  fflush(nullptr);
  // Node marks its stdio close-on-exec (and may have made it non-blocking): the new image gets them as a
  // process normally starts with them.
  for (int fd = 0; fd <= 2; ++fd) {
    int fd_flags = fcntl(fd, F_GETFD);
    if (fd_flags >= 0) fcntl(fd, F_SETFD, fd_flags & ~FD_CLOEXEC);
    int fl_flags = fcntl(fd, F_GETFL);
    if (fl_flags >= 0 && (fl_flags & O_NONBLOCK)) fcntl(fd, F_SETFL, fl_flags & ~O_NONBLOCK);
  }
  execve(file.c_str(), argvp.data(), envpp.data());
  return Napi::String::New(env, std::strerror(errno));
}

// Node dlcloses an addon when the last environment that loaded it goes (a worker thread exiting),
// but PJRT threads may still call back into this library (event callbacks): keep it mapped.
void PinThisLibrary() {
  static bool pinned = false;
  if (pinned) return;
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinThisLibrary), &info) != 0 && info.dli_fname != nullptr) {
    pinned = dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE) != nullptr;
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinThisLibrary();
  auto* data = new AddonData{{}, {}, {}, {}, *Completer::Create(env)};
  env.SetInstanceData(data);
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
  exports.Set("inFlight", Napi::Function::New(env, InFlightCount, "inFlight"));
  exports.Set("keepHostMemory", Napi::Function::New(env, KeepHostMemory, "keepHostMemory"));
  exports.Set("restart", Napi::Function::New(env, Restart, "restart"));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow, "exitNow"));
  exports.Set("headerApiVersion", Napi::String::New(env, std::to_string(PJRT_API_MAJOR) + "." + std::to_string(PJRT_API_MINOR)));
  exports.Set("minApiVersion", Napi::String::New(env, "0." + std::to_string(kMinApiMinor)));
  InitPlugin(env, exports);
  InitClient(env, exports);
  InitBuffer(env, exports);
  InitExecutable(env, exports);
  InitCoordinator(env, exports);
  return exports;
}

}  // namespace
}  // namespace flip

static Napi::Object InitFlipPjrt(Napi::Env env, Napi::Object exports) { return flip::Init(env, exports); }

NODE_API_MODULE(flip_pjrt, InitFlipPjrt)
