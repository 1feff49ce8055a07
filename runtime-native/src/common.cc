// Status/error conversion, dtype tables, the JS-thread completion bridge, and state teardown.
#include "common.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

namespace flip {

const char* CodeName(int code) {
  static const char* const kNames[] = {
      "OK",        "CANCELLED",         "UNKNOWN",  "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
      "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(sizeof kNames / sizeof kNames[0])) return kNames[code];
  return "UNKNOWN";
}

Status TakeError(const PJRT_Api* api, PJRT_Error* err) {
  if (err == nullptr) return Status{};
  auto msg = PJRT_ARGS(PJRT_Error_Message_Args);
  msg.error = err;
  api->PJRT_Error_Message(&msg);
  auto code = PJRT_ARGS(PJRT_Error_GetCode_Args);
  code.error = err;
  PJRT_Error* code_err = api->PJRT_Error_GetCode(&code);
  Status s;
  s.code = code_err == nullptr ? static_cast<int>(code.code) : PJRT_Error_Code_UNKNOWN;
  if (s.code == 0) s.code = PJRT_Error_Code_UNKNOWN;  // an error object is never OK
  s.message = Str(msg.message, msg.message_size);
  s.kind = "pjrt";
  auto destroy = PJRT_ARGS(PJRT_Error_Destroy_Args);
  if (code_err != nullptr) {
    destroy.error = code_err;
    api->PJRT_Error_Destroy(&destroy);
  }
  destroy.error = err;
  api->PJRT_Error_Destroy(&destroy);
  return s;
}

Napi::Error MakeError(Napi::Env env, const Status& s) {
  AddonData& data = Data(env);
  if (!data.error_factory.IsEmpty()) {
    Napi::Value e = data.error_factory.Call(
        {Napi::String::New(env, s.message), Napi::String::New(env, CodeName(s.code)),
         Napi::String::New(env, s.kind)});
    if (e.IsObject()) return Napi::Error(env, e);
  }
  Napi::Error e = Napi::Error::New(env, s.message);
  e.Set("code", Napi::String::New(env, CodeName(s.code)));
  return e;
}

void Throw(Napi::Env env, const Status& s) { throw MakeError(env, s); }

std::string Str(const char* p, size_t n) { return p == nullptr ? std::string() : std::string(p, n); }

// ---- dtypes ----
// The names index.ts and the IR use (compiler/ir/dtype.ts's DTYPES: every byte-sized type safetensors carries, and complex).
static const DTypeInfo kDTypes[] = {
    {"f32", PJRT_Buffer_Type_F32, 4},  {"bf16", PJRT_Buffer_Type_BF16, 2},
    {"f16", PJRT_Buffer_Type_F16, 2},  {"f64", PJRT_Buffer_Type_F64, 8},
    {"i32", PJRT_Buffer_Type_S32, 4},  {"i64", PJRT_Buffer_Type_S64, 8},
    {"u32", PJRT_Buffer_Type_U32, 4},  {"u8", PJRT_Buffer_Type_U8, 1},
    {"i1", PJRT_Buffer_Type_PRED, 1},  {"i8", PJRT_Buffer_Type_S8, 1},
    {"i16", PJRT_Buffer_Type_S16, 2},  {"u16", PJRT_Buffer_Type_U16, 2},
    {"u64", PJRT_Buffer_Type_U64, 8},  {"f8e4m3fn", PJRT_Buffer_Type_F8E4M3FN, 1},
    {"f8e5m2", PJRT_Buffer_Type_F8E5M2, 1},  {"f8e4m3fnuz", PJRT_Buffer_Type_F8E4M3FNUZ, 1},
    {"f8e5m2fnuz", PJRT_Buffer_Type_F8E5M2FNUZ, 1},  {"f8e8m0fnu", PJRT_Buffer_Type_F8E8M0FNU, 1},
    {"c64", PJRT_Buffer_Type_C64, 8},  {"c128", PJRT_Buffer_Type_C128, 16},
};

const DTypeInfo* DTypeByName(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DTypeInfo* DTypeByType(PJRT_Buffer_Type type) {
  for (const auto& d : kDTypes)
    if (type == d.type) return &d;
  return nullptr;
}

std::string DTypeName(PJRT_Buffer_Type type) {
  const DTypeInfo* d = DTypeByType(type);
  return d ? d->name : "pjrt_type_" + std::to_string(static_cast<int>(type));
}

// ---- work in flight ----

std::atomic<long>& InFlight() {
  static std::atomic<long>* n = new std::atomic<long>(0);  // never destroyed: read during exit
  return *n;
}

void GuardExit() {
  // exit() runs handlers newest first; PJRT registers static destructors lazily (oneDNN's JIT
  // kernels on first use, during an execution), so this is registered as late as possible: when
  // an environment goes away with work still in flight (the main one at its natural exit, after
  // the JS 'exit' event; a worker's when it is terminated). process.exit() with work in flight is
  // handled before that, by exitNow from the JS 'exit' listener (runtime-native/addon.ts).
  on_exit(
      [](int status, void*) {
        if (InFlight().load() == 0) return;
        fflush(nullptr);
        _exit(status);
      },
      nullptr);
}

// ---- Completer ----

Completer* Completer::Create(Napi::Env env) {
  auto* self = new Completer();
  self->tsfn_ = Tsfn::New(env, "flip.pjrt", 0, 1, self);
  self->tsfn_.Unref(env);
  // When the environment goes (process exit, worker termination), PJRT threads still finishing
  // work must stop posting to it. Cleanup hooks run in reverse order of registration, so this
  // runs before N-API tears down the thread-safe function and the instance data.
  napi_add_env_cleanup_hook(
      env,
      [](void* arg) {
        static_cast<Completer*>(arg)->closing_.store(true);
        if (InFlight().load() > 0) GuardExit();
      },
      self);
  return self;
}

void Completer::Hold(Napi::Env env) {
  if (pending_++ == 0) tsfn_.Ref(env);
}

void Completer::Post(Completion* c) {
  // During teardown the work is dropped: leaked rather than destroyed, since its PJRT objects
  // may already be unusable.
  if (closing_.load()) return;
  tsfn_.NonBlockingCall(c);
}

void Completer::CallJs(Napi::Env env, Napi::Function, Completer* self, Completion* c) {
  if (env == nullptr || c == nullptr) return;  // teardown
  {
    Napi::HandleScope scope(env);
    try {
      c->Complete(env);
    } catch (const Napi::Error& e) {
      // Complete() settles its own promise; anything escaping is a bug worth seeing.
      fprintf(stderr, "flip_pjrt: uncaught error in completion: %s\n", e.Message().c_str());
    }
  }
  delete c;
  if (--self->pending_ == 0) self->tsfn_.Unref(env);
}

// ---- EventsCompletion ----
EventsCompletion::~EventsCompletion() {
  for (PJRT_Event* e : events_) {
    auto d = PJRT_ARGS(PJRT_Event_Destroy_Args);
    d.event = e;
    TakeError(api_, api_->PJRT_Event_Destroy(&d));
  }
}

void EventsCompletion::WaitAll(Completer* completer, std::vector<PJRT_Event*> events) {
  completer_ = completer;
  events_ = std::move(events);
  // One extra count for this registration loop, so a callback that fires inline cannot post
  // (and delete) us before every event is registered.
  remaining_.store(static_cast<int>(events_.size()) + 1);
  std::vector<PJRT_Event*> evs = events_;  // `this` may be gone after the last Arrive
  for (PJRT_Event* e : evs) {
    auto a = PJRT_ARGS(PJRT_Event_OnReady_Args);
    a.event = e;
    a.callback = &EventsCompletion::OnReady;
    a.user_arg = this;
    Status s = TakeError(api_, api_->PJRT_Event_OnReady(&a));
    if (!s.ok()) Arrive(s);  // the callback will never run
  }
  Arrive(Status{});
}

void EventsCompletion::OnReady(PJRT_Error* err, void* arg) {
  auto* self = static_cast<EventsCompletion*>(arg);
  self->Arrive(TakeError(self->api_, err));
}

void EventsCompletion::Arrive(Status s) {
  if (!s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = std::move(s);
  }
  if (remaining_.fetch_sub(1) == 1) completer_->Post(this);
}

// ---- Dispatcher ----
Dispatcher::~Dispatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Dispatcher::Submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(job));
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  }
  cv_.notify_one();
}

void Dispatcher::Loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

// ---- states ----
ClientState::~ClientState() {
  // Stop the dispatch thread before the client goes. Jobs hold a reference to us, so by now
  // its queue is empty and this only joins an idle thread.
  dispatcher.reset();
  if (client != nullptr) {
    auto a = PJRT_ARGS(PJRT_Client_Destroy_Args);
    a.client = client;
    TakeError(api, api->PJRT_Client_Destroy(&a));
  }
}

int ClientState::DeviceIndex(PJRT_Device* d) const {
  for (size_t i = 0; i < devices.size(); i++)
    if (devices[i] == d) return static_cast<int>(i);
  return -1;
}

BufferState::~BufferState() {
  if (buffer != nullptr) {
    auto a = PJRT_ARGS(PJRT_Buffer_Destroy_Args);
    a.buffer = buffer;
    TakeError(client->api, client->api->PJRT_Buffer_Destroy(&a));
  }
}

size_t BufferState::ByteSize() const {
  const DTypeInfo* d = DTypeByType(type);
  size_t n = d ? d->bytes : 0;
  for (int64_t x : dims) n *= static_cast<size_t>(x);
  return n;
}

ExecState::~ExecState() {
  if (executable != nullptr) {
    auto a = PJRT_ARGS(PJRT_Executable_Destroy_Args);
    a.executable = executable;
    TakeError(client->api, client->api->PJRT_Executable_Destroy(&a));
  }
  if (loaded != nullptr) {
    auto a = PJRT_ARGS(PJRT_LoadedExecutable_Destroy_Args);
    a.executable = loaded;
    TakeError(client->api, client->api->PJRT_LoadedExecutable_Destroy(&a));
  }
}

Napi::Object NamedValuesToJs(Napi::Env env, const PJRT_NamedValue* values, size_t n) {
  Napi::Object o = Napi::Object::New(env);
  for (size_t i = 0; i < n; i++) {
    const PJRT_NamedValue& v = values[i];
    std::string name = Str(v.name, v.name_size);
    switch (v.type) {
      case PJRT_NamedValue_kString:
        o.Set(name, Napi::String::New(env, Str(v.string_value, v.value_size)));
        break;
      case PJRT_NamedValue_kInt64:
        o.Set(name, Napi::Number::New(env, static_cast<double>(v.int64_value)));
        break;
      case PJRT_NamedValue_kInt64List: {
        Napi::Array a = Napi::Array::New(env, v.value_size);
        for (size_t j = 0; j < v.value_size; j++)
          a.Set(j, Napi::Number::New(env, static_cast<double>(v.int64_array_value[j])));
        o.Set(name, a);
        break;
      }
      case PJRT_NamedValue_kFloat:
        o.Set(name, Napi::Number::New(env, v.float_value));
        break;
      case PJRT_NamedValue_kBool:
        o.Set(name, Napi::Boolean::New(env, v.bool_value));
        break;
    }
  }
  return o;
}

}  // namespace flip
