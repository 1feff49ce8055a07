// Module entry of flip_pjrt.node: per-instance data and the JS classes.
#include "common.h"

namespace flip {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

namespace {

// setErrorFactory((message, code, kind) => Error): how native errors become PjrtError/PluginError.
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  Data(info.Env()).error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);
  data->completer.Init(env);
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
  exports.Set("headerApiVersion", Napi::String::New(env, std::to_string(PJRT_API_MAJOR) + "." + std::to_string(PJRT_API_MINOR)));
  exports.Set("minApiVersion", Napi::String::New(env, "0." + std::to_string(kMinApiMinor)));
  InitPlugin(env, exports);
  InitClient(env, exports);
  InitBuffer(env, exports);
  InitExecutable(env, exports);
  return exports;
}

}  // namespace
}  // namespace flip

static Napi::Object InitFlipPjrt(Napi::Env env, Napi::Object exports) { return flip::Init(env, exports); }

NODE_API_MODULE(flip_pjrt, InitFlipPjrt)
