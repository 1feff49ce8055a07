// Shared pieces of the flip PJRT addon: status/error conversion, dtype tables, the states that
// PJRT objects live in (reference-counted so teardown order is always buffers/executables before
// their client), and the bridge that turns PJRT events into work on the JS thread.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "pjrt_c_api.h"

namespace flip {

// A zeroed PJRT args struct with the struct_size of the header we were built against.
#define PJRT_ARGS(T)                      \
  ([] {                                   \
    T a_;                                 \
    std::memset(&a_, 0, sizeof a_);       \
    a_.struct_size = T##_STRUCT_SIZE;     \
    return a_;                            \
  }())

// True when the plugin's PJRT_Api is large enough to hold `fn` and fills it.
#define PJRT_HAS(api, fn) \
  (offsetof(PJRT_Api, fn) + sizeof(void*) <= (api)->struct_size && (api)->fn != nullptr)

// Oldest PJRT C API this addon talks to: 0.57 rearranged the PJRT_Api table, so older plugins
// have a different layout; every slot we need exists from there on.
constexpr int kMinApiMinor = 57;

// An absl-style status: code 0 is OK. `kind` says which JS error class to build
// ("pjrt" for errors that came from the plugin, "plugin" for load problems a user can fix,
// "usage" for misuse of a handle such as a disposed buffer).
struct Status {
  int code = 0;
  std::string message;
  std::string kind = "pjrt";
  bool ok() const { return code == 0; }
  static Status Error(int code, std::string message, std::string kind = "usage") {
    return Status{code, std::move(message), std::move(kind)};
  }
};

const char* CodeName(int code);

// Reads the code and message of `err` and destroys it (nullptr -> OK).
Status TakeError(const PJRT_Api* api, PJRT_Error* err);

// A JS error built by the factory that index.ts registers (PjrtError / PluginError), carrying
// `code` (absl code name) and the message.
Napi::Error MakeError(Napi::Env env, const Status& s);
[[noreturn]] void Throw(Napi::Env env, const Status& s);
inline void ThrowIf(Napi::Env env, const Status& s) {
  if (!s.ok()) Throw(env, s);
}

// ---- dtypes ----
struct DTypeInfo {
  const char* name;
  PJRT_Buffer_Type type;
  size_t bytes;
};
const DTypeInfo* DTypeByName(const std::string& name);
const DTypeInfo* DTypeByType(PJRT_Buffer_Type type);
std::string DTypeName(PJRT_Buffer_Type type);

// ---- work in flight ----

// How many pieces of asynchronous work (executions, transfers, compiles, client creations) have
// started and not yet been delivered to JS, over every environment of the process. Work that a
// torn-down environment (a terminated worker) orphaned stays counted: PJRT may still run it.
// Exiting while it is non-zero must not run the process's static destructors, since PJRT threads
// still run code and touch state they would free (a segfault at exit): see ExitNow.
std::atomic<long>& InFlight();
struct InFlightToken {
  InFlightToken() { InFlight().fetch_add(1); }
  ~InFlightToken() { InFlight().fetch_sub(1); }
  InFlightToken(const InFlightToken&) = delete;
  InFlightToken& operator=(const InFlightToken&) = delete;
};
// Registers an exit handler that ends the process with _exit(status), skipping the static
// destructors registered before it, when work is still in flight at exit().
void GuardExit();

// ---- JS-thread completions ----

// Work that finishes on the JS thread: Complete() runs there, then the object is deleted there,
// so the last references to PJRT objects (and so their destruction) drop on the JS thread.
struct Completion {
  virtual ~Completion() = default;
  InFlightToken in_flight;
  virtual void Complete(Napi::Env env) = 0;
};

// One thread-safe function per addon instance carries Completions from PJRT's threads (event
// callbacks) and from dispatch threads to the JS thread. It is unref'd while nothing is pending,
// so an idle client never keeps Node alive, and ref'd while a Promise waits on PJRT.
class Completer {
 public:
  // Allocated once per environment and never freed: PJRT threads may still hold it after the
  // environment is gone, and then only read `closing_`.
  static Completer* Create(Napi::Env env);
  // JS thread, before the work starts: one more pending completion.
  void Hold(Napi::Env env);
  // Any thread: deliver `c`; after Complete() it is deleted.
  void Post(Completion* c);

 private:
  static void CallJs(Napi::Env env, Napi::Function, Completer* self, Completion* c);
  using Tsfn = Napi::TypedThreadSafeFunction<Completer, Completion, &Completer::CallJs>;
  Tsfn tsfn_;
  size_t pending_ = 0;  // JS thread only
  std::atomic<bool> closing_{false};  // the environment is being torn down
};

// Waits for a set of PJRT events with PJRT_Event_OnReady (never PJRT_Event_Await), keeps the
// first error, and posts itself to the JS thread when the last one is ready.
class EventsCompletion : public Completion {
 public:
  explicit EventsCompletion(const PJRT_Api* api) : api_(api) {}
  ~EventsCompletion() override;
  // Takes ownership of the events (destroyed with this object, on the JS thread). Must be the
  // last thing the caller does with `this`: it may already be completed and deleted on return.
  void WaitAll(Completer* completer, std::vector<PJRT_Event*> events);

 protected:
  const PJRT_Api* api_;
  Status status_;  // first failure among the events (or set by the subclass before WaitAll)

 private:
  static void OnReady(PJRT_Error* err, void* arg);
  void Arrive(Status s);
  Completer* completer_ = nullptr;
  std::vector<PJRT_Event*> events_;
  std::atomic<int> remaining_{0};
  std::mutex mu_;
};

// ---- states ----

struct PluginState {
  std::string path;
  void* handle = nullptr;
  const PJRT_Api* api = nullptr;
};

// Runs jobs in submission order on one thread, so executions dispatch in program order and a
// plugin whose Execute blocks never blocks the event loop.
class Dispatcher {
 public:
  ~Dispatcher();
  void Submit(std::function<void()> job);

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// Something JS owns (a Buffer or Executable wrapper) that client.dispose() must release.
struct Owner {
  virtual ~Owner() = default;
  virtual void DropOwnership(Napi::Env env) = 0;
};

struct ClientState {
  std::shared_ptr<PluginState> plugin;
  const PJRT_Api* api = nullptr;
  PJRT_Client* client = nullptr;
  std::vector<PJRT_Device*> devices;  // addressable, in PJRT's order
  std::vector<PJRT_Device*> global_devices;  // every process's, in PJRT's order
  // What the PJRT key-value callbacks use (a KvBinding of plugin.cc); outlives the PJRT client.
  std::shared_ptr<void> kv_binding;
  std::unique_ptr<Dispatcher> dispatcher = std::make_unique<Dispatcher>();
  std::unordered_set<Owner*> owners;  // JS thread only
  bool closed = false;                // JS thread only: client.dispose() was called
  ~ClientState();
  int DeviceIndex(PJRT_Device* d) const;
};

struct BufferState {
  std::shared_ptr<ClientState> client;
  PJRT_Buffer* buffer = nullptr;
  PJRT_Buffer_Type type = PJRT_Buffer_Type_INVALID;
  std::vector<int64_t> dims;
  int device = -1;  // index into client->devices
  std::atomic<bool> donated{false};
  // Bytes reported to V8 as external memory for this buffer's JS handle (JS thread only): given back when the
  // handle is released or, for a donated input, as soon as its execution completes.
  int64_t external = 0;
  ~BufferState();
  size_t ByteSize() const;
};

struct ExecState {
  std::shared_ptr<ClientState> client;
  PJRT_LoadedExecutable* loaded = nullptr;
  PJRT_Executable* executable = nullptr;  // from GetExecutable, for introspection
  size_t num_outputs = 0;
  std::vector<int> devices;  // addressable devices of the executable, as client device indices
  ~ExecState();
};

// Per-addon-instance data.
struct AddonData {
  Napi::FunctionReference error_factory;  // (message, code, kind) => Error
  Napi::FunctionReference buffer_ctor;
  Napi::FunctionReference executable_ctor;
  Napi::FunctionReference client_ctor;
  Completer& completer;
  Napi::FunctionReference* coord_client_ctor = nullptr;  // the JS CoordClient class (coord_js.cc)
  // While an execution's outputs are wrapped (ExecuteJob::Complete), new handles add their sizes here instead
  // of telling V8 one by one; Complete reports the net change (outputs minus donated inputs) once.
  bool batch_external = false;
  int64_t external_pending = 0;
};
// Tell V8 that JS handles now hold `delta` more bytes of device memory (or add it to the open batch).
void ReportExternal(Napi::Env env, int64_t delta);
AddonData& Data(Napi::Env env);

// ---- JS classes ----
void InitPlugin(Napi::Env env, Napi::Object exports);
void InitClient(Napi::Env env, Napi::Object exports);
void InitBuffer(Napi::Env env, Napi::Object exports);
void InitExecutable(Napi::Env env, Napi::Object exports);
void InitCoordinator(Napi::Env env, Napi::Object exports);

class CoordClient;
// The coordination-store client behind a JS CoordClient (throws a JS error if `v` is not one).
std::shared_ptr<CoordClient> UnwrapCoordClient(Napi::Env env, Napi::Value v);

Napi::Object NewBuffer(Napi::Env env, std::shared_ptr<BufferState> state);
Napi::Object NewExecutable(Napi::Env env, std::shared_ptr<ExecState> state);
Napi::Object NewClient(Napi::Env env, std::shared_ptr<ClientState> state);
// The state behind a JS Buffer (throws a JS error if it is not one, or disposed).
std::shared_ptr<BufferState> UnwrapBuffer(Napi::Env env, Napi::Value v);

// A PJRT_NamedValue list as a JS object (attributes, cost analysis).
Napi::Object NamedValuesToJs(Napi::Env env, const PJRT_NamedValue* values, size_t n);
std::string Str(const char* p, size_t n);

}  // namespace flip
