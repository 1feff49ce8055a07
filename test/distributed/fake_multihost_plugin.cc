// A fake PJRT plugin for test/distributed/fake_plugin.test.ts, built there with g++ against the installed CPU
// plugin's pjrt_c_api.h. Like a multi-node GPU plugin it takes `node_id` / `num_nodes` create options and learns the
// other processes' devices through the caller's key-value callbacks, called from a thread of its own: at client
// creation (each node puts its device count, then gets every other node's) and at every execution (each node puts
// and gets an "execution n" key, as NCCL clique ids are exchanged). Each process has 2 devices; the global ones are
// every node's. Errors of the callbacks come back as the execution's or the creation's error; the codes of a try-get
// miss and of a get that times out are reported as device attributes (kv_miss_code, kv_timeout_code).
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pjrt_c_api.h"

struct PJRT_Error {
  std::string message;
  PJRT_Error_Code code;
};
struct PJRT_DeviceDescription {
  int id;
  int process;
  int local;
  std::string kind = "fake";
  std::string text;
  std::vector<PJRT_NamedValue> attrs;
};
struct PJRT_Device {
  PJRT_DeviceDescription desc;
  bool addressable;
};
struct PJRT_Client {
  int node = 0;
  int nodes = 1;
  PJRT_KeyValueGetCallback get = nullptr;
  void* get_arg = nullptr;
  PJRT_KeyValueTryGetCallback try_get = nullptr;
  void* try_get_arg = nullptr;
  PJRT_KeyValuePutCallback put = nullptr;
  void* put_arg = nullptr;
  std::vector<PJRT_Device*> devices, addressable;
  int executions = 0;
  int64_t miss_code = -1;     // what try-get of an absent key gave (NOT_FOUND = 5)
  int64_t timeout_code = -1;  // what a 100 ms get of an absent key gave (DEADLINE_EXCEEDED = 4)
  std::string platform = "fake";
};
struct PJRT_Executable {
  int unused;
};
struct PJRT_LoadedExecutable {
  PJRT_Client* client;
  PJRT_Executable exe;
};

static const int kLocal = 2;

static PJRT_Error* CallbackError(PJRT_Error_Code code, const char* message, size_t size) {
  return new PJRT_Error{std::string(message, size), code};
}
static PJRT_CallbackError g_callback_error = CallbackError;

static PJRT_Error* Put(PJRT_Client* c, const std::string& key, const std::string& value) {
  PJRT_KeyValuePutCallback_Args a;
  std::memset(&a, 0, sizeof a);
  a.struct_size = PJRT_KeyValuePutCallback_Args_STRUCT_SIZE;
  a.key = key.data();
  a.key_size = key.size();
  a.value = value.data();
  a.value_size = value.size();
  a.callback_error = &g_callback_error;
  a.user_arg = c->put_arg;
  return c->put(&a);
}
static PJRT_Error* Get(PJRT_Client* c, const std::string& key, int timeout_ms, std::string* value) {
  PJRT_KeyValueGetCallback_Args a;
  std::memset(&a, 0, sizeof a);
  a.struct_size = PJRT_KeyValueGetCallback_Args_STRUCT_SIZE;
  a.key = key.data();
  a.key_size = key.size();
  a.timeout_in_ms = timeout_ms;
  a.callback_error = &g_callback_error;
  a.user_arg = c->get_arg;
  PJRT_Error* e = c->get(&a);
  if (e != nullptr) return e;
  value->assign(a.value, a.value_size);
  a.value_deleter_callback(a.value);
  return nullptr;
}
static PJRT_Error* TryGet(PJRT_Client* c, const std::string& key, std::string* value) {
  PJRT_KeyValueTryGetCallback_Args a;
  std::memset(&a, 0, sizeof a);
  a.struct_size = PJRT_KeyValueTryGetCallback_Args_STRUCT_SIZE;
  a.key = key.data();
  a.key_size = key.size();
  a.callback_error = &g_callback_error;
  a.user_arg = c->try_get_arg;
  PJRT_Error* e = c->try_get(&a);
  if (e != nullptr) return e;
  value->assign(a.value, a.value_size);
  a.value_deleter_callback(a.value);
  return nullptr;
}

// Runs `f` on a thread of the plugin's own and returns its error.
template <typename F>
static PJRT_Error* OnPluginThread(F f) {
  PJRT_Error* err = nullptr;
  std::thread t([&] { err = f(); });
  t.join();
  return err;
}

static void ErrorDestroy(PJRT_Error_Destroy_Args* a) { delete a->error; }
static void ErrorMessage(PJRT_Error_Message_Args* a) {
  a->message = a->error->message.data();
  a->message_size = a->error->message.size();
}
static PJRT_Error* ErrorGetCode(PJRT_Error_GetCode_Args* a) {
  a->code = a->error->code;
  return nullptr;
}
static PJRT_Error* Initialize(PJRT_Plugin_Initialize_Args*) { return nullptr; }
static PJRT_Error* Attributes(PJRT_Plugin_Attributes_Args* a) {
  a->attributes = nullptr;
  a->num_attributes = 0;
  return nullptr;
}

static PJRT_Error* ClientCreate(PJRT_Client_Create_Args* a) {
  auto* c = new PJRT_Client();
  for (size_t i = 0; i < a->num_options; i++) {
    std::string name(a->create_options[i].name, a->create_options[i].name_size);
    if (name == "node_id") c->node = int(a->create_options[i].int64_value);
    else if (name == "num_nodes") c->nodes = int(a->create_options[i].int64_value);
    else {
      delete c;
      return new PJRT_Error{"unknown create option '" + name + "'", PJRT_Error_Code_INVALID_ARGUMENT};
    }
  }
  c->get = a->kv_get_callback;
  c->get_arg = a->kv_get_user_arg;
  c->try_get = a->kv_try_get_callback;
  c->try_get_arg = a->kv_try_get_user_arg;
  c->put = a->kv_put_callback;
  c->put_arg = a->kv_put_user_arg;
  if (c->nodes > 1 && (c->get == nullptr || c->put == nullptr || c->try_get == nullptr)) {
    delete c;
    return new PJRT_Error{"num_nodes > 1 needs the key-value callbacks", PJRT_Error_Code_INVALID_ARGUMENT};
  }
  std::vector<int> counts(c->nodes, kLocal);
  if (c->nodes > 1) {
    PJRT_Error* err = OnPluginThread([&]() -> PJRT_Error* {
      if (PJRT_Error* e = Put(c, "topology/" + std::to_string(c->node), std::to_string(kLocal))) return e;
      for (int j = 0; j < c->nodes; j++) {
        if (j == c->node) continue;
        std::string v;
        if (PJRT_Error* e = Get(c, "topology/" + std::to_string(j), 20000, &v)) return e;
        counts[j] = std::stoi(v);
      }
      std::string v;
      if (PJRT_Error* e = TryGet(c, "topology/" + std::to_string(c->node), &v)) return e;
      PJRT_Error* miss = TryGet(c, "absent", &v);
      c->miss_code = miss ? miss->code : 0;
      delete miss;
      PJRT_Error* late = Get(c, "absent", 100, &v);
      c->timeout_code = late ? late->code : 0;
      delete late;
      return nullptr;
    });
    if (err != nullptr) {
      delete c;
      return err;
    }
  }
  int id = 0;
  for (int j = 0; j < c->nodes; j++) {
    for (int k = 0; k < counts[j]; k++, id++) {
      auto* d = new PJRT_Device();
      d->desc.id = id;
      d->desc.process = j;
      d->desc.local = k;
      d->desc.text = "FakeDevice(id=" + std::to_string(id) + ", process=" + std::to_string(j) + ")";
      d->addressable = j == c->node;
      PJRT_NamedValue nv;
      std::memset(&nv, 0, sizeof nv);
      nv.struct_size = PJRT_NamedValue_STRUCT_SIZE;
      nv.name = "kv_miss_code";
      nv.name_size = std::strlen(nv.name);
      nv.type = PJRT_NamedValue_kInt64;
      nv.int64_value = c->miss_code;
      nv.value_size = 1;
      d->desc.attrs.push_back(nv);
      nv.name = "kv_timeout_code";
      nv.name_size = std::strlen(nv.name);
      nv.int64_value = c->timeout_code;
      d->desc.attrs.push_back(nv);
      c->devices.push_back(d);
      if (d->addressable) c->addressable.push_back(d);
    }
  }
  a->client = c;
  return nullptr;
}
static PJRT_Error* ClientDestroy(PJRT_Client_Destroy_Args* a) {
  for (auto* d : a->client->devices) delete d;
  delete a->client;
  return nullptr;
}
static PJRT_Error* PlatformName(PJRT_Client_PlatformName_Args* a) {
  a->platform_name = a->client->platform.data();
  a->platform_name_size = a->client->platform.size();
  return nullptr;
}
static PJRT_Error* PlatformVersion(PJRT_Client_PlatformVersion_Args* a) {
  a->platform_version = "fake 1";
  a->platform_version_size = 6;
  return nullptr;
}
static PJRT_Error* Devices(PJRT_Client_Devices_Args* a) {
  a->devices = a->client->devices.data();
  a->num_devices = a->client->devices.size();
  return nullptr;
}
static PJRT_Error* AddressableDevices(PJRT_Client_AddressableDevices_Args* a) {
  a->addressable_devices = a->client->addressable.data();
  a->num_addressable_devices = a->client->addressable.size();
  return nullptr;
}
static PJRT_Error* GetDescription(PJRT_Device_GetDescription_Args* a) {
  a->device_description = &a->device->desc;
  return nullptr;
}
static PJRT_Error* DescId(PJRT_DeviceDescription_Id_Args* a) {
  a->id = a->device_description->id;
  return nullptr;
}
static PJRT_Error* DescProcess(PJRT_DeviceDescription_ProcessIndex_Args* a) {
  a->process_index = a->device_description->process;
  return nullptr;
}
static PJRT_Error* DescKind(PJRT_DeviceDescription_Kind_Args* a) {
  a->device_kind = a->device_description->kind.data();
  a->device_kind_size = a->device_description->kind.size();
  return nullptr;
}
static PJRT_Error* DescString(PJRT_DeviceDescription_ToString_Args* a) {
  a->to_string = a->device_description->text.data();
  a->to_string_size = a->device_description->text.size();
  return nullptr;
}
static PJRT_Error* DescAttributes(PJRT_DeviceDescription_Attributes_Args* a) {
  a->attributes = a->device_description->attrs.data();
  a->num_attributes = a->device_description->attrs.size();
  return nullptr;
}
static PJRT_Error* IsAddressable(PJRT_Device_IsAddressable_Args* a) {
  a->is_addressable = a->device->addressable;
  return nullptr;
}
static PJRT_Error* LocalHardwareId(PJRT_Device_LocalHardwareId_Args* a) {
  a->local_hardware_id = a->device->desc.local;
  return nullptr;
}
static PJRT_Error* Compile(PJRT_Client_Compile_Args* a) {
  a->executable = new PJRT_LoadedExecutable{a->client, {0}};
  return nullptr;
}
static PJRT_Error* GetExecutable(PJRT_LoadedExecutable_GetExecutable_Args* a) {
  a->executable = &a->loaded_executable->exe;
  return nullptr;
}
static PJRT_Error* NumOutputs(PJRT_Executable_NumOutputs_Args* a) {
  a->num_outputs = 0;
  return nullptr;
}
static PJRT_Error* ExeDevices(PJRT_LoadedExecutable_AddressableDevices_Args* a) {
  a->addressable_devices = a->executable->client->addressable.data();
  a->num_addressable_devices = a->executable->client->addressable.size();
  return nullptr;
}
static PJRT_Error* ExecutableDestroy(PJRT_Executable_Destroy_Args*) { return nullptr; }
static PJRT_Error* LoadedDestroy(PJRT_LoadedExecutable_Destroy_Args* a) {
  delete a->executable;
  return nullptr;
}
// Every node puts "exec/<n>/<node>" and waits for every other node's, on a thread of its own.
static PJRT_Error* Execute(PJRT_LoadedExecutable_Execute_Args* a) {
  PJRT_Client* c = a->executable->client;
  int n = c->executions++;
  if (a->device_complete_events != nullptr)
    for (size_t d = 0; d < a->num_devices; d++) a->device_complete_events[d] = nullptr;
  if (c->nodes == 1) return nullptr;
  return OnPluginThread([&]() -> PJRT_Error* {
    std::string prefix = "exec/" + std::to_string(n) + "/";
    if (PJRT_Error* e = Put(c, prefix + std::to_string(c->node), "ready")) return e;
    for (int j = 0; j < c->nodes; j++) {
      std::string v;
      if (j != c->node)
        if (PJRT_Error* e = Get(c, prefix + std::to_string(j), 20000, &v)) return e;
    }
    return nullptr;
  });
}

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
  api.PJRT_Client_Destroy = ClientDestroy;
  api.PJRT_Client_PlatformName = PlatformName;
  api.PJRT_Client_PlatformVersion = PlatformVersion;
  api.PJRT_Client_Devices = Devices;
  api.PJRT_Client_AddressableDevices = AddressableDevices;
  api.PJRT_Device_GetDescription = GetDescription;
  api.PJRT_DeviceDescription_Id = DescId;
  api.PJRT_DeviceDescription_ProcessIndex = DescProcess;
  api.PJRT_DeviceDescription_Kind = DescKind;
  api.PJRT_DeviceDescription_ToString = DescString;
  api.PJRT_DeviceDescription_Attributes = DescAttributes;
  api.PJRT_Device_IsAddressable = IsAddressable;
  api.PJRT_Device_LocalHardwareId = LocalHardwareId;
  api.PJRT_Client_Compile = Compile;
  api.PJRT_LoadedExecutable_GetExecutable = GetExecutable;
  api.PJRT_Executable_NumOutputs = NumOutputs;
  api.PJRT_LoadedExecutable_AddressableDevices = ExeDevices;
  api.PJRT_Executable_Destroy = ExecutableDestroy;
  api.PJRT_LoadedExecutable_Destroy = LoadedDestroy;
  api.PJRT_LoadedExecutable_Execute = Execute;
  return &api;
}
