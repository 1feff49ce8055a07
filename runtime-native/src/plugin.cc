// Loading a PJRT plugin (dlopen + GetPjrtApi + version check + PJRT_Plugin_Initialize), its
// attributes, and client creation with named options.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <map>

#include "common.h"
#include "coord.h"

namespace flip {

namespace {

// The PJRT key-value callbacks over the coordination store. The plugin calls them from its own
// threads (client creation, and later: NCCL clique ids at execution), so they block on the store
// client's thread and never touch JS. Keys carry the platform prefix ("cuda:", "tpu:", ...) as JAX's.
struct KvBinding {
  std::shared_ptr<CoordClient> store;
  std::string prefix;
};

PJRT_Error* KvError(PJRT_CallbackError* make, const CoordResult& r) {
  // DEADLINE_EXCEEDED (a get timed out), NOT_FOUND (try-get missed), UNAVAILABLE (a process is gone).
  return (*make)(static_cast<PJRT_Error_Code>(r.code), r.data.data(), r.data.size());
}

void KvDeleteValue(char* value) { delete[] value; }

char* KvCopy(const std::string& v) {
  char* out = new char[v.size() + 1];
  std::memcpy(out, v.data(), v.size());
  out[v.size()] = 0;
  return out;
}

PJRT_Error* KvGet(PJRT_KeyValueGetCallback_Args* a) {
  auto* b = static_cast<KvBinding*>(a->user_arg);
  CoordResult r = b->store->GetSync(b->prefix + std::string(a->key, a->key_size), a->timeout_in_ms);
  if (!r.ok()) return KvError(a->callback_error, r);
  a->value = KvCopy(r.data);
  a->value_size = r.data.size();
  a->value_deleter_callback = KvDeleteValue;
  return nullptr;
}

PJRT_Error* KvTryGet(PJRT_KeyValueTryGetCallback_Args* a) {
  auto* b = static_cast<KvBinding*>(a->user_arg);
  CoordResult r = b->store->TryGetSync(b->prefix + std::string(a->key, a->key_size));
  if (!r.ok()) return KvError(a->callback_error, r);
  a->value = KvCopy(r.data);
  a->value_size = r.data.size();
  a->value_deleter_callback = KvDeleteValue;
  return nullptr;
}

PJRT_Error* KvPut(PJRT_KeyValuePutCallback_Args* a) {
  auto* b = static_cast<KvBinding*>(a->user_arg);
  CoordResult r = b->store->PutSync(b->prefix + std::string(a->key, a->key_size), std::string(a->value, a->value_size));
  if (!r.ok()) return KvError(a->callback_error, r);
  return nullptr;
}

// Plugins stay loaded for the life of the process (they do not support being unloaded), and
// PJRT_Plugin_Initialize runs once per plugin.
std::mutex g_plugins_mu;
std::map<std::string, std::shared_ptr<PluginState>> g_plugins;

Status Refuse(int code, std::string msg) { return Status::Error(code, std::move(msg), "plugin"); }

Status Load(const std::string& requested, std::shared_ptr<PluginState>* out) {
  char resolved[PATH_MAX];
  if (realpath(requested.c_str(), resolved) == nullptr) {
    return Refuse(PJRT_Error_Code_NOT_FOUND, "PJRT plugin '" + requested + "' does not exist");
  }
  std::string path = resolved;
  std::lock_guard<std::mutex> lock(g_plugins_mu);
  auto it = g_plugins.find(path);
  if (it != g_plugins.end()) {
    *out = it->second;
    return Status{};
  }
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = dlerror();
    return Refuse(PJRT_Error_Code_INVALID_ARGUMENT,
                  "cannot load PJRT plugin '" + path + "': " + (err ? err : "dlopen failed"));
  }
  using GetApiFn = const PJRT_Api* (*)();
  auto get_api = reinterpret_cast<GetApiFn>(dlsym(handle, "GetPjrtApi"));
  if (get_api == nullptr) {
    dlclose(handle);
    return Refuse(PJRT_Error_Code_INVALID_ARGUMENT,
                  "'" + path + "' is not a PJRT plugin: it exports no GetPjrtApi symbol");
  }
  const PJRT_Api* api = get_api();
  if (api == nullptr) {
    return Refuse(PJRT_Error_Code_INTERNAL, "PJRT plugin '" + path + "': GetPjrtApi returned null");
  }
  const int major = api->pjrt_api_version.major_version;
  const int minor = api->pjrt_api_version.minor_version;
  const std::string version = std::to_string(major) + "." + std::to_string(minor);
  const std::string ours = std::to_string(PJRT_API_MAJOR) + "." + std::to_string(PJRT_API_MINOR);
  if (major != PJRT_API_MAJOR) {
    return Refuse(PJRT_Error_Code_FAILED_PRECONDITION,
                  "PJRT plugin '" + path + "' implements PJRT C API " + version +
                      ", but flip's addon speaks major version " + std::to_string(PJRT_API_MAJOR) +
                      " (built against " + ours + "): use a plugin with API 0.x, or rebuild flip "
                      "against that plugin's pjrt_c_api.h");
  }
  if (minor < kMinApiMinor || api->struct_size < offsetof(PJRT_Api, PJRT_Executable_OutputDimensions)) {
    return Refuse(PJRT_Error_Code_FAILED_PRECONDITION,
                  "PJRT plugin '" + path + "' is too old: it implements PJRT C API " + version +
                      ", flip needs at least 0." + std::to_string(kMinApiMinor) + " (built against " +
                      ours + "); install a newer plugin (`flip plugins install <target>`)");
  }
  auto init = PJRT_ARGS(PJRT_Plugin_Initialize_Args);
  Status s = TakeError(api, api->PJRT_Plugin_Initialize(&init));
  if (!s.ok()) {
    s.message = "PJRT plugin '" + path + "' failed to initialize: " + s.message;
    return s;
  }
  auto state = std::make_shared<PluginState>();
  state->path = path;
  state->handle = handle;
  state->api = api;
  g_plugins[path] = state;
  *out = state;
  return Status{};
}

// Named create options. Strings, booleans, integers (number or bigint), non-integral numbers
// (float) and arrays of integers (int64 list).
struct NamedValues {
  std::vector<std::string> names;
  std::vector<std::string> strings;
  std::vector<std::vector<int64_t>> lists;
  std::vector<PJRT_NamedValue> values;

  void FromJs(Napi::Env env, Napi::Object o) {
    Napi::Array keys = o.GetPropertyNames();
    const uint32_t n = keys.Length();
    names.reserve(n);
    strings.reserve(n);
    lists.reserve(n);
    values.reserve(n);
    for (uint32_t i = 0; i < n; i++) {
      std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
      Napi::Value v = o.Get(key);
      if (v.IsUndefined()) continue;
      names.push_back(key);
      PJRT_NamedValue nv;
      std::memset(&nv, 0, sizeof nv);
      nv.struct_size = PJRT_NamedValue_STRUCT_SIZE;
      nv.name = names.back().c_str();
      nv.name_size = names.back().size();
      nv.value_size = 1;
      if (v.IsString()) {
        strings.push_back(v.As<Napi::String>().Utf8Value());
        nv.type = PJRT_NamedValue_kString;
        nv.string_value = strings.back().c_str();
        nv.value_size = strings.back().size();
      } else if (v.IsBoolean()) {
        nv.type = PJRT_NamedValue_kBool;
        nv.bool_value = v.As<Napi::Boolean>().Value();
      } else if (v.IsBigInt()) {
        bool lossless = true;
        nv.type = PJRT_NamedValue_kInt64;
        nv.int64_value = v.As<Napi::BigInt>().Int64Value(&lossless);
      } else if (v.IsNumber()) {
        double d = v.As<Napi::Number>().DoubleValue();
        if (d == static_cast<double>(static_cast<int64_t>(d))) {
          nv.type = PJRT_NamedValue_kInt64;
          nv.int64_value = static_cast<int64_t>(d);
        } else {
          nv.type = PJRT_NamedValue_kFloat;
          nv.float_value = static_cast<float>(d);
        }
      } else if (v.IsArray()) {
        Napi::Array a = v.As<Napi::Array>();
        lists.emplace_back();
        for (uint32_t j = 0; j < a.Length(); j++)
          lists.back().push_back(static_cast<int64_t>(a.Get(j).As<Napi::Number>().Int64Value()));
        nv.type = PJRT_NamedValue_kInt64List;
        nv.int64_array_value = lists.back().data();
        nv.value_size = lists.back().size();
      } else {
        Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT,
                                 "client option '" + key +
                                     "' must be a string, boolean, number, bigint or array of integers"));
      }
      values.push_back(nv);
    }
  }
};

class CreateClientWorker : public Napi::AsyncWorker {
 public:
  CreateClientWorker(Napi::Env env, std::shared_ptr<PluginState> plugin)
      : Napi::AsyncWorker(env, "flip.pjrt.createClient"), deferred_(env), plugin_(std::move(plugin)) {}
  NamedValues options;
  std::shared_ptr<KvBinding> kv;
  InFlightToken in_flight;
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const PJRT_Api* api = plugin_->api;
    auto a = PJRT_ARGS(PJRT_Client_Create_Args);
    a.create_options = options.values.data();
    a.num_options = options.values.size();
    if (kv) {
      a.kv_get_callback = KvGet;
      a.kv_get_user_arg = kv.get();
      a.kv_try_get_callback = KvTryGet;
      a.kv_try_get_user_arg = kv.get();
      a.kv_put_callback = KvPut;
      a.kv_put_user_arg = kv.get();
    }
    status_ = TakeError(api, api->PJRT_Client_Create(&a));
    if (!status_.ok()) {
      // A plugin thread may still be inside a callback: the binding is never freed.
      if (kv) new std::shared_ptr<KvBinding>(kv);
      return;
    }
    state_ = std::make_shared<ClientState>();
    state_->kv_binding = kv;
    state_->plugin = plugin_;
    state_->api = api;
    state_->client = a.client;
    auto d = PJRT_ARGS(PJRT_Client_AddressableDevices_Args);
    d.client = a.client;
    status_ = TakeError(api, api->PJRT_Client_AddressableDevices(&d));
    if (!status_.ok()) return;
    state_->devices.assign(d.addressable_devices, d.addressable_devices + d.num_addressable_devices);
    auto g = PJRT_ARGS(PJRT_Client_Devices_Args);
    g.client = a.client;
    status_ = TakeError(api, api->PJRT_Client_Devices(&g));
    if (!status_.ok()) return;
    state_->global_devices.assign(g.devices, g.devices + g.num_devices);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      state_.reset();
      deferred_.Reject(MakeError(env, status_).Value());
      return;
    }
    deferred_.Resolve(NewClient(env, std::move(state_)));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<PluginState> plugin_;
  std::shared_ptr<ClientState> state_;
  Status status_;
};

class Plugin : public Napi::ObjectWrap<Plugin> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Plugin",
                       {
                           InstanceAccessor<&Plugin::Path>("path"),
                           InstanceAccessor<&Plugin::ApiVersion>("apiVersion"),
                           InstanceMethod<&Plugin::Attributes>("attributes"),
                           InstanceMethod<&Plugin::CreateClient>("createClient"),
                       });
  }
  explicit Plugin(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Plugin>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "Plugin(path): path must be a string"));
    }
    ThrowIf(env, Load(info[0].As<Napi::String>().Utf8Value(), &state_));
  }
 private:
  Napi::Value Path(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), state_->path); }
  Napi::Value ApiVersion(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("major", state_->api->pjrt_api_version.major_version);
    o.Set("minor", state_->api->pjrt_api_version.minor_version);
    return o;
  }
  Napi::Value Attributes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const PJRT_Api* api = state_->api;
    if (!PJRT_HAS(api, PJRT_Plugin_Attributes)) return Napi::Object::New(env);
    auto a = PJRT_ARGS(PJRT_Plugin_Attributes_Args);
    ThrowIf(env, TakeError(api, api->PJRT_Plugin_Attributes(&a)));
    return NamedValuesToJs(env, a.attributes, a.num_attributes);
  }
  Napi::Value CreateClient(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto* w = new CreateClientWorker(env, state_);
    try {
      if (info.Length() > 0 && info[0].IsObject()) w->options.FromJs(env, info[0].As<Napi::Object>());
      // createClient(options, store?, keyPrefix?): the key-value callbacks over a coordination store.
      if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
        w->kv = std::make_shared<KvBinding>();
        w->kv->store = UnwrapCoordClient(env, info[1]);
        if (info.Length() > 2 && info[2].IsString()) w->kv->prefix = info[2].As<Napi::String>().Utf8Value();
      }
    } catch (...) {
      delete w;
      throw;
    }
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }
  std::shared_ptr<PluginState> state_;
};

// Loads a shared library into the global namespace (the CUDA runtime libraries a GPU plugin
// dlopens by soname). Returns null or dlerror()'s message.
Napi::Value Preload(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr) return info.Env().Null();
  const char* err = dlerror();
  return Napi::String::New(info.Env(), err ? err : "dlopen failed");
}

}  // namespace

void InitPlugin(Napi::Env env, Napi::Object exports) {
  exports.Set("Plugin", Plugin::Define(env));
  exports.Set("preload", Napi::Function::New(env, Preload, "preload"));
}

}  // namespace flip
