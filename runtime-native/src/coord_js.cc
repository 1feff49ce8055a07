// The JS face of the coordination store (coord.h): startCoordinator(), connectCoordinator() and the
// CoordClient / CoordServer classes. Every call that waits is a Promise settled through the
// Completer; the waiting happens on the store client's own thread, never on the JS thread.
#include "common.h"
#include "coord.h"

namespace flip {

namespace {

Status FromResult(const CoordResult& r) { return Status::Error(r.code, r.data, "coordination"); }

CoordTiming TimingFrom(const Napi::CallbackInfo& info, size_t at) {
  CoordTiming t;
  if (info.Length() > at && info[at].IsNumber()) t.heartbeat_interval_ms = info[at].As<Napi::Number>().Int32Value();
  if (info.Length() > at + 1 && info[at + 1].IsNumber()) t.heartbeat_timeout_ms = info[at + 1].As<Napi::Number>().Int32Value();
  return t;
}

// One store call delivered on the JS thread: resolves with nothing, bytes, or bytes-or-null.
class StoreCall : public Completion {
 public:
  enum Kind { kVoid, kBytes, kMaybeBytes };
  StoreCall(Napi::Env env, Kind kind) : deferred_(env), kind_(kind) { Data(env).completer.Hold(env); }
  Napi::Promise Promise() { return deferred_.Promise(); }
  CoordClient::Done Callback(Completer* completer) {
    return [this, completer](CoordResult r) {
      result_ = std::move(r);
      completer->Post(this);
    };
  }
  void Complete(Napi::Env env) override {
    if (kind_ == kMaybeBytes && result_.code == PJRT_Error_Code_NOT_FOUND) return deferred_.Resolve(env.Null());
    if (!result_.ok()) return deferred_.Reject(MakeError(env, FromResult(result_)).Value());
    if (kind_ == kVoid) return deferred_.Resolve(env.Undefined());
    deferred_.Resolve(Napi::Buffer<char>::Copy(env, result_.data.data(), result_.data.size()));
  }

 private:
  Napi::Promise::Deferred deferred_;
  Kind kind_;
  CoordResult result_;
};

std::string Bytes(Napi::Env env, Napi::Value v, const char* what) {
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    return std::string(static_cast<const char*>(t.ArrayBuffer().Data()) + t.ByteOffset(), t.ByteLength());
  }
  Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, std::string(what) + " must be a string or Uint8Array"));
}

int TimeoutArg(Napi::Env env, const Napi::CallbackInfo& info, size_t i) {
  double t = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
  if (!(t >= 0 && t <= 2147483647.0)) {
    Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "a timeout must be a number of milliseconds >= 0"));
  }
  return static_cast<int>(t);
}

class StoreClient : public Napi::ObjectWrap<StoreClient> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CoordClient",
                       {
                           InstanceAccessor<&StoreClient::ProcessId>("processId"),
                           InstanceAccessor<&StoreClient::NumProcesses>("numProcesses"),
                           InstanceMethod<&StoreClient::Put>("put"),
                           InstanceMethod<&StoreClient::Get>("get"),
                           InstanceMethod<&StoreClient::TryGet>("tryGet"),
                           InstanceMethod<&StoreClient::Barrier>("barrier"),
                           InstanceMethod<&StoreClient::Shutdown>("shutdown"),
                           InstanceMethod<&StoreClient::Failure>("failure"),
                           InstanceMethod<&StoreClient::Abort>("abort"),
                       });
  }
  explicit StoreClient(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StoreClient>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      Throw(info.Env(), Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "use connectCoordinator()"));
    }
    client_ = *info[0].As<Napi::External<std::shared_ptr<CoordClient>>>().Data();
  }
  ~StoreClient() override {
    // Dropped by JS without shutdown(): the peers see this process leave.
    if (client_ && client_.use_count() == 1) client_->Abort();
  }
  std::shared_ptr<CoordClient> client_;

 private:
  Napi::Value ProcessId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), client_->process_id()); }
  Napi::Value NumProcesses(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), client_->num_processes()); }
  Napi::Value Put(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string key = Bytes(env, info[0], "a key"), value = Bytes(env, info[1], "a value");
    auto* call = new StoreCall(env, StoreCall::kVoid);
    Napi::Promise p = call->Promise();
    client_->Put(key, value, call->Callback(&Data(env).completer));
    return p;
  }
  Napi::Value Get(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string key = Bytes(env, info[0], "a key");
    int timeout = TimeoutArg(env, info, 1);
    auto* call = new StoreCall(env, StoreCall::kBytes);
    Napi::Promise p = call->Promise();
    client_->Get(key, timeout, call->Callback(&Data(env).completer));
    return p;
  }
  Napi::Value TryGet(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string key = Bytes(env, info[0], "a key");
    auto* call = new StoreCall(env, StoreCall::kMaybeBytes);
    Napi::Promise p = call->Promise();
    client_->TryGet(key, call->Callback(&Data(env).completer));
    return p;
  }
  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = Bytes(env, info[0], "a barrier name");
    int timeout = TimeoutArg(env, info, 1);
    auto* call = new StoreCall(env, StoreCall::kVoid);
    Napi::Promise p = call->Promise();
    client_->Barrier(name, timeout, call->Callback(&Data(env).completer));
    return p;
  }
  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int timeout = TimeoutArg(env, info, 0);
    auto* call = new StoreCall(env, StoreCall::kVoid);
    Napi::Promise p = call->Promise();
    client_->Shutdown(timeout, call->Callback(&Data(env).completer));
    return p;
  }
  Napi::Value Failure(const Napi::CallbackInfo& info) {
    std::string f = client_->Failure();
    return f.empty() ? info.Env().Null() : Napi::String::New(info.Env(), f);
  }
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    client_->Abort();
    return info.Env().Undefined();
  }
};

class StoreServer : public Napi::ObjectWrap<StoreServer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CoordServer",
                       {
                           InstanceAccessor<&StoreServer::Port>("port"),
                           InstanceMethod<&StoreServer::Stop>("stop"),
                       });
  }
  // new CoordServer(bind, port, numProcesses, heartbeatIntervalMs?, heartbeatTimeoutMs?)
  explicit StoreServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StoreServer>(info) {
    Napi::Env env = info.Env();
    std::string bind = info[0].As<Napi::String>().Utf8Value();
    int port = info[1].As<Napi::Number>().Int32Value();
    int n = info[2].As<Napi::Number>().Int32Value();
    std::string error;
    server_ = CoordServer::Start(bind, port, n, TimingFrom(info, 3), &error);
    if (!server_) Throw(env, Status::Error(PJRT_Error_Code_UNAVAILABLE, error, "coordination"));
    port_ = server_->port();
  }

 private:
  Napi::Value Port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_); }
  // stop(drain = true)
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    bool drain = !(info.Length() > 0 && info[0].IsBoolean() && !info[0].As<Napi::Boolean>().Value());
    if (server_) server_->Stop(drain);
    server_.reset();
    return info.Env().Undefined();
  }
  std::unique_ptr<CoordServer> server_;
  int port_ = 0;
};

class ConnectWorker : public Napi::AsyncWorker {
 public:
  ConnectWorker(Napi::Env env, std::string host, int port, int pid, int n, int timeout, CoordTiming t)
      : Napi::AsyncWorker(env, "flip.coordinator.connect"), deferred_(env), host_(std::move(host)), port_(port), pid_(pid), n_(n), timeout_(timeout), timing_(t) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  Napi::FunctionReference* ctor = nullptr;
  void Execute() override { client_ = CoordClient::Connect(host_, port_, pid_, n_, timeout_, timing_, &error_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!client_) return deferred_.Reject(MakeError(env, FromResult(error_)).Value());
    deferred_.Resolve(ctor->New({Napi::External<std::shared_ptr<CoordClient>>::New(env, &client_)}));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string host_;
  int port_, pid_, n_, timeout_;
  CoordTiming timing_;
  std::shared_ptr<CoordClient> client_;
  CoordResult error_;
};

}  // namespace

// The store behind a JS CoordClient (throws if `v` is not one).
std::shared_ptr<CoordClient> UnwrapCoordClient(Napi::Env env, Napi::Value v) {
  if (v.IsObject()) {
    Napi::Object o = v.As<Napi::Object>();
    auto* ctor = Data(env).coord_client_ctor;
    if (ctor != nullptr && o.InstanceOf(ctor->Value())) return StoreClient::Unwrap(o)->client_;
  }
  Throw(env, Status::Error(PJRT_Error_Code_INVALID_ARGUMENT, "the key-value store must be a client from connectCoordinator()"));
}

void InitCoordinator(Napi::Env env, Napi::Object exports) {
  Napi::Function client = StoreClient::Define(env);
  auto* ref = new Napi::FunctionReference(Napi::Persistent(client));
  Data(env).coord_client_ctor = ref;
  exports.Set("CoordClient", client);
  exports.Set("CoordServer", StoreServer::Define(env));
  // connectCoordinator(host, port, processId, numProcesses, timeoutMs, heartbeatIntervalMs?, heartbeatTimeoutMs?)
  exports.Set("connectCoordinator", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                Napi::Env env = info.Env();
                auto* w = new ConnectWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value(),
                                            info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Number>().Int32Value(),
                                            info[4].As<Napi::Number>().Int32Value(), TimingFrom(info, 5));
                w->ctor = Data(env).coord_client_ctor;
                Napi::Promise p = w->Promise();
                w->Queue();
                return p;
              }, "connectCoordinator"));
}

}  // namespace flip
