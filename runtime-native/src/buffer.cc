// The JS Buffer: a device array; device->host copies and readiness as Promises.
#include "common.h"

namespace flip {

namespace {

Status Disposed() {
  return Status::Error(PJRT_Error_Code_FAILED_PRECONDITION,
                       "this device buffer was disposed (or its client was); upload the data again with "
                       "client.toDevice()");
}

Status Donated() {
  return Status::Error(PJRT_Error_Code_FAILED_PRECONDITION,
                       "this device buffer was donated to an earlier execution, which reused its memory; "
                       "use that execution's outputs, or keep the input by not donating it");
}

// Copies into a JS ArrayBuffer allocated up front (kept alive by a reference until the copy is done).
class ToHostJob : public EventsCompletion {
 public:
  ToHostJob(Napi::Env env, std::shared_ptr<BufferState> buffer, Napi::ArrayBuffer dst)
      : EventsCompletion(buffer->client->api), deferred_(env), buffer_(std::move(buffer)), dst_(Napi::Persistent(dst)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Complete(Napi::Env env) override {
    if (status_.ok()) {
      deferred_.Resolve(dst_.Value());
    } else {
      deferred_.Reject(MakeError(env, status_).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<BufferState> buffer_;
  Napi::Reference<Napi::ArrayBuffer> dst_;
};

class ReadyJob : public EventsCompletion {
 public:
  ReadyJob(Napi::Env env, std::shared_ptr<BufferState> buffer)
      : EventsCompletion(buffer->client->api), deferred_(env), buffer_(std::move(buffer)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Complete(Napi::Env env) override {
    if (status_.ok()) {
      deferred_.Resolve(env.Undefined());
    } else {
      deferred_.Reject(MakeError(env, status_).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<BufferState> buffer_;
};

class Buffer : public Napi::ObjectWrap<Buffer>, public Owner {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Buffer",
                       {
                           InstanceAccessor<&Buffer::DType>("dtype"),
                           InstanceAccessor<&Buffer::Dims>("dims"),
                           InstanceAccessor<&Buffer::Device>("device"),
                           InstanceAccessor<&Buffer::IsDisposed>("disposed"),
                           InstanceAccessor<&Buffer::IsDonated>("donated"),
                           InstanceMethod<&Buffer::OnDeviceSize>("onDeviceSizeInBytes"),
                           InstanceMethod<&Buffer::ToHost>("toHost"),
                           InstanceMethod<&Buffer::Ready>("ready"),
                           InstanceMethod<&Buffer::Dispose>("dispose"),
                       });
  }
  explicit Buffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Buffer>(info), env_(info.Env()) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      Throw(info.Env(), Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "use client.toDevice()"));
    }
    state_ = *info[0].As<Napi::External<std::shared_ptr<BufferState>>>().Data();
    state_->client->owners.insert(this);
    // Tell V8 about the device memory so that forgotten buffers get collected under pressure.
    state_->external = static_cast<int64_t>(state_->ByteSize());
    ReportExternal(env_, state_->external);
  }
  ~Buffer() override { Release(); }

  void DropOwnership(Napi::Env) override { Release(); }

  std::shared_ptr<BufferState> Live(Napi::Env env) {
    if (!state_ || state_->client->closed) Throw(env, Disposed());
    if (state_->donated.load()) Throw(env, Donated());
    return state_;
  }

 private:
  void Release() {
    if (!state_) return;
    state_->client->owners.erase(this);
    if (state_->external != 0) ReportExternal(env_, -state_->external);
    state_->external = 0;
    state_.reset();
  }
  BufferState& Meta(Napi::Env env) {
    if (!state_) Throw(env, Disposed());
    return *state_;
  }

  Napi::Value DType(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), DTypeName(Meta(info.Env()).type)); }
  Napi::Value Dims(const Napi::CallbackInfo& info) {
    BufferState& b = Meta(info.Env());
    Napi::Array a = Napi::Array::New(info.Env(), b.dims.size());
    for (size_t i = 0; i < b.dims.size(); i++) a.Set(i, static_cast<double>(b.dims[i]));
    return a;
  }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Meta(info.Env()).device); }
  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }
  Napi::Value IsDonated(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), state_ && state_->donated.load());
  }
  Napi::Value OnDeviceSize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<BufferState> b = Live(env);
    const PJRT_Api* api = b->client->api;
    auto a = PJRT_ARGS(PJRT_Buffer_OnDeviceSizeInBytes_Args);
    a.buffer = b->buffer;
    ThrowIf(env, TakeError(api, api->PJRT_Buffer_OnDeviceSizeInBytes(&a)));
    return Napi::Number::New(env, static_cast<double>(a.on_device_size_in_bytes));
  }

  // toHost() -> Promise<ArrayBuffer>, dense row-major.
  Napi::Value ToHost(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<BufferState> b = Live(env);
    if (DTypeByType(b->type) == nullptr) {
      Throw(env, Status::Error(PJRT_Error_Code_UNIMPLEMENTED,
                               "cannot copy a buffer of element type " + DTypeName(b->type) + " to the host"));
    }
    const PJRT_Api* api = b->client->api;
    const size_t size = b->ByteSize();
    Napi::ArrayBuffer dst = Napi::ArrayBuffer::New(env, size);
    if (size == 0) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Resolve(dst);
      return d.Promise();
    }
    // Ask for the dense major-to-minor layout explicitly: a device layout may be tiled.
    std::vector<int64_t> minor_to_major(b->dims.size());
    for (size_t i = 0; i < minor_to_major.size(); i++) minor_to_major[i] = static_cast<int64_t>(minor_to_major.size() - 1 - i);
    auto layout = PJRT_ARGS(PJRT_Buffer_MemoryLayout);
    layout.type = PJRT_Buffer_MemoryLayout_Type_Tiled;
    layout.tiled.struct_size = PJRT_Buffer_MemoryLayout_Tiled_STRUCT_SIZE;
    layout.tiled.minor_to_major = minor_to_major.data();
    layout.tiled.minor_to_major_size = minor_to_major.size();
    auto a = PJRT_ARGS(PJRT_Buffer_ToHostBuffer_Args);
    a.src = b->buffer;
    a.host_layout = &layout;
    a.dst = dst.Data();
    a.dst_size = size;
    ThrowIf(env, TakeError(api, api->PJRT_Buffer_ToHostBuffer(&a)));
    auto* job = new ToHostJob(env, b, dst);
    Napi::Promise p = job->Promise();
    Data(env).completer.Hold(env);
    std::vector<PJRT_Event*> events;
    if (a.event != nullptr) events.push_back(a.event);
    job->WaitAll(&Data(env).completer, std::move(events));
    return p;
  }

  // ready() -> Promise<void>: resolves when the buffer's value is computed (rejects with its error).
  Napi::Value Ready(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<BufferState> b = Live(env);
    const PJRT_Api* api = b->client->api;
    auto a = PJRT_ARGS(PJRT_Buffer_ReadyEvent_Args);
    a.buffer = b->buffer;
    ThrowIf(env, TakeError(api, api->PJRT_Buffer_ReadyEvent(&a)));
    auto* job = new ReadyJob(env, b);
    Napi::Promise p = job->Promise();
    Data(env).completer.Hold(env);
    std::vector<PJRT_Event*> events;
    if (a.event != nullptr) events.push_back(a.event);
    job->WaitAll(&Data(env).completer, std::move(events));
    return p;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  napi_env env_;
  std::shared_ptr<BufferState> state_;
};

}  // namespace

void ReportExternal(Napi::Env env, int64_t delta) {
  AddonData& d = Data(env);
  if (d.batch_external) d.external_pending += delta;
  else if (delta != 0) Napi::MemoryManagement::AdjustExternalMemory(env, delta);
}

Napi::Object NewBuffer(Napi::Env env, std::shared_ptr<BufferState> state) {
  return Data(env).buffer_ctor.New({Napi::External<std::shared_ptr<BufferState>>::New(env, &state)});
}

std::shared_ptr<BufferState> UnwrapBuffer(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env).buffer_ctor.Value())) {
    Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "expected a device Buffer"));
  }
  return Buffer::Unwrap(v.As<Napi::Object>())->Live(env);
}

void InitBuffer(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Buffer::Define(env);
  Data(env).buffer_ctor = Napi::Persistent(ctor);
  exports.Set("Buffer", ctor);
}

}  // namespace flip
