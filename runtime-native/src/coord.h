// The coordination store of a multi-process run: a TCP service hosted by process 0 on a native
// thread (CoordServer) and a client in every process (CoordClient) with a key-value store
// (blocking get with a timeout, try-get, put), barriers and heartbeats. A process that goes away
// (connection lost, heartbeats missed) fails every pending and later call of every process with an
// UNAVAILABLE error that names it. The client is callable from any thread: the PJRT key-value
// callbacks (plugin threads) use its blocking calls, JS its asynchronous ones.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace flip {

// A result of the store: code 0 (OK) or a PJRT_Error_Code, and the value or the error message.
struct CoordResult {
  int code = 0;
  std::string data;
  bool ok() const { return code == 0; }
};

struct CoordTiming {
  int heartbeat_interval_ms = 1000;
  int heartbeat_timeout_ms = 10000;
};

class CoordServer {
 public:
  // Binds and listens (port 0: a free port, reported by port()); the service runs on its own thread.
  static std::unique_ptr<CoordServer> Start(const std::string& bind, int port, int num_processes, CoordTiming timing,
                                            std::string* error);
  ~CoordServer();
  int port() const { return port_; }
  // Ends the service. With `drain`, queued replies are sent and the peers get up to 2 s to close their ends (after
  // the shutdown barrier); without, connections close at once (the run failed: peers see the coordinator gone).
  void Stop(bool drain = true);

 private:
  CoordServer() = default;
  void Loop();
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  int num_processes_ = 0;
  CoordTiming timing_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> drain_{true};
  std::thread thread_;
};

class CoordClient {
 public:
  using Done = std::function<void(CoordResult)>;
  // Connects (retrying while the coordinator is not up yet), registers as `process_id` of
  // `num_processes`, and waits until all have registered; everything within `timeout_ms`.
  static std::shared_ptr<CoordClient> Connect(const std::string& host, int port, int process_id, int num_processes,
                                              int timeout_ms, CoordTiming timing, CoordResult* error);
  ~CoordClient();

  int process_id() const { return process_id_; }
  int num_processes() const { return num_processes_; }

  // Asynchronous: `done` runs on the client's reader thread (or at once on this thread).
  void Put(const std::string& key, const std::string& value, Done done);
  void Get(const std::string& key, int timeout_ms, Done done);
  void TryGet(const std::string& key, Done done);
  void Barrier(const std::string& name, int timeout_ms, Done done);
  // The shutdown barrier; afterwards the connection is closed and calls fail (FAILED_PRECONDITION).
  void Shutdown(int timeout_ms, Done done);

  // Blocking versions (any thread but the reader's).
  CoordResult PutSync(const std::string& key, const std::string& value);
  CoordResult GetSync(const std::string& key, int timeout_ms);
  CoordResult TryGetSync(const std::string& key);
  CoordResult BarrierSync(const std::string& name, int timeout_ms);
  CoordResult ShutdownSync(int timeout_ms);

  // Why the run failed (a peer or the coordinator gone), or "" while it is healthy.
  std::string Failure();
  // Closes the connection now (no shutdown barrier): the peers see this process as gone.
  void Abort();

 private:
  CoordClient() = default;
  struct Pending {
    Done done;
    std::chrono::steady_clock::time_point deadline;
    std::string what;
  };
  void Request(uint8_t type, const std::string& body, int timeout_ms, std::string what, Done done);
  CoordResult Sync(const std::function<void(Done)>& start);
  bool Send(uint8_t type, const std::string& body);
  void Loop();
  void FailAll(int code, const std::string& message);

  int fd_ = -1;
  int wake_[2] = {-1, -1};
  int process_id_ = 0;
  int num_processes_ = 0;
  std::string where_;  // "host:port" of the coordinator
  CoordTiming timing_;
  std::mutex send_mu_;
  std::mutex mu_;
  std::map<uint32_t, Pending> pending_;
  uint32_t next_id_ = 1;
  std::string failure_;   // under mu_
  bool closed_ = false;   // under mu_: shut down or aborted
  bool leaving_ = false;  // under mu_: the shutdown barrier was passed: EOF is expected
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace flip
