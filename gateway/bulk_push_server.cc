#include "gateway/bulk_push_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/unique_fd.h"
#include "gateway/push_session.h"
#include "proto/bulk_push.h"

namespace tributary::gateway {
namespace {

namespace bulk = proto::bulk;

constexpr std::size_t kRecvBytes = 256u << 10;  // one recv(): stays in L2 for the hash
constexpr std::size_t kWakeupBytes = 1u << 20;  // then the next ready connection's turn
constexpr std::size_t kChecksumBytes = sizeof(uint64_t);

std::string PeerName(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), port, sizeof(port),
                NI_NUMERICHOST | NI_NUMERICSERV);
  }
  return std::string(host) + ":" + port;
}

uint64_t LoadU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// One client's connection: the Hello being read, the push it opened, the payload streaming in.
class Connection {
 public:
  Connection(UniqueFd fd, ControlPlane* control, const AccessPolicy* policy,
             std::atomic<uint64_t>* committed)
      : fd_(std::move(fd)),
        peer_(PeerName(fd_.get())),
        control_(control),
        policy_(policy),
        committed_(committed) {
    Touch();
  }

  int fd() const { return fd_.get(); }
  const std::string& peer() const { return peer_; }
  std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }

  // Reads what the socket has (up to kWakeupBytes) and acts on it. False: close the
  // connection (the peer left, broke the protocol, or an answer could not be sent).
  bool OnReadable(std::vector<std::byte>& scratch) {
    Touch();
    std::size_t budget = kWakeupBytes;
    while (budget > 0) {
      const ssize_t n = state_ == State::kPayload ? ReadPayload(scratch, budget) : ReadFrame();
      if (n > 0) {
        budget -= std::min<std::size_t>(budget, static_cast<std::size_t>(n));
        if (!Advance()) return false;
        continue;
      }
      if (n == 0) {
        if (state_ != State::kHello || !frame_.empty()) {
          spdlog::debug("bulk push connection {} closed in the middle of a push", peer_);
        }
        return false;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      spdlog::debug("bulk push connection {}: {}", peer_, std::strerror(errno));
      return false;
    }
    return true;
  }

 private:
  enum class State { kHello, kPayload, kChecksum };

  void Touch() { last_activity_ = std::chrono::steady_clock::now(); }

  // Bytes still missing from the frame being read (a Hello or a payload's checksum).
  std::size_t FrameWanted() const {
    if (state_ == State::kChecksum) return kChecksumBytes - frame_.size();
    if (frame_.size() < bulk::kPrefixBytes) return bulk::kPrefixBytes - frame_.size();
    return bulk::kPrefixBytes + hello_.header_len + hello_.token_len - frame_.size();
  }

  ssize_t ReadFrame() {
    const std::size_t want = FrameWanted();
    const std::size_t have = frame_.size();
    frame_.resize(have + want);
    const ssize_t n = recv(fd_.get(), frame_.data() + have, want, 0);
    frame_.resize(have + std::max<ssize_t>(n, 0));
    return n;
  }

  // Payload bytes go straight into the slot, or into `scratch` once the push was refused.
  ssize_t ReadPayload(std::vector<std::byte>& scratch, std::size_t budget) {
    const std::size_t want = std::min({payload_left_, kRecvBytes, budget});
    std::byte* dst = session_ ? session_->Unfilled().data() : scratch.data();
    const ssize_t n = recv(fd_.get(), dst, want, 0);
    if (n > 0) {
      payload_left_ -= static_cast<std::size_t>(n);
      if (session_) {
        if (Status s = session_->Filled(static_cast<std::size_t>(n)); !s.ok()) Refuse(s);
      }
    }
    return n;
  }

  // Drops the open push: its slot goes back now, the rest of its payload is read and dropped,
  // and `why` is the answer once its checksum has come.
  void Refuse(const Status& why) {
    spdlog::debug("bulk push from '{}' refused: {}", session_->header().client_id(),
                  why.ToString());
    refused_ = why;
    session_.reset();
  }

  // Moves on once the frame or payload being read is complete. False: close the connection.
  bool Advance() {
    switch (state_) {
      case State::kHello:
        if (frame_.size() == bulk::kPrefixBytes) {
          auto prefix = bulk::DecodeHelloPrefix(frame_.data());
          if (!prefix) {
            spdlog::warn("bulk push connection {}: {}", peer_, prefix.error().message());
            (void)Answer(prefix.error());
            return false;  // the stream cannot be followed any further
          }
          hello_ = *prefix;
        }
        return FrameWanted() > 0 || OnHello();
      case State::kPayload:
        if (payload_left_ == 0) state_ = State::kChecksum;
        return true;
      case State::kChecksum:
        return FrameWanted() > 0 || OnChecksum();
    }
    return false;
  }

  bool OnHello() {
    const uint8_t* header_bytes = frame_.data() + bulk::kPrefixBytes;
    const std::string token(reinterpret_cast<const char*>(header_bytes) + hello_.header_len,
                            hello_.token_len);
    v1::UpdateHeader header;
    Status s = header.ParseFromArray(header_bytes, static_cast<int>(hello_.header_len))
                   ? Status::Ok()
                   : Status::InvalidArgument("malformed UpdateHeader");
    ResetFrame();
    if (s.ok()) {
      session_ = std::make_unique<PushSession>(control_);
      const bool operator_admitted =
          header.round() == 0 && AdmitOperatorToken(token, *policy_, peer_).ok();
      s = session_->Begin(header, token, PeerIdentity(), operator_admitted);
    }
    if (!s.ok()) {
      spdlog::debug("bulk push from '{}' refused: {}", header.client_id(), s.ToString());
      session_.reset();
      return Answer(s);  // the connection stays in step: nothing follows a refused Hello
    }
    payload_left_ = session_->expected();
    state_ = payload_left_ > 0 ? State::kPayload : State::kChecksum;
    return Answer(Status::Ok());
  }

  bool OnChecksum() {
    const uint64_t checksum = LoadU64(frame_.data());
    ResetFrame();
    state_ = State::kHello;
    if (!session_) return Answer(std::exchange(refused_, Status::Ok()));
    auto reply = session_->Finish(checksum);
    std::unique_ptr<PushSession> done = std::move(session_);  // aborts unless committed
    if (!reply) {
      spdlog::debug("bulk push from '{}' refused: {}", done->header().client_id(),
                    reply.error().ToString());
      return Answer(reply.error());
    }
    ++*committed_;
    return Answer(Status::Ok(), reply->SerializeAsString());
  }

  void ResetFrame() {
    frame_.clear();
    if (frame_.capacity() > 4096) frame_.shrink_to_fit();  // a large Hello is not kept
  }

  // Sends an Answer. The client waits for it, so the socket's send buffer has room; a short
  // send means a peer that does not follow the protocol.
  bool Answer(const Status& status, std::string_view reply = {}) {
    const std::string answer = bulk::EncodeAnswer(status, reply);
    const ssize_t n = send(fd_.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(answer.size())) return true;
    spdlog::debug("bulk push connection {}: the answer could not be sent", peer_);
    return false;
  }

  UniqueFd fd_;
  std::string peer_;
  ControlPlane* control_;
  const AccessPolicy* policy_;
  std::atomic<uint64_t>* committed_;
  State state_ = State::kHello;
  std::vector<uint8_t> frame_;
  bulk::HelloPrefix hello_;
  std::unique_ptr<PushSession> session_;
  std::size_t payload_left_ = 0;
  Status refused_;
  std::chrono::steady_clock::time_point last_activity_;
};

}  // namespace

class BulkPushServer::Impl {
 public:
  Impl(ControlPlane* control, BulkPushOptions options)
      : control_(control), options_(std::move(options)) {}

  ~Impl() {
    stopping_ = true;
    for (auto& w : workers_) (void)eventfd_write(w->wake.get(), 1);
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
  }

  Status Listen() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(options_.port);
    const char* host = options_.host.empty() ? nullptr : options_.host.c_str();
    if (int rc = getaddrinfo(host, port.c_str(), &hints, &found); rc != 0) {
      return Status::InvalidArgument("bulk push address " + options_.host + ": " +
                                     gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
    Status last = Status::Unavailable("no address for " + options_.host);
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) {
        last = Status::FromErrno("socket");
        continue;
      }
      const int one = 1;
      setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || listen(fd.get(), 1024) != 0) {
        last = Status::FromErrno("listening for bulk pushes on " + options_.host + ":" + port);
        continue;
      }
      sockaddr_storage bound{};
      socklen_t len = sizeof(bound);
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
      port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      listener_ = std::move(fd);
      return Status::Ok();
    }
    return last;
  }

  Status StartWorkers() {
    unsigned threads = options_.threads;
    if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
    for (unsigned i = 0; i < threads; ++i) {
      auto w = std::make_unique<Worker>();
      w->epoll.Reset(epoll_create1(EPOLL_CLOEXEC));
      w->wake.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
      if (!w->epoll || !w->wake) return Status::FromErrno("bulk push worker");
      epoll_event listen_event{.events = EPOLLIN | EPOLLEXCLUSIVE, .data = {.ptr = nullptr}};
      epoll_event wake_event{.events = EPOLLIN, .data = {.ptr = w.get()}};
      if (epoll_ctl(w->epoll.get(), EPOLL_CTL_ADD, listener_.get(), &listen_event) != 0 ||
          epoll_ctl(w->epoll.get(), EPOLL_CTL_ADD, w->wake.get(), &wake_event) != 0) {
        return Status::FromErrno("bulk push worker epoll");
      }
      workers_.push_back(std::move(w));
    }
    for (auto& w : workers_) w->thread = std::thread([this, w = w.get()] { Run(*w); });
    return Status::Ok();
  }

  int port() const { return port_; }
  Stats stats() const {
    return {.connections_open = connections_.load(),
            .connections_accepted = accepted_.load(),
            .pushes_committed = committed_.load()};
  }

 private:
  struct Worker {
    UniqueFd epoll;
    UniqueFd wake;
    std::thread thread;
    std::unordered_map<Connection*, std::unique_ptr<Connection>> connections;
  };

  void Run(Worker& w) {
    std::vector<std::byte> scratch(kRecvBytes);
    epoll_event events[64];
    auto next_sweep = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!stopping_) {
      const int n = epoll_wait(w.epoll.get(), events, 64, 1000);
      for (int i = 0; i < n; ++i) {
        void* ptr = events[i].data.ptr;
        if (ptr == nullptr) {
          Accept(w);
        } else if (ptr != &w) {
          auto* c = static_cast<Connection*>(ptr);
          if (!c->OnReadable(scratch)) Close(w, c);
        }
      }
      if (const auto now = std::chrono::steady_clock::now(); now >= next_sweep) {
        next_sweep = now + std::chrono::seconds(1);
        std::vector<Connection*> idle;
        for (auto& [c, owned] : w.connections) {
          if (now - c->last_activity() >= options_.idle_timeout) idle.push_back(c);
        }
        for (Connection* c : idle) {
          spdlog::debug("bulk push connection {} idle for {} ms: closed", c->peer(),
                        options_.idle_timeout.count());
          Close(w, c);
        }
      }
    }
    for (auto& [c, owned] : w.connections) --connections_;
    w.connections.clear();  // aborts the pushes still open
  }

  void Accept(Worker& w) {
    for (;;) {
      UniqueFd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) return;  // EAGAIN: nothing more to accept (other errors: try at the next wakeup)
      if (connections_.fetch_add(1) >= options_.max_connections) {
        --connections_;
        spdlog::warn("bulk push connection refused: {} connections open, the most allowed",
                     options_.max_connections);
        continue;
      }
      ++accepted_;
      const int one = 1;
      setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto c = std::make_unique<Connection>(std::move(fd), control_, &options_.policy, &committed_);
      epoll_event event{.events = EPOLLIN | EPOLLRDHUP, .data = {.ptr = c.get()}};
      if (epoll_ctl(w.epoll.get(), EPOLL_CTL_ADD, c->fd(), &event) != 0) {
        --connections_;
        continue;
      }
      Connection* key = c.get();
      w.connections.emplace(key, std::move(c));
    }
  }

  void Close(Worker& w, Connection* c) {
    epoll_ctl(w.epoll.get(), EPOLL_CTL_DEL, c->fd(), nullptr);
    w.connections.erase(c);  // closes the socket; its session aborts a push still open
    --connections_;
  }

  ControlPlane* control_;
  const BulkPushOptions options_;
  UniqueFd listener_;
  int port_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> committed_{0};
  std::atomic<bool> stopping_{false};
};

Result<std::unique_ptr<BulkPushServer>> BulkPushServer::Start(ControlPlane* control,
                                                              BulkPushOptions options) {
  auto impl = std::make_unique<Impl>(control, std::move(options));
  TRIBUTARY_RETURN_IF_ERROR(impl->Listen());
  TRIBUTARY_RETURN_IF_ERROR(impl->StartWorkers());
  return std::unique_ptr<BulkPushServer>(new BulkPushServer(std::move(impl)));
}

BulkPushServer::BulkPushServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BulkPushServer::~BulkPushServer() = default;

int BulkPushServer::port() const { return impl_->port(); }
BulkPushServer::Stats BulkPushServer::stats() const { return impl_->stats(); }

}  // namespace tributary::gateway
