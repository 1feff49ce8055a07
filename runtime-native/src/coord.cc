// The coordination store (see coord.h). Wire format: frames of a 4-byte big-endian length, then a
// type byte and the fields (u32 big-endian integers; strings as a u32 length and the bytes).
#include "coord.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <vector>

#include "pjrt_c_api.h"

namespace flip {

namespace {

using Clock = std::chrono::steady_clock;

enum : uint8_t {
  kHello = 1,
  kPut = 2,
  kGet = 3,
  kTryGet = 4,
  kBarrier = 5,
  kBye = 6,
  kPing = 7,
  kReply = 10,
  kFail = 11,
};

const char* const kRegister = "\x01register";
const char* const kShutdown = "\x01shutdown";

void PutU32(std::string* s, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  s->append(b, 4);
}
void PutStr(std::string* s, const std::string& v) {
  PutU32(s, static_cast<uint32_t>(v.size()));
  s->append(v);
}
std::string Frame(uint8_t type, const std::string& body) {
  std::string f;
  PutU32(&f, static_cast<uint32_t>(body.size() + 1));
  f.push_back(static_cast<char>(type));
  f.append(body);
  return f;
}

// Reads fields from a frame body; `ok` turns false past its end.
struct Reader {
  const std::string& s;
  size_t at = 0;
  bool ok = true;
  uint32_t U32() {
    if (at + 4 > s.size()) {
      ok = false;
      return 0;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
    at += 4;
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
  }
  std::string Str() {
    uint32_t n = U32();
    if (!ok || at + n > s.size()) {
      ok = false;
      return "";
    }
    std::string v = s.substr(at, n);
    at += n;
    return v;
  }
};

// Takes whole frames off the front of `buf`: (type, body) pairs.
bool NextFrame(std::string* buf, uint8_t* type, std::string* body) {
  if (buf->size() < 5) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(buf->data());
  uint32_t n = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
  if (buf->size() < 4 + size_t(n)) return false;
  *type = p[4];
  body->assign(*buf, 5, n - 1);
  buf->erase(0, 4 + size_t(n));
  return true;
}

constexpr uint32_t kMaxFrame = 1u << 30;

bool FrameTooBig(const std::string& buf) {
  if (buf.size() < 4) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(buf.data());
  uint32_t n = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
  return n == 0 || n > kMaxFrame;
}

std::string HostName() {
  char h[256] = {0};
  if (gethostname(h, sizeof h - 1) != 0) return "unknown host";
  return h;
}

long Ms(Clock::duration d) { return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); }

std::string List(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size(); i++) s += (i ? ", " : "") + items[i];
  return s;
}

// ---------------------------------------------------------------------------------------------
// The service.

struct Conn {
  int fd = -1;
  std::string in, out;
  int pid = -1;  // registered process id
  std::string host;
  Clock::time_point last_seen;
  bool left = false;  // passed the shutdown barrier: its going away is expected
  bool closed = false;
};

struct Waiter {
  int conn;
  uint32_t req;
  Clock::time_point deadline;
};

struct BarrierState {
  std::map<int, Waiter> arrived;  // by process id
  int timeout_ms = 0;
  bool failed = false;
  int code = 0;
  std::string error;
};

class Service {
 public:
  Service(int n, CoordTiming t) : n_(n), timing_(t) {}
  std::map<int, Conn> conns;  // by connection id
  int next_conn = 1;

  void OnFrame(int cid, uint8_t type, const std::string& body) {
    Conn& c = conns[cid];
    Reader r{body};
    if (type == kPing) return;
    uint32_t req = r.U32();
    if (!r.ok) return Drop(cid, "sent a malformed message");
    if (type == kHello) {
      uint32_t pid = r.U32(), n = r.U32();
      std::string host = r.Str();
      if (!r.ok) return Drop(cid, "sent a malformed message");
      if (!failed_.empty()) return Reply(cid, req, PJRT_Error_Code_UNAVAILABLE, failed_);
      if (int(n) != n_) {
        return Reply(cid, req, PJRT_Error_Code_INVALID_ARGUMENT,
                     "process " + std::to_string(pid) + " (" + host + ") was started for " + std::to_string(n) +
                         " processes, but the coordinator for " + std::to_string(n_));
      }
      if (int(pid) >= n_) {
        return Reply(cid, req, PJRT_Error_Code_INVALID_ARGUMENT,
                     "process id " + std::to_string(pid) + " is out of range for " + std::to_string(n_) + " processes (0.." +
                         std::to_string(n_ - 1) + ")");
      }
      for (auto& [id, o] : conns) {
        if (id != cid && o.pid == int(pid) && !o.closed) {
          return Reply(cid, req, PJRT_Error_Code_ALREADY_EXISTS,
                       "process " + std::to_string(pid) + " is already registered (from " + o.host + "); each process needs its own id");
        }
      }
      c.pid = int(pid);
      c.host = host;
      hosts_[int(pid)] = host;
      return Reply(cid, req, 0, "");
    }
    if (c.pid < 0) return Reply(cid, req, PJRT_Error_Code_FAILED_PRECONDITION, "this connection has not registered");
    if (!failed_.empty()) return Reply(cid, req, PJRT_Error_Code_UNAVAILABLE, failed_);
    switch (type) {
      case kPut: {
        std::string key = r.Str(), value = r.Str();
        if (!r.ok) return Drop(cid, "sent a malformed message");
        kv_[key] = value;
        Reply(cid, req, 0, "");
        auto range = gets_.equal_range(key);
        for (auto it = range.first; it != range.second; ++it) Reply(it->second.conn, it->second.req, 0, value);
        gets_.erase(range.first, range.second);
        return;
      }
      case kGet: {
        std::string key = r.Str();
        uint32_t timeout = r.U32();
        if (!r.ok) return Drop(cid, "sent a malformed message");
        auto it = kv_.find(key);
        if (it != kv_.end()) return Reply(cid, req, 0, it->second);
        get_timeouts_[key] = timeout;
        gets_.emplace(key, Waiter{cid, req, Clock::now() + std::chrono::milliseconds(timeout)});
        return;
      }
      case kTryGet: {
        std::string key = r.Str();
        if (!r.ok) return Drop(cid, "sent a malformed message");
        auto it = kv_.find(key);
        if (it != kv_.end()) return Reply(cid, req, 0, it->second);
        return Reply(cid, req, PJRT_Error_Code_NOT_FOUND, "key '" + key + "' is not in the store");
      }
      case kBarrier: {
        std::string name = r.Str();
        uint32_t timeout = r.U32();
        if (!r.ok) return Drop(cid, "sent a malformed message");
        return Arrive(cid, req, name, timeout);
      }
      case kBye: {
        uint32_t timeout = r.U32();
        if (!r.ok) return Drop(cid, "sent a malformed message");
        return Arrive(cid, req, kShutdown, timeout);
      }
      default:
        return Drop(cid, "sent an unknown message");
    }
  }

  // A connection ended (EOF, error) or is dropped.
  void Closed(int cid, const std::string& why) {
    Conn& c = conns[cid];
    if (c.closed) return;
    c.closed = true;
    if (c.pid >= 0 && !c.left) Fail(Name(c.pid) + " is gone: " + why);
  }

  // Deadlines and heartbeats; called often.
  void Tick(Clock::time_point now) {
    for (auto it = gets_.begin(); it != gets_.end();) {
      if (it->second.deadline <= now) {
        Reply(it->second.conn, it->second.req, PJRT_Error_Code_DEADLINE_EXCEEDED,
              "key '" + it->first + "' was not put within " + std::to_string(get_timeouts_[it->first]) + " ms");
        it = gets_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [name, b] : barriers_) {
      if (b.failed) continue;
      bool late = false;
      for (auto& [pid, w] : b.arrived) late = late || w.deadline <= now;
      if (!late) continue;
      std::vector<std::string> missing;
      for (int p = 0; p < n_; p++)
        if (!b.arrived.count(p)) missing.push_back(Name(p));
      b.failed = true;
      b.code = PJRT_Error_Code_DEADLINE_EXCEEDED;
      if (name == kRegister) {
        b.error = "not all " + std::to_string(n_) + " processes connected to the coordinator within " + std::to_string(b.timeout_ms) +
                  " ms: " + List(missing) + " did not";
      } else if (name == kShutdown) {
        b.error = "the shutdown barrier timed out after " + std::to_string(b.timeout_ms) + " ms: " + List(missing) + " did not reach it";
      } else {
        b.error = "barrier '" + name + "' timed out after " + std::to_string(b.timeout_ms) + " ms: " + List(missing) + " did not reach it";
      }
      for (auto& [pid, w] : b.arrived) Reply(w.conn, w.req, b.code, b.error);
      b.arrived.clear();
    }
    if (now - last_ping_ >= std::chrono::milliseconds(timing_.heartbeat_interval_ms)) {
      last_ping_ = now;
      for (auto& [id, c] : conns)
        if (!c.closed && c.pid >= 0) c.out += Frame(kPing, "");
    }
    for (auto& [id, c] : conns) {
      if (!c.closed && c.pid >= 0 && !c.left && now - c.last_seen > std::chrono::milliseconds(timing_.heartbeat_timeout_ms)) {
        std::string why = "no heartbeat for " + std::to_string(Ms(now - c.last_seen)) + " ms (hung, or its network is down)";
        c.closed = true;
        Fail(Name(c.pid) + " is gone: " + why);
      }
    }
  }

 private:
  std::string Name(int pid) {
    auto it = hosts_.find(pid);
    return "process " + std::to_string(pid) + (it != hosts_.end() ? " (" + it->second + ")" : "");
  }
  void Reply(int cid, uint32_t req, int code, const std::string& data) {
    auto it = conns.find(cid);
    if (it == conns.end() || it->second.closed) return;
    std::string body;
    PutU32(&body, req);
    PutU32(&body, uint32_t(code));
    PutStr(&body, data);
    it->second.out += Frame(kReply, body);
  }
  void Drop(int cid, const std::string& why) {
    Conn& c = conns[cid];
    if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
    Closed(cid, why);
  }
  void Arrive(int cid, uint32_t req, const std::string& name, uint32_t timeout) {
    BarrierState& b = barriers_[name];
    if (b.failed) return Reply(cid, req, b.code, b.error);
    int pid = conns[cid].pid;
    if (b.arrived.count(pid)) {
      return Reply(cid, req, PJRT_Error_Code_FAILED_PRECONDITION, Name(pid) + " reached barrier '" + name + "' twice");
    }
    b.timeout_ms = int(timeout);
    b.arrived[pid] = Waiter{cid, req, Clock::now() + std::chrono::milliseconds(timeout)};
    if (int(b.arrived.size()) < n_) return;
    for (auto& [p, w] : b.arrived) {
      if (name == kShutdown) conns[w.conn].left = true;
      Reply(w.conn, w.req, 0, "");
    }
    barriers_.erase(name);
  }
  // The run failed: every pending call and every later one gets `why`.
  void Fail(const std::string& why) {
    if (!failed_.empty()) return;
    failed_ = why;
    for (auto& [k, w] : gets_) Reply(w.conn, w.req, PJRT_Error_Code_UNAVAILABLE, why);
    gets_.clear();
    for (auto& [name, b] : barriers_)
      for (auto& [p, w] : b.arrived) Reply(w.conn, w.req, PJRT_Error_Code_UNAVAILABLE, why);
    barriers_.clear();
    std::string body;
    PutStr(&body, why);
    for (auto& [id, c] : conns)
      if (!c.closed) c.out += Frame(kFail, body);
  }

  int n_;
  CoordTiming timing_;
  std::map<std::string, std::string> kv_;
  std::multimap<std::string, Waiter> gets_;
  std::map<std::string, uint32_t> get_timeouts_;
  std::map<std::string, BarrierState> barriers_;
  std::map<int, std::string> hosts_;
  std::string failed_;
  Clock::time_point last_ping_ = Clock::now();
};

void SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

// Writes what it can of `out` without blocking; false when the connection is broken.
bool Flush(int fd, std::string* out) {
  while (!out->empty()) {
    ssize_t n = ::send(fd, out->data(), out->size(), MSG_NOSIGNAL);
    if (n > 0) {
      out->erase(0, size_t(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<CoordServer> CoordServer::Start(const std::string& bind, int port, int num_processes, CoordTiming timing,
                                                std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string port_s = std::to_string(port);
  int rc = getaddrinfo(bind.empty() ? nullptr : bind.c_str(), port_s.c_str(), &hints, &res);
  if (rc != 0) {
    *error = "cannot bind the coordinator to '" + bind + "': " + gai_strerror(rc);
    return nullptr;
  }
  int fd = -1;
  std::string last = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0) break;
    last = strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    *error = "cannot listen on " + (bind.empty() ? std::string("*") : bind) + ":" + port_s + " for the coordinator: " + last;
    return nullptr;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  std::unique_ptr<CoordServer> s(new CoordServer());
  s->port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  SetNonBlocking(fd, true);
  s->listen_fd_ = fd;
  s->num_processes_ = num_processes;
  s->timing_ = timing;
  if (pipe2(s->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    *error = std::string("pipe: ") + strerror(errno);
    return nullptr;
  }
  s->thread_ = std::thread([p = s.get()] { p->Loop(); });
  return s;
}

CoordServer::~CoordServer() {
  Stop();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (wake_[0] >= 0) close(wake_[0]);
  if (wake_[1] >= 0) close(wake_[1]);
}

void CoordServer::Stop(bool drain) {
  if (!thread_.joinable()) return;
  drain_.store(drain);
  stop_.store(true);
  char b = 1;
  (void)!write(wake_[1], &b, 1);
  thread_.join();
}

void CoordServer::Loop() {
  Service svc(num_processes_, timing_);
  Clock::time_point drain_until{};
  for (;;) {
    bool stopping = stop_.load();
    if (stopping && drain_until == Clock::time_point{}) {
      // Stop: send what is queued, half-close, and give the peers a moment to close their ends
      // (closing with unread data would reset connections whose last replies are in flight).
      drain_until = Clock::now() + (drain_.load() ? std::chrono::milliseconds(2000) : std::chrono::milliseconds(0));
      for (auto& [id, c] : svc.conns)
        if (!c.closed && c.out.empty()) ::shutdown(c.fd, SHUT_WR);
    }
    bool open = false;
    for (auto& [id, c] : svc.conns) open = open || !c.closed;
    if (stopping && (!open || Clock::now() >= drain_until)) break;

    std::vector<pollfd> fds;
    std::vector<int> ids;
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, short(stopping ? 0 : POLLIN), 0});
    for (auto& [id, c] : svc.conns) {
      if (c.closed) continue;
      fds.push_back({c.fd, short(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
      ids.push_back(id);
    }
    poll(fds.data(), fds.size(), 50);
    if (fds[0].revents & POLLIN) {
      char buf[64];
      while (read(wake_[0], buf, sizeof buf) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int cfd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) break;
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        Conn c;
        c.fd = cfd;
        c.last_seen = Clock::now();
        svc.conns[svc.next_conn++] = std::move(c);
      }
    }
    auto now = Clock::now();
    for (size_t i = 0; i < ids.size(); i++) {
      int id = ids[i];
      Conn& c = svc.conns[id];
      if (c.closed) continue;
      short ev = fds[i + 2].revents;
      if (ev & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        bool eof = false;
        std::string err;
        for (;;) {
          ssize_t n = recv(c.fd, buf, sizeof buf, 0);
          if (n > 0) {
            c.in.append(buf, size_t(n));
            c.last_seen = now;
            continue;
          }
          if (n == 0) eof = true;
          else if (errno == EINTR) continue;
          else if (errno != EAGAIN && errno != EWOULDBLOCK) err = strerror(errno);
          break;
        }
        uint8_t type;
        std::string body;
        if (FrameTooBig(c.in)) {
          svc.Closed(id, "sent a malformed message");
          continue;
        }
        while (!svc.conns[id].closed && NextFrame(&svc.conns[id].in, &type, &body)) svc.OnFrame(id, type, body);
        if (eof || !err.empty()) {
          svc.Closed(id, eof ? "its connection closed (the process exited or was killed)" : "connection error: " + err);
        }
      }
    }
    svc.Tick(Clock::now());
    for (auto& [id, c] : svc.conns) {
      if (c.fd < 0) continue;
      if (!c.out.empty() && !Flush(c.fd, &c.out)) {
        c.out.clear();
        svc.Closed(id, "its connection broke");
      }
      if (stopping && !c.closed && c.out.empty()) ::shutdown(c.fd, SHUT_WR);
    }
    // Close finished connections (after their last frames were written).
    for (auto it = svc.conns.begin(); it != svc.conns.end();) {
      if (it->second.closed && (it->second.out.empty() || stopping)) {
        if (it->second.fd >= 0) close(it->second.fd);
        it->second.fd = -1;
        if (it->second.pid < 0 || it->second.left) {
          it = svc.conns.erase(it);
          continue;
        }
      }
      ++it;
    }
  }
  for (auto& [id, c] : svc.conns)
    if (c.fd >= 0) close(c.fd);
}

// ---------------------------------------------------------------------------------------------
// The client.

std::shared_ptr<CoordClient> CoordClient::Connect(const std::string& host, int port, int process_id, int num_processes,
                                                  int timeout_ms, CoordTiming timing, CoordResult* error) {
  const std::string where = host + ":" + std::to_string(port);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    *error = {PJRT_Error_Code_INVALID_ARGUMENT, "cannot resolve the coordinator host '" + host + "': " + gai_strerror(rc)};
    return nullptr;
  }
  int fd = -1;
  std::string last = "timed out";
  while (fd < 0) {
    for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
      int s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
      if (s < 0) continue;
      int r = connect(s, a->ai_addr, a->ai_addrlen);
      if (r != 0 && errno == EINPROGRESS) {
        long left = std::max(1L, std::min(1000L, Ms(deadline - Clock::now())));
        pollfd p{s, POLLOUT, 0};
        if (poll(&p, 1, int(left)) == 1) {
          int e = 0;
          socklen_t l = sizeof e;
          getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l);
          r = e == 0 ? 0 : -1;
          if (e != 0) errno = e;
        } else {
          errno = ETIMEDOUT;
          r = -1;
        }
      }
      if (r == 0) {
        fd = s;
      } else {
        last = strerror(errno);
        close(s);
      }
    }
    if (fd >= 0 || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  freeaddrinfo(res);
  if (fd < 0) {
    *error = {PJRT_Error_Code_UNAVAILABLE,
              "cannot reach the coordinator at " + where + " within " + std::to_string(timeout_ms) + " ms (" + last +
                  "); is process 0 running, and is that its address?"};
    return nullptr;
  }
  SetNonBlocking(fd, false);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::shared_ptr<CoordClient> c(new CoordClient());
  c->fd_ = fd;
  c->process_id_ = process_id;
  c->num_processes_ = num_processes;
  c->where_ = where;
  c->timing_ = timing;
  if (pipe2(c->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    *error = {PJRT_Error_Code_INTERNAL, std::string("pipe: ") + strerror(errno)};
    return nullptr;
  }
  c->thread_ = std::thread([p = c.get()] { p->Loop(); });

  std::string body;
  PutU32(&body, uint32_t(process_id));
  PutU32(&body, uint32_t(num_processes));
  PutStr(&body, HostName());
  CoordResult r = c->Sync([&](Done done) { c->Request(kHello, body, 10000, "registering", std::move(done)); });
  if (r.ok()) {
    long left = std::max(0L, Ms(deadline - Clock::now()));
    r = c->BarrierSync(kRegister, int(left));
  }
  if (!r.ok()) {
    c->Abort();
    *error = r;
    return nullptr;
  }
  return c;
}

CoordClient::~CoordClient() {
  stop_.store(true);
  char b = 1;
  if (wake_[1] >= 0) (void)!write(wake_[1], &b, 1);
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
    else thread_.join();
  }
  if (fd_ >= 0) close(fd_);
  if (wake_[0] >= 0) close(wake_[0]);
  if (wake_[1] >= 0) close(wake_[1]);
}

bool CoordClient::Send(uint8_t type, const std::string& body) {
  std::string f = Frame(type, body);
  std::lock_guard<std::mutex> lock(send_mu_);
  size_t at = 0;
  while (at < f.size()) {
    ssize_t n = ::send(fd_, f.data() + at, f.size() - at, MSG_NOSIGNAL);
    if (n > 0) at += size_t(n);
    else if (n < 0 && errno == EINTR) continue;
    else return false;
  }
  return true;
}

void CoordClient::Request(uint8_t type, const std::string& fields, int timeout_ms, std::string what, Done done) {
  uint32_t id;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!failure_.empty()) {
      std::string f = failure_;
      lock.unlock();
      return done({PJRT_Error_Code_UNAVAILABLE, f});
    }
    if (closed_) {
      lock.unlock();
      return done({PJRT_Error_Code_FAILED_PRECONDITION, "this process already shut down its coordination client"});
    }
    id = next_id_++;
    // The coordinator answers by the call's own timeout; past it (and a heartbeat's grace) it is gone.
    auto wait = std::chrono::milliseconds(std::max(0, timeout_ms)) + std::chrono::milliseconds(timing_.heartbeat_timeout_ms);
    pending_[id] = Pending{std::move(done), Clock::now() + wait, std::move(what)};
  }
  std::string body;
  PutU32(&body, id);
  body += fields;
  if (!Send(type, body)) {
    Done d;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      d = std::move(it->second.done);
      pending_.erase(it);
    }
    d({PJRT_Error_Code_UNAVAILABLE, "lost the connection to the coordinator (process 0 at " + where_ + ")"});
  }
}

CoordResult CoordClient::Sync(const std::function<void(Done)>& start) {
  struct Cell {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    CoordResult r;
  };
  auto cell = std::make_shared<Cell>();
  start([cell](CoordResult r) {
    std::lock_guard<std::mutex> lock(cell->mu);
    cell->r = std::move(r);
    cell->done = true;
    cell->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(cell->mu);
  cell->cv.wait(lock, [&] { return cell->done; });
  return cell->r;
}

void CoordClient::Put(const std::string& key, const std::string& value, Done done) {
  std::string f;
  PutStr(&f, key);
  PutStr(&f, value);
  Request(kPut, f, 0, "put '" + key + "'", std::move(done));
}
void CoordClient::Get(const std::string& key, int timeout_ms, Done done) {
  std::string f;
  PutStr(&f, key);
  PutU32(&f, uint32_t(std::max(0, timeout_ms)));
  Request(kGet, f, timeout_ms, "get '" + key + "'", std::move(done));
}
void CoordClient::TryGet(const std::string& key, Done done) {
  std::string f;
  PutStr(&f, key);
  Request(kTryGet, f, 0, "try-get '" + key + "'", std::move(done));
}
void CoordClient::Barrier(const std::string& name, int timeout_ms, Done done) {
  std::string f;
  PutStr(&f, name);
  PutU32(&f, uint32_t(std::max(0, timeout_ms)));
  Request(kBarrier, f, timeout_ms, "barrier '" + name + "'", std::move(done));
}
void CoordClient::Shutdown(int timeout_ms, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ && failure_.empty()) {
      return done({0, ""});  // twice is fine
    }
  }
  std::string f;
  PutU32(&f, uint32_t(std::max(0, timeout_ms)));
  Request(kBye, f, timeout_ms, "the shutdown barrier", [this, done = std::move(done)](CoordResult r) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (r.ok()) leaving_ = true;
      closed_ = true;
    }
    if (r.ok()) ::shutdown(fd_, SHUT_WR);
    done(std::move(r));
  });
}

CoordResult CoordClient::PutSync(const std::string& key, const std::string& value) {
  return Sync([&](Done d) { Put(key, value, std::move(d)); });
}
CoordResult CoordClient::GetSync(const std::string& key, int timeout_ms) {
  return Sync([&](Done d) { Get(key, timeout_ms, std::move(d)); });
}
CoordResult CoordClient::TryGetSync(const std::string& key) {
  return Sync([&](Done d) { TryGet(key, std::move(d)); });
}
CoordResult CoordClient::BarrierSync(const std::string& name, int timeout_ms) {
  return Sync([&](Done d) { Barrier(name, timeout_ms, std::move(d)); });
}
CoordResult CoordClient::ShutdownSync(int timeout_ms) {
  return Sync([&](Done d) { Shutdown(timeout_ms, std::move(d)); });
}

std::string CoordClient::Failure() {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

void CoordClient::Abort() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ && leaving_) return;
    closed_ = true;
    leaving_ = true;
  }
  ::shutdown(fd_, SHUT_RDWR);
  FailAll(PJRT_Error_Code_CANCELLED, "the coordination client was closed");
}

void CoordClient::FailAll(int code, const std::string& message) {
  std::map<uint32_t, Pending> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending.swap(pending_);
  }
  for (auto& [id, p] : pending) p.done({code, message});
}

void CoordClient::Loop() {
  std::string in;
  auto last_rx = Clock::now();
  auto last_tx = Clock::now();
  bool eof = false;
  while (!stop_.load()) {
    pollfd fds[2] = {{fd_, short(eof ? 0 : POLLIN), 0}, {wake_[0], POLLIN, 0}};
    poll(fds, 2, 50);
    auto now = Clock::now();
    if (!eof && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[65536];
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        in.append(buf, size_t(n));
        last_rx = now;
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        eof = true;
        bool expected;
        {
          std::lock_guard<std::mutex> lock(mu_);
          expected = leaving_;
          if (!expected && failure_.empty()) {
            failure_ = "process 0 (the coordinator at " + where_ + ") is gone: the connection to it closed";
          }
        }
        if (!expected) FailAll(PJRT_Error_Code_UNAVAILABLE, Failure());
      }
      uint8_t type;
      std::string body;
      while (NextFrame(&in, &type, &body)) {
        Reader r{body};
        if (type == kReply) {
          uint32_t id = r.U32(), code = r.U32();
          std::string data = r.Str();
          Done d;
          {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = pending_.find(id);
            if (it == pending_.end()) continue;
            d = std::move(it->second.done);
            pending_.erase(it);
          }
          d({int(code), std::move(data)});
        } else if (type == kFail) {
          std::string why = r.Str();
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (failure_.empty()) failure_ = why;
          }
          FailAll(PJRT_Error_Code_UNAVAILABLE, why);
        }
      }
    }
    bool leaving;
    {
      std::lock_guard<std::mutex> lock(mu_);
      leaving = leaving_;
    }
    if (!eof && !leaving && now - last_tx >= std::chrono::milliseconds(timing_.heartbeat_interval_ms)) {
      last_tx = now;
      Send(kPing, "");
    }
    if (!eof && !leaving && now - last_rx > std::chrono::milliseconds(timing_.heartbeat_timeout_ms)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (failure_.empty()) {
          failure_ = "process 0 (the coordinator at " + where_ + ") is gone: no heartbeat for " + std::to_string(Ms(now - last_rx)) + " ms";
        }
      }
      FailAll(PJRT_Error_Code_UNAVAILABLE, Failure());
      eof = true;
    }
    // Calls whose answer is overdue.
    std::vector<std::pair<Done, std::string>> late;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadline <= now) {
          late.emplace_back(std::move(it->second.done), it->second.what);
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& [d, what] : late) {
      d({PJRT_Error_Code_DEADLINE_EXCEEDED, "no answer from the coordinator at " + where_ + " for " + what});
    }
    if (eof) {
      // Nothing more will come: answer whatever is still pending, then wait to be destroyed.
      std::string f = Failure();
      FailAll(PJRT_Error_Code_UNAVAILABLE, f.empty() ? "the connection to the coordinator closed" : f);
      pollfd w{wake_[0], POLLIN, 0};
      poll(&w, 1, 50);
    }
  }
}

}  // namespace flip
