// The JS Client: devices, compile (on a worker thread), host->device buffers, dispose.
#include "common.h"

namespace flip {

namespace {

Status Closed() {
  return Status::Error(PJRT_Error_Code_FAILED_PRECONDITION,
                       "this PJRT client was disposed; open a new one with openClient()");
}

std::string DeviceString(const PJRT_Api* api, PJRT_DeviceDescription* d) {
  auto a = PJRT_ARGS(PJRT_DeviceDescription_ToString_Args);
  a.device_description = d;
  if (!TakeError(api, api->PJRT_DeviceDescription_ToString(&a)).ok()) return "";
  return Str(a.to_string, a.to_string_size);
}

// The state of a loaded executable: its executable (for introspection), output count and devices.
// Takes ownership of `loaded` whatever happens (the state destroys it).
Status Wrap(const std::shared_ptr<ClientState>& client, PJRT_LoadedExecutable* loaded, std::shared_ptr<ExecState>* out) {
  const PJRT_Api* api = client->api;
  auto state = std::make_shared<ExecState>();
  state->client = client;
  state->loaded = loaded;
  *out = state;

  auto g = PJRT_ARGS(PJRT_LoadedExecutable_GetExecutable_Args);
  g.loaded_executable = loaded;
  Status s = TakeError(api, api->PJRT_LoadedExecutable_GetExecutable(&g));
  if (!s.ok()) return s;
  state->executable = g.executable;

  auto n = PJRT_ARGS(PJRT_Executable_NumOutputs_Args);
  n.executable = g.executable;
  s = TakeError(api, api->PJRT_Executable_NumOutputs(&n));
  if (!s.ok()) return s;
  state->num_outputs = n.num_outputs;

  auto d = PJRT_ARGS(PJRT_LoadedExecutable_AddressableDevices_Args);
  d.executable = loaded;
  s = TakeError(api, api->PJRT_LoadedExecutable_AddressableDevices(&d));
  if (!s.ok()) return s;
  for (size_t i = 0; i < d.num_addressable_devices; i++) state->devices.push_back(client->DeviceIndex(d.addressable_devices[i]));
  return s;
}

// A worker thread that makes a loaded executable (compile, or load serialized bytes) and resolves a
// promise with it. It counts as PJRT work in flight (InFlightToken) until it is delivered.
class ExecutableWorker : public Napi::AsyncWorker {
 public:
  ExecutableWorker(Napi::Env env, const char* name, std::shared_ptr<ClientState> client, std::string input, std::string options)
      : Napi::AsyncWorker(env, name),
        client_(std::move(client)),
        input_(std::move(input)),
        options_(std::move(options)),
        deferred_(env) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  InFlightToken in_flight;

  void Execute() override {
    PJRT_LoadedExecutable* loaded = nullptr;
    status_ = Make(&loaded);
    if (!status_.ok()) return;
    status_ = Wrap(client_, loaded, &state_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (status_.ok() && client_->closed) status_ = Closed();
    if (!status_.ok()) {
      state_.reset();
      deferred_.Reject(MakeError(env, status_).Value());
      return;
    }
    deferred_.Resolve(NewExecutable(env, std::move(state_)));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 protected:
  // Makes the loaded executable from input_ and options_ (both owned by this worker, so they outlive the call).
  virtual Status Make(PJRT_LoadedExecutable** loaded) = 0;
  std::shared_ptr<ClientState> client_;
  std::string input_;
  std::string options_;

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ExecState> state_;
  Status status_;
};

// PJRT_Executable_DeserializeAndLoad: bytes from PJRT_Executable_Serialize of the same plugin build,
// and optionally the compile options to load it with.
class DeserializeWorker : public ExecutableWorker {
 public:
  DeserializeWorker(Napi::Env env, std::shared_ptr<ClientState> client, std::string bytes, std::string options)
      : ExecutableWorker(env, "flip.pjrt.deserialize", std::move(client), std::move(bytes), std::move(options)) {}

 protected:
  Status Make(PJRT_LoadedExecutable** loaded) override {
    const PJRT_Api* api = client_->api;
    auto a = PJRT_ARGS(PJRT_Executable_DeserializeAndLoad_Args);
    a.client = client_->client;
    a.serialized_executable = input_.data();
    a.serialized_executable_size = input_.size();
    if (!options_.empty()) {
      a.overridden_serialized_compile_options = options_.data();
      a.overridden_serialized_compile_options_size = options_.size();
    }
    Status s = TakeError(api, api->PJRT_Executable_DeserializeAndLoad(&a));
    *loaded = a.loaded_executable;
    return s;
  }
};

// PJRT_Client_Compile of MLIR text or bytecode with serialized CompileOptionsProto bytes.
class CompileWorker : public ExecutableWorker {
 public:
  CompileWorker(Napi::Env env, std::shared_ptr<ClientState> client, std::string code, std::string options)
      : ExecutableWorker(env, "flip.pjrt.compile", std::move(client), std::move(code), std::move(options)) {}

 protected:
  Status Make(PJRT_LoadedExecutable** loaded) override {
    const PJRT_Api* api = client_->api;
    auto program = PJRT_ARGS(PJRT_Program);
    program.code = input_.data();
    program.code_size = input_.size();
    program.format = "mlir";
    program.format_size = 4;
    auto a = PJRT_ARGS(PJRT_Client_Compile_Args);
    a.client = client_->client;
    a.program = &program;
    a.compile_options = options_.data();
    a.compile_options_size = options_.size();
    Status s = TakeError(api, api->PJRT_Client_Compile(&a));
    *loaded = a.executable;
    return s;
  }
};

std::string BytesOf(Napi::Env env, Napi::Value v, const char* what) {
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = t.ArrayBuffer();
    return std::string(static_cast<const char*>(ab.Data()) + t.ByteOffset(), t.ByteLength());
  }
  Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, std::string(what) + " must be a string or Uint8Array"));
}

class Client : public Napi::ObjectWrap<Client> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Client",
                       {
                           InstanceAccessor<&Client::Disposed>("disposed"),
                           InstanceMethod<&Client::Platform>("platform"),
                           InstanceMethod<&Client::Devices>("devices"),
                           InstanceMethod<&Client::GlobalDevices>("globalDevices"),
                           InstanceMethod<&Client::MemoryStats>("memoryStats"),
                           InstanceMethod<&Client::DefaultDeviceAssignment>("defaultDeviceAssignment"),
                           InstanceMethod<&Client::Compile>("compile"),
                           InstanceMethod<&Client::LoadSerialized>("loadSerialized"),
                           InstanceMethod<&Client::BufferFromHost>("bufferFromHost"),
                           InstanceMethod<&Client::Dispose>("dispose"),
                       });
  }
  explicit Client(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Client>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      Throw(info.Env(), Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "use plugin.createClient()"));
    }
    state_ = *info[0].As<Napi::External<std::shared_ptr<ClientState>>>().Data();
  }

 private:
  ClientState& Live(Napi::Env env) {
    if (!state_) Throw(env, Closed());
    return *state_;
  }
  PJRT_Device* DeviceAt(Napi::Env env, Napi::Value v) {
    ClientState& c = Live(env);
    int64_t i = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
    if (i < 0 || i >= static_cast<int64_t>(c.devices.size())) {
      Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT,
                               "device index " + std::to_string(i) + " is out of range: this client has " +
                                   std::to_string(c.devices.size()) + " addressable device(s)"));
    }
    return c.devices[i];
  }

  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

  Napi::Value Platform(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ClientState& c = Live(env);
    Napi::Object o = Napi::Object::New(env);
    auto n = PJRT_ARGS(PJRT_Client_PlatformName_Args);
    n.client = c.client;
    ThrowIf(env, TakeError(c.api, c.api->PJRT_Client_PlatformName(&n)));
    o.Set("name", Str(n.platform_name, n.platform_name_size));
    auto v = PJRT_ARGS(PJRT_Client_PlatformVersion_Args);
    v.client = c.client;
    ThrowIf(env, TakeError(c.api, c.api->PJRT_Client_PlatformVersion(&v)));
    o.Set("version", Str(v.platform_version, v.platform_version_size));
    return o;
  }

  // One device as JS sees it: ids, kind, description, process index, attributes.
  static Napi::Object DeviceToJs(Napi::Env env, ClientState& c, PJRT_Device* device) {
    const PJRT_Api* api = c.api;
    auto g = PJRT_ARGS(PJRT_Device_GetDescription_Args);
    g.device = device;
    ThrowIf(env, TakeError(api, api->PJRT_Device_GetDescription(&g)));
    PJRT_DeviceDescription* desc = g.device_description;
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", c.DeviceIndex(device));
    auto id = PJRT_ARGS(PJRT_DeviceDescription_Id_Args);
    id.device_description = desc;
    ThrowIf(env, TakeError(api, api->PJRT_DeviceDescription_Id(&id)));
    o.Set("id", id.id);
    auto kind = PJRT_ARGS(PJRT_DeviceDescription_Kind_Args);
    kind.device_description = desc;
    ThrowIf(env, TakeError(api, api->PJRT_DeviceDescription_Kind(&kind)));
    o.Set("kind", Str(kind.device_kind, kind.device_kind_size));
    o.Set("description", DeviceString(api, desc));
    auto proc = PJRT_ARGS(PJRT_DeviceDescription_ProcessIndex_Args);
    proc.device_description = desc;
    if (TakeError(api, api->PJRT_DeviceDescription_ProcessIndex(&proc)).ok()) o.Set("processIndex", proc.process_index);
    auto addr = PJRT_ARGS(PJRT_Device_IsAddressable_Args);
    addr.device = device;
    if (TakeError(api, api->PJRT_Device_IsAddressable(&addr)).ok()) o.Set("addressable", addr.is_addressable);
    else o.Set("addressable", c.DeviceIndex(device) >= 0);
    if (c.DeviceIndex(device) >= 0) {
      auto hw = PJRT_ARGS(PJRT_Device_LocalHardwareId_Args);
      hw.device = device;
      if (TakeError(api, api->PJRT_Device_LocalHardwareId(&hw)).ok()) o.Set("localHardwareId", hw.local_hardware_id);
    }
    auto attrs = PJRT_ARGS(PJRT_DeviceDescription_Attributes_Args);
    attrs.device_description = desc;
    if (TakeError(api, api->PJRT_DeviceDescription_Attributes(&attrs)).ok()) {
      o.Set("attributes", NamedValuesToJs(env, attrs.attributes, attrs.num_attributes));
    } else {
      o.Set("attributes", Napi::Object::New(env));
    }
    return o;
  }

  Napi::Value Devices(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ClientState& c = Live(env);
    Napi::Array out = Napi::Array::New(env, c.devices.size());
    for (size_t i = 0; i < c.devices.size(); i++) out.Set(i, DeviceToJs(env, c, c.devices[i]));
    return out;
  }

  // Every process's devices (PJRT_Client_Devices): `addressable` ones are this process's (`index` >= 0).
  Napi::Value GlobalDevices(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ClientState& c = Live(env);
    Napi::Array out = Napi::Array::New(env, c.global_devices.size());
    for (size_t i = 0; i < c.global_devices.size(); i++) out.Set(i, DeviceToJs(env, c, c.global_devices[i]));
    return out;
  }

  // Allocator statistics of one device, or null where the plugin does not report them.
  Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ClientState& c = Live(env);
    PJRT_Device* d = DeviceAt(env, info[0]);
    auto a = PJRT_ARGS(PJRT_Device_MemoryStats_Args);
    a.device = d;
    Status s = TakeError(c.api, c.api->PJRT_Device_MemoryStats(&a));
    if (s.code == PJRT_Error_Code_UNIMPLEMENTED) return env.Null();
    ThrowIf(env, s);
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytesInUse", static_cast<double>(a.bytes_in_use));
#define FLIP_STAT(field, name) \
  if (a.field##_is_set) o.Set(name, static_cast<double>(a.field));
    FLIP_STAT(peak_bytes_in_use, "peakBytesInUse")
    FLIP_STAT(num_allocs, "numAllocs")
    FLIP_STAT(largest_alloc_size, "largestAllocSize")
    FLIP_STAT(bytes_limit, "bytesLimit")
    FLIP_STAT(bytes_reserved, "bytesReserved")
    FLIP_STAT(peak_bytes_reserved, "peakBytesReserved")
    FLIP_STAT(bytes_reservable_limit, "bytesReservableLimit")
    FLIP_STAT(largest_free_block_bytes, "largestFreeBlockBytes")
    FLIP_STAT(pool_bytes, "poolBytes")
    FLIP_STAT(peak_pool_bytes, "peakPoolBytes")
#undef FLIP_STAT
    return o;
  }

  // Device ids the plugin would assign to (replica, partition), flattened replica-major.
  Napi::Value DefaultDeviceAssignment(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ClientState& c = Live(env);
    int replicas = info[0].As<Napi::Number>().Int32Value();
    int partitions = info[1].As<Napi::Number>().Int32Value();
    std::vector<int> ids(static_cast<size_t>(std::max(0, replicas * partitions)));
    auto a = PJRT_ARGS(PJRT_Client_DefaultDeviceAssignment_Args);
    a.client = c.client;
    a.num_replicas = replicas;
    a.num_partitions = partitions;
    a.default_assignment_size = ids.size();
    a.default_assignment = ids.data();
    ThrowIf(env, TakeError(c.api, c.api->PJRT_Client_DefaultDeviceAssignment(&a)));
    Napi::Array out = Napi::Array::New(env, ids.size());
    for (size_t i = 0; i < ids.size(); i++) out.Set(i, ids[i]);
    return out;
  }

  // compile(code: string | Uint8Array (MLIR text or bytecode), options: Uint8Array) -> Promise<Executable>
  Napi::Value Compile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    std::string code = BytesOf(env, info[0], "program");
    std::string options = info.Length() > 1 ? BytesOf(env, info[1], "compile options") : std::string();
    auto* w = new CompileWorker(env, state_, std::move(code), std::move(options));
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // loadSerialized(bytes: Uint8Array, options?: Uint8Array) -> Promise<Executable>: an executable
  // serialized by executable.serialize() on this plugin build, loaded on this client's devices.
  Napi::Value LoadSerialized(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ClientState& c = Live(env);
    if (!PJRT_HAS(c.api, PJRT_Executable_DeserializeAndLoad)) {
      Throw(env, Status::Error(PJRT_Error_Code_UNIMPLEMENTED, "this PJRT plugin does not implement PJRT_Executable_DeserializeAndLoad", "pjrt"));
    }
    if (!info[0].IsTypedArray()) {
      Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "loadSerialized: the serialized executable must be a Uint8Array"));
    }
    std::string bytes = BytesOf(env, info[0], "serialized executable");
    std::string options = info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull() ? BytesOf(env, info[1], "compile options") : std::string();
    auto* w = new DeserializeWorker(env, state_, std::move(bytes), std::move(options));
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // bufferFromHost(data: TypedArray, dtype: string, dims: number[], device: number) -> Buffer
  Napi::Value BufferFromHost(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ClientState& c = Live(env);
    if (!info[0].IsTypedArray()) {
      Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "bufferFromHost: data must be a typed array"));
    }
    Napi::TypedArray data = info[0].As<Napi::TypedArray>();
    std::string dtype = info[1].As<Napi::String>().Utf8Value();
    const DTypeInfo* dt = DTypeByName(dtype);
    if (dt == nullptr) {
      Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "bufferFromHost: unknown dtype '" + dtype + "'"));
    }
    Napi::Array jdims = info[2].As<Napi::Array>();
    std::vector<int64_t> dims;
    size_t bytes = dt->bytes;
    for (uint32_t i = 0; i < jdims.Length(); i++) {
      int64_t d = jdims.Get(i).As<Napi::Number>().Int64Value();
      if (d < 0) Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "bufferFromHost: negative dimension"));
      dims.push_back(d);
      bytes *= static_cast<size_t>(d);
    }
    if (bytes != data.ByteLength()) {
      Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT,
                               "bufferFromHost: " + std::to_string(data.ByteLength()) + " bytes given, the shape needs " +
                                   std::to_string(bytes)));
    }
    PJRT_Device* device = DeviceAt(env, info[3]);
    auto a = PJRT_ARGS(PJRT_Client_BufferFromHostBuffer_Args);
    a.client = c.client;
    a.data = static_cast<const char*>(data.ArrayBuffer().Data()) + data.ByteOffset();
    a.type = dt->type;
    a.dims = dims.data();
    a.num_dims = dims.size();
    // The runtime copies during the call; JS memory is never aliased.
    a.host_buffer_semantics = PJRT_HostBufferSemantics_kImmutableOnlyDuringCall;
    a.device = device;
    ThrowIf(env, TakeError(c.api, c.api->PJRT_Client_BufferFromHostBuffer(&a)));
    if (a.done_with_host_buffer != nullptr) {
      auto d = PJRT_ARGS(PJRT_Event_Destroy_Args);
      d.event = a.done_with_host_buffer;
      TakeError(c.api, c.api->PJRT_Event_Destroy(&d));
    }
    auto b = std::make_shared<BufferState>();
    b->client = state_;
    b->buffer = a.buffer;
    b->type = dt->type;
    b->dims = std::move(dims);
    b->device = c.DeviceIndex(device);
    return NewBuffer(env, std::move(b));
  }

  // Releases every buffer and executable JS holds from this client, then the client itself.
  // PJRT objects still used by work in flight go when that work completes; the PJRT client is
  // destroyed after the last of them.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_) {
      state_->closed = true;
      std::vector<Owner*> owners(state_->owners.begin(), state_->owners.end());
      for (Owner* o : owners) o->DropOwnership(env);
      state_.reset();
    }
    return env.Undefined();
  }

  std::shared_ptr<ClientState> state_;
};

}  // namespace

Napi::Object NewClient(Napi::Env env, std::shared_ptr<ClientState> state) {
  return Data(env).client_ctor.New({Napi::External<std::shared_ptr<ClientState>>::New(env, &state)});
}

void InitClient(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Client::Define(env);
  Data(env).client_ctor = Napi::Persistent(ctor);
  exports.Set("Client", ctor);
}

}  // namespace flip
