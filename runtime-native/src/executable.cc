// The JS Executable: execution (dispatched in order on the client's thread, completion through
// PJRT events), donation tracking, and introspection (optimized program, costs, memory, outputs).
#include "common.h"

namespace flip {

namespace {

Status Disposed() {
  return Status::Error(PJRT_Error_Code_FAILED_PRECONDITION,
                       "this executable was disposed (or its client was); compile the module again");
}

class ExecuteJob : public EventsCompletion {
 public:
  ExecuteJob(Napi::Env env, std::shared_ptr<ExecState> exe)
      : EventsCompletion(exe->client->api), deferred_(env), exe_(std::move(exe)), completer_(&Data(env).completer) {}
  ~ExecuteJob() override {
    for (auto& list : outputs_)
      for (PJRT_Buffer* b : list)
        if (b != nullptr) {
          auto d = PJRT_ARGS(PJRT_Buffer_Destroy_Args);
          d.buffer = b;
          TakeError(api_, api_->PJRT_Buffer_Destroy(&d));
        }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  std::vector<std::vector<std::shared_ptr<BufferState>>> args;
  std::vector<int64_t> non_donatable;
  bool restrict_donation = false;
  PJRT_Device* execute_device = nullptr;

  // On the client's dispatch thread.
  void Run() {
    const size_t num_devices = args.size();
    const size_t num_args = num_devices ? args[0].size() : 0;
    std::vector<std::vector<PJRT_Buffer*>> arg_ptrs(num_devices);
    std::vector<PJRT_Buffer* const*> arg_lists(num_devices);
    for (size_t d = 0; d < num_devices && status_.ok(); d++) {
      for (size_t i = 0; i < num_args; i++) {
        if (args[d][i]->donated.load()) {
          status_ = Status::Error(PJRT_Error_Code_FAILED_PRECONDITION,
                                  "argument " + std::to_string(i) + (num_devices > 1 ? " of device list " + std::to_string(d) : "") +
                                      " was donated to an earlier execution and can't be used again");
          break;
        }
        arg_ptrs[d].push_back(args[d][i]->buffer);
      }
      arg_lists[d] = arg_ptrs[d].data();
    }
    std::vector<PJRT_Event*> events;
    if (status_.ok()) {
      outputs_.assign(num_devices, std::vector<PJRT_Buffer*>(exe_->num_outputs, nullptr));
      std::vector<PJRT_Buffer**> output_lists(num_devices);
      for (size_t d = 0; d < num_devices; d++) output_lists[d] = outputs_[d].data();
      std::vector<PJRT_Event*> complete(num_devices, nullptr);
      auto opts = PJRT_ARGS(PJRT_ExecuteOptions);
      if (restrict_donation) {
        opts.non_donatable_input_indices = non_donatable.data();
        opts.num_non_donatable_input_indices = non_donatable.size();
      }
      auto a = PJRT_ARGS(PJRT_LoadedExecutable_Execute_Args);
      a.executable = exe_->loaded;
      a.options = &opts;
      a.argument_lists = arg_lists.data();
      a.num_devices = num_devices;
      a.num_args = num_args;
      a.output_lists = output_lists.data();
      a.device_complete_events = complete.data();
      a.execute_device = execute_device;
      status_ = TakeError(api_, api_->PJRT_LoadedExecutable_Execute(&a));
      if (status_.ok()) {
        // Inputs PJRT consumed (donated to outputs) are deleted now; remember it so that their
        // JS handles refuse further use with a clear message.
        for (auto& list : args)
          for (auto& b : list) {
            auto del = PJRT_ARGS(PJRT_Buffer_IsDeleted_Args);
            del.buffer = b->buffer;
            if (TakeError(api_, api_->PJRT_Buffer_IsDeleted(&del)).ok() && del.is_deleted) b->donated.store(true);
          }
        for (PJRT_Event* e : complete)
          if (e != nullptr) events.push_back(e);
      } else {
        outputs_.clear();
      }
    }
    WaitAll(completer_, std::move(events));  // last use of `this`
  }

  void Complete(Napi::Env env) override {
    // A donated input's memory now belongs to an output: V8 hears of the net change once, outputs minus
    // donated inputs (about nothing for a train step), not of the outputs now and the donated inputs when
    // their handles are collected: V8 counts any rise of its external memory since its last full collection,
    // so the whole train state added each step brought a full garbage collection per step.
    AddonData& data = Data(env);
    data.batch_external = true;
    data.external_pending = 0;
    for (auto& list : args)
      for (auto& b : list)
        if (b->donated.load() && b->external != 0) {
          data.external_pending -= b->external;
          b->external = 0;
        }
    struct FlushExternal {
      Napi::Env env;
      AddonData& data;
      ~FlushExternal() {
        data.batch_external = false;
        int64_t net = data.external_pending;
        data.external_pending = 0;
        if (net != 0) Napi::MemoryManagement::AdjustExternalMemory(env, net);
      }
    } flush{env, data};
    if (status_.ok() && exe_->client->closed) {
      status_ = Status::Error(PJRT_Error_Code_CANCELLED, "the client was disposed while this execution ran; its outputs were released");
    }
    if (!status_.ok()) {
      deferred_.Reject(MakeError(env, status_).Value());
      return;
    }
    const auto& client = exe_->client;
    Napi::Array lists = Napi::Array::New(env, outputs_.size());
    for (size_t d = 0; d < outputs_.size(); d++) {
      Napi::Array list = Napi::Array::New(env, outputs_[d].size());
      for (size_t i = 0; i < outputs_[d].size(); i++) {
        auto b = std::make_shared<BufferState>();
        b->client = client;
        b->buffer = outputs_[d][i];
        outputs_[d][i] = nullptr;
        auto et = PJRT_ARGS(PJRT_Buffer_ElementType_Args);
        et.buffer = b->buffer;
        TakeError(api_, api_->PJRT_Buffer_ElementType(&et));
        b->type = et.type;
        auto dims = PJRT_ARGS(PJRT_Buffer_Dimensions_Args);
        dims.buffer = b->buffer;
        if (TakeError(api_, api_->PJRT_Buffer_Dimensions(&dims)).ok()) b->dims.assign(dims.dims, dims.dims + dims.num_dims);
        auto dev = PJRT_ARGS(PJRT_Buffer_Device_Args);
        dev.buffer = b->buffer;
        if (TakeError(api_, api_->PJRT_Buffer_Device(&dev)).ok()) b->device = client->DeviceIndex(dev.device);
        list.Set(i, NewBuffer(env, std::move(b)));
      }
      lists.Set(d, list);
    }
    deferred_.Resolve(lists);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ExecState> exe_;
  std::vector<std::vector<PJRT_Buffer*>> outputs_;
  Completer* completer_;  // captured on the JS thread; Run() is not on it
};

class Executable : public Napi::ObjectWrap<Executable>, public Owner {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Executable",
                       {
                           InstanceAccessor<&Executable::NumOutputs>("numOutputs"),
                           InstanceAccessor<&Executable::Devices>("devices"),
                           InstanceAccessor<&Executable::IsDisposed>("disposed"),
                           InstanceMethod<&Executable::Execute>("execute"),
                           InstanceMethod<&Executable::Name>("name"),
                           InstanceMethod<&Executable::Partitioning>("partitioning"),
                           InstanceMethod<&Executable::OutputTypes>("outputTypes"),
                           InstanceMethod<&Executable::OutputDims>("outputDims"),
                           InstanceMethod<&Executable::OptimizedProgram>("optimizedProgram"),
                           InstanceMethod<&Executable::CostAnalysis>("costAnalysis"),
                           InstanceMethod<&Executable::MemoryStats>("memoryStats"),
                           InstanceMethod<&Executable::Fingerprint>("fingerprint"),
                           InstanceMethod<&Executable::Serialize>("serialize"),
                           InstanceMethod<&Executable::Dispose>("dispose"),
                       });
  }
  explicit Executable(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Executable>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      Throw(info.Env(), Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "use client.compile()"));
    }
    state_ = *info[0].As<Napi::External<std::shared_ptr<ExecState>>>().Data();
    state_->client->owners.insert(this);
  }
  ~Executable() override { Release(); }
  void DropOwnership(Napi::Env) override { Release(); }

 private:
  void Release() {
    if (!state_) return;
    state_->client->owners.erase(this);
    state_.reset();
  }
  ExecState& Live(Napi::Env env) {
    if (!state_ || state_->client->closed) Throw(env, Disposed());
    return *state_;
  }
  const PJRT_Api* Api() const { return state_->client->api; }

  Napi::Value NumOutputs(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(Live(info.Env()).num_outputs));
  }
  Napi::Value Devices(const Napi::CallbackInfo& info) {
    ExecState& e = Live(info.Env());
    Napi::Array a = Napi::Array::New(info.Env(), e.devices.size());
    for (size_t i = 0; i < e.devices.size(); i++) a.Set(i, e.devices[i]);
    return a;
  }
  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

  // execute(argLists: Buffer[][], device: number | undefined, donate: number[] | undefined)
  //   -> Promise<Buffer[][]> (per device, per output); resolves once the devices are done.
  Napi::Value Execute(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    if (!info[0].IsArray()) Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "execute: expected argument lists"));
    auto* job = new ExecuteJob(env, state_);
    std::unique_ptr<ExecuteJob> guard(job);
    Napi::Array lists = info[0].As<Napi::Array>();
    size_t num_args = 0;
    for (uint32_t d = 0; d < lists.Length(); d++) {
      Napi::Array list = lists.Get(d).As<Napi::Array>();
      if (d == 0) num_args = list.Length();
      if (list.Length() != num_args) {
        Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT,
                                 "execute: device argument lists differ in length (" + std::to_string(num_args) + " vs " +
                                     std::to_string(list.Length()) + ")"));
      }
      job->args.emplace_back();
      for (uint32_t i = 0; i < list.Length(); i++) {
        std::shared_ptr<BufferState> b = UnwrapBuffer(env, list.Get(i));
        if (b->client != e.client) {
          Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT,
                                   "execute: argument " + std::to_string(i) + " lives on a different client"));
        }
        job->args.back().push_back(std::move(b));
      }
    }
    if (info.Length() > 1 && info[1].IsNumber()) {
      int64_t dev = info[1].As<Napi::Number>().Int64Value();
      if (dev < 0 || dev >= static_cast<int64_t>(e.client->devices.size())) {
        Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "execute: device index " + std::to_string(dev) + " out of range"));
      }
      job->execute_device = e.client->devices[dev];
    }
    if (info.Length() > 2 && info[2].IsArray()) {
      Napi::Array donate = info[2].As<Napi::Array>();
      std::vector<bool> may(num_args, false);
      for (uint32_t i = 0; i < donate.Length(); i++) {
        int64_t k = donate.Get(i).As<Napi::Number>().Int64Value();
        if (k >= 0 && k < static_cast<int64_t>(num_args)) may[k] = true;
      }
      job->restrict_donation = true;
      for (size_t i = 0; i < num_args; i++)
        if (!may[i]) job->non_donatable.push_back(static_cast<int64_t>(i));
    }
    Napi::Promise p = job->Promise();
    Data(env).completer.Hold(env);
    guard.release();
    e.client->dispatcher->Submit([job] { job->Run(); });
    return p;
  }

  Napi::Value Name(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    auto a = PJRT_ARGS(PJRT_Executable_Name_Args);
    a.executable = e.executable;
    ThrowIf(env, TakeError(Api(), Api()->PJRT_Executable_Name(&a)));
    return Napi::String::New(env, Str(a.executable_name, a.executable_name_size));
  }

  Napi::Value Partitioning(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    auto r = PJRT_ARGS(PJRT_Executable_NumReplicas_Args);
    r.executable = e.executable;
    ThrowIf(env, TakeError(Api(), Api()->PJRT_Executable_NumReplicas(&r)));
    auto p = PJRT_ARGS(PJRT_Executable_NumPartitions_Args);
    p.executable = e.executable;
    ThrowIf(env, TakeError(Api(), Api()->PJRT_Executable_NumPartitions(&p)));
    Napi::Object o = Napi::Object::New(env);
    o.Set("numReplicas", static_cast<double>(r.num_replicas));
    o.Set("numPartitions", static_cast<double>(p.num_partitions));
    return o;
  }

  // Element type names of the outputs, or null where the plugin does not say.
  Napi::Value OutputTypes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    if (!PJRT_HAS(Api(), PJRT_Executable_OutputElementTypes)) return env.Null();
    auto a = PJRT_ARGS(PJRT_Executable_OutputElementTypes_Args);
    a.executable = e.executable;
    Status s = TakeError(Api(), Api()->PJRT_Executable_OutputElementTypes(&a));
    if (s.code == PJRT_Error_Code_UNIMPLEMENTED) return env.Null();
    ThrowIf(env, s);
    Napi::Array out = Napi::Array::New(env, a.num_output_types);
    for (size_t i = 0; i < a.num_output_types; i++) out.Set(i, DTypeName(a.output_types[i]));
    return out;
  }

  Napi::Value OutputDims(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    if (!PJRT_HAS(Api(), PJRT_Executable_OutputDimensions)) return env.Null();
    auto a = PJRT_ARGS(PJRT_Executable_OutputDimensions_Args);
    a.executable = e.executable;
    Status s = TakeError(Api(), Api()->PJRT_Executable_OutputDimensions(&a));
    if (s.code == PJRT_Error_Code_UNIMPLEMENTED) return env.Null();
    ThrowIf(env, s);
    Napi::Array out = Napi::Array::New(env, a.num_outputs);
    size_t k = 0;
    for (size_t i = 0; i < a.num_outputs; i++) {
      Napi::Array dims = Napi::Array::New(env, a.dim_sizes[i]);
      for (size_t j = 0; j < a.dim_sizes[i]; j++) dims.Set(j, static_cast<double>(a.dims[k++]));
      out.Set(i, dims);
    }
    return out;
  }

  // { format, code: Uint8Array }: the optimized program (a serialized HloModuleProto, possibly
  // with its config) as PJRT_Executable_OptimizedProgram returns it.
  Napi::Value OptimizedProgram(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    auto program = PJRT_ARGS(PJRT_Program);
    auto a = PJRT_ARGS(PJRT_Executable_OptimizedProgram_Args);
    a.executable = e.executable;
    a.program = &program;
    ThrowIf(env, TakeError(Api(), Api()->PJRT_Executable_OptimizedProgram(&a)));  // size query
    Napi::Uint8Array code = Napi::Uint8Array::New(env, program.code_size);
    program.code = reinterpret_cast<char*>(code.Data());
    ThrowIf(env, TakeError(Api(), Api()->PJRT_Executable_OptimizedProgram(&a)));
    Napi::Object o = Napi::Object::New(env);
    o.Set("format", Str(program.format, program.format_size));
    o.Set("code", code);
    return o;
  }

  Napi::Value CostAnalysis(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    if (!PJRT_HAS(Api(), PJRT_Executable_GetCostAnalysis)) return env.Null();
    auto a = PJRT_ARGS(PJRT_Executable_GetCostAnalysis_Args);
    a.executable = e.executable;
    Status s = TakeError(Api(), Api()->PJRT_Executable_GetCostAnalysis(&a));
    if (s.code == PJRT_Error_Code_UNIMPLEMENTED) return env.Null();
    ThrowIf(env, s);
    return NamedValuesToJs(env, a.properties, a.num_properties);
  }

  Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    if (!PJRT_HAS(Api(), PJRT_Executable_GetCompiledMemoryStats)) return env.Null();
    auto a = PJRT_ARGS(PJRT_Executable_GetCompiledMemoryStats_Args);
    a.executable = e.executable;
    Status s = TakeError(Api(), Api()->PJRT_Executable_GetCompiledMemoryStats(&a));
    if (s.code == PJRT_Error_Code_UNIMPLEMENTED) return env.Null();
    ThrowIf(env, s);
    Napi::Object o = Napi::Object::New(env);
    o.Set("generatedCodeSizeInBytes", static_cast<double>(a.generated_code_size_in_bytes));
    o.Set("argumentSizeInBytes", static_cast<double>(a.argument_size_in_bytes));
    o.Set("outputSizeInBytes", static_cast<double>(a.output_size_in_bytes));
    o.Set("aliasSizeInBytes", static_cast<double>(a.alias_size_in_bytes));
    o.Set("tempSizeInBytes", static_cast<double>(a.temp_size_in_bytes));
    o.Set("hostGeneratedCodeSizeInBytes", static_cast<double>(a.host_generated_code_size_in_bytes));
    o.Set("hostArgumentSizeInBytes", static_cast<double>(a.host_argument_size_in_bytes));
    o.Set("hostOutputSizeInBytes", static_cast<double>(a.host_output_size_in_bytes));
    o.Set("hostAliasSizeInBytes", static_cast<double>(a.host_alias_size_in_bytes));
    o.Set("hostTempSizeInBytes", static_cast<double>(a.host_temp_size_in_bytes));
    if (e.client->plugin->api->pjrt_api_version.minor_version >= 72) {
      o.Set("peakMemoryInBytes", static_cast<double>(a.peak_memory_in_bytes));
    }
    return o;
  }

  Napi::Value Fingerprint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    if (!PJRT_HAS(Api(), PJRT_Executable_Fingerprint)) return env.Null();
    auto a = PJRT_ARGS(PJRT_Executable_Fingerprint_Args);
    a.executable = e.executable;
    Status s = TakeError(Api(), Api()->PJRT_Executable_Fingerprint(&a));
    if (!s.ok()) return env.Null();
    return Napi::String::New(env, Str(a.executable_fingerprint, a.executable_fingerprint_size));
  }

  // serialize() -> Uint8Array: the plugin's own serialization of the compiled executable
  // (PJRT_Executable_Serialize), for PJRT_Executable_DeserializeAndLoad on a client of the same
  // plugin build. Throws UNIMPLEMENTED where the plugin has no serializer.
  Napi::Value Serialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExecState& e = Live(env);
    if (!PJRT_HAS(Api(), PJRT_Executable_Serialize)) {
      Throw(env, Status::Error(PJRT_Error_Code_UNIMPLEMENTED, "this PJRT plugin does not implement PJRT_Executable_Serialize", "pjrt"));
    }
    auto a = PJRT_ARGS(PJRT_Executable_Serialize_Args);
    a.executable = e.executable;
    ThrowIf(env, TakeError(Api(), Api()->PJRT_Executable_Serialize(&a)));
    Napi::Uint8Array out = Napi::Uint8Array::New(env, a.serialized_bytes_size);
    if (a.serialized_bytes_size > 0) std::memcpy(out.Data(), a.serialized_bytes, a.serialized_bytes_size);
    if (a.serialized_executable_deleter != nullptr && a.serialized_executable != nullptr) {
      a.serialized_executable_deleter(a.serialized_executable);
    }
    return out;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  std::shared_ptr<ExecState> state_;
};

}  // namespace

Napi::Object NewExecutable(Napi::Env env, std::shared_ptr<ExecState> state) {
  return Data(env).executable_ctor.New({Napi::External<std::shared_ptr<ExecState>>::New(env, &state)});
}

void InitExecutable(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Executable::Define(env);
  Data(env).executable_ctor = Napi::Persistent(ctor);
  exports.Set("Executable", ctor);
}

}  // namespace flip
