#include "gateway/bulk_server.h"

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
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/receive_low_water.h"
#include "common/unique_fd.h"
#include "gateway/push_session.h"
#include "proto/bulk.h"

namespace tributary::gateway {
namespace {

namespace bulk = proto::bulk;

constexpr std::size_t kRecvBytes = 256u << 10;  // one recv(): stays in L2 for the hash
constexpr std::size_t kWakeupBytes = 1u << 20;  // then the next ready connection's turn

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

// epoll keys: these two, then one per connection.
constexpr uint64_t kListenerKey = 0;
constexpr uint64_t kWakeKey = 1;

// The models the control plane delivers to one thread's waiting pulls, from whichever thread
// published them (under the control plane's lock, where sending is no option); the thread
// takes them at its next wakeup.
class ModelMailbox {
 public:
  explicit ModelMailbox(int wake_fd) : wake_fd_(wake_fd) {}

  void Post(uint64_t connection, Result<ModelRef> model) {
    {
      std::lock_guard lock(mu_);
      letters_.emplace_back(connection, std::move(model));
    }
    (void)eventfd_write(wake_fd_, 1);
  }

  std::vector<std::pair<uint64_t, Result<ModelRef>>> Take() {
    eventfd_t ignored;
    (void)eventfd_read(wake_fd_, &ignored);
    std::lock_guard lock(mu_);
    return std::exchange(letters_, {});
  }

 private:
  int wake_fd_;
  std::mutex mu_;
  std::vector<std::pair<uint64_t, Result<ModelRef>>> letters_;
};

// What a thread's connections share.
struct ConnectionContext {
  ControlPlane* control;
  const AccessPolicy* policy;
  int epoll_fd;
  ModelMailbox* mailbox;
  std::atomic<uint64_t>* pushes_committed;
  std::atomic<uint64_t>* pulls_served;
};

// One client's connection: the Hello being read, then the push it opened with its payload
// streaming in, or the pull it asked for, waiting for its model or streaming it out.
class Connection {
 public:
  Connection(uint64_t key, UniqueFd fd, const ConnectionContext& context)
      : key_(key), fd_(std::move(fd)), peer_(PeerName(fd_.get())), cx_(context) {
    Touch();
  }

  ~Connection() { EndPull(); }

  uint64_t key() const { return key_; }
  int fd() const { return fd_.get(); }
  const std::string& peer() const { return peer_; }
  // Stalled for `timeout`: in the middle of a Hello or a payload, idle between requests, or
  // not reading the model sent to it (a pull waiting for its model is not stalled).
  bool StalledFor(std::chrono::steady_clock::duration timeout,
                  std::chrono::steady_clock::time_point now) const {
    return state_ != State::kAwaitingModel && now - last_activity_ >= timeout;
  }

  // Reads what the socket has (up to kWakeupBytes) and acts on it. False: close the
  // connection (the peer left, broke the protocol, or an answer could not be sent).
  bool OnReadable(std::vector<std::byte>& scratch) {
    if (state_ == State::kAwaitingModel || state_ == State::kSendingModel) return PeerQuiet();
    Touch();
    std::size_t budget = kWakeupBytes;
    while (budget > 0) {
      const ssize_t n = state_ == State::kPayload ? ReadPayload(scratch, budget) : ReadFrame();
      if (n > 0) {
        budget -= std::min<std::size_t>(budget, static_cast<std::size_t>(n));
        if (!Advance()) return false;
        if (state_ == State::kAwaitingModel) break;
        continue;
      }
      if (n == 0) {
        if (state_ != State::kHello || !frame_.empty()) {
          spdlog::debug("bulk connection {} closed in the middle of a push", peer_);
        }
        return false;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      spdlog::debug("bulk connection {}: {}", peer_, std::strerror(errno));
      return false;
    }
    // A payload is read a piece of kRecvBytes per wakeup, not a segment; frames, and a
    // client whose pull is answered, wake the thread at every byte.
    low_water_.Expect(state_ == State::kPayload ? payload_left_ : 1);
    return true;
  }

  // The model of the pull this connection waits for, or why there is none. False: close.
  bool OnModel(Result<ModelRef> model) {
    waiter_ = 0;
    if (!model) {
      EndPull();
      state_ = State::kHello;
      return Answer(model.error());
    }
    model_ = std::move(*model);
    if (!Answer(Status::Ok(), ModelHeaderOf(model_).SerializeAsString())) return false;
    state_ = State::kSendingModel;
    sent_ = 0;
    stream_bytes_ = model_.bytes + (model_.hashing ? bulk::kChecksumBytes : 0);
    return OnWritable();
  }

  // Sends the next part of the model (up to kWakeupBytes) from its slot, then the checksum
  // where it trails the bytes. False: close.
  bool OnWritable() {
    if (state_ != State::kSendingModel) return Watch(EPOLLIN | EPOLLRDHUP);
    Touch();
    const auto* bytes = reinterpret_cast<const char*>(model_.pool->Bytes(model_.slot.index).data());
    std::size_t budget = kWakeupBytes;
    while (sent_ < stream_bytes_ && budget > 0) {
      const bool trailer = sent_ >= model_.bytes;
      if (trailer) bulk::EncodeChecksum(model_.hashing->Wait(), trailer_);
      const char* from = trailer ? reinterpret_cast<const char*>(trailer_) + (sent_ - model_.bytes)
                                 : bytes + sent_;
      const std::size_t want =
          trailer ? stream_bytes_ - sent_ : std::min(model_.bytes - sent_, budget);
      const ssize_t n = send(fd_.get(), from, want, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent_ += static_cast<std::size_t>(n);
        budget -= std::min<std::size_t>(budget, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      spdlog::debug("bulk connection {}: the model could not be sent: {}", peer_,
                    std::strerror(errno));
      return false;
    }
    if (sent_ < stream_bytes_) return Watch(EPOLLOUT | EPOLLRDHUP);  // on when there is room
    EndPull();
    ++*cx_.pulls_served;
    state_ = State::kHello;
    return Watch(EPOLLIN | EPOLLRDHUP);
  }

 private:
  enum class State { kHello, kPayload, kChecksum, kAwaitingModel, kSendingModel };

  void Touch() { last_activity_ = std::chrono::steady_clock::now(); }

  // While its pull is answered a client only reads: bytes from it break the protocol, and end
  // of stream means it left. False: close.
  bool PeerQuiet() {
    char byte;
    const ssize_t n = recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (n > 0) spdlog::warn("bulk connection {} sent bytes while its pull was answered", peer_);
    return false;
  }

  // Changes the events epoll watches on this connection.
  bool Watch(uint32_t events) {
    if (events == watched_) return true;
    epoll_event event{.events = events, .data = {.u64 = key_}};
    if (epoll_ctl(cx_.epoll_fd, EPOLL_CTL_MOD, fd_.get(), &event) != 0) return false;
    watched_ = events;
    return true;
  }

  // Bytes still missing from the frame being read (a Hello or a payload's checksum).
  std::size_t FrameWanted() const {
    if (state_ == State::kChecksum) return bulk::kChecksumBytes - frame_.size();
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
            spdlog::warn("bulk connection {}: {}", peer_, prefix.error().message());
            (void)Answer(prefix.error());
            return false;  // the stream cannot be followed any further
          }
          hello_ = *prefix;
        }
        if (FrameWanted() > 0) return true;
        return hello_.kind == bulk::HelloKind::kPull ? OnPullHello() : OnPushHello();
      case State::kPayload:
        if (payload_left_ == 0) state_ = State::kChecksum;
        return true;
      case State::kChecksum:
        return FrameWanted() > 0 || OnChecksum();
      case State::kAwaitingModel:
      case State::kSendingModel:
        return false;  // not reading
    }
    return false;
  }

  std::string_view HelloHeader() const {
    return {reinterpret_cast<const char*>(frame_.data()) + bulk::kPrefixBytes, hello_.header_len};
  }
  std::string HelloToken() const {
    return std::string(HelloHeader().data() + hello_.header_len, hello_.token_len);
  }
  // Parses the Hello's header into `message` (an UpdateHeader or a PullRequest).
  template <typename Message>
  Status ParseHelloHeader(Message* message) const {
    if (message->ParseFromArray(HelloHeader().data(), static_cast<int>(hello_.header_len))) {
      return Status::Ok();
    }
    return Status::InvalidArgument("malformed " + std::string(message->GetDescriptor()->name()));
  }

  bool OnPushHello() {
    const std::string token = HelloToken();
    v1::UpdateHeader header;
    Status s = ParseHelloHeader(&header);
    ResetFrame();
    if (s.ok()) {
      session_ = std::make_unique<PushSession>(cx_.control);
      const bool operator_admitted =
          header.round() == 0 && AdmitOperatorToken(token, *cx_.policy, peer_).ok();
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

  // Admits the pull as ClientService.Pull does and asks for its model, which comes back
  // through the mailbox (at once when it is published: this thread's next wakeup).
  bool OnPullHello() {
    const std::string token = HelloToken();
    v1::PullRequest req;
    Status s = ParseHelloHeader(&req);
    ResetFrame();
    if (s.ok()) s = cx_.control->AuthorizeClient(req.job_id(), req.client_id(), token);
    if (s.ok()) s = cx_.control->BeginPull();
    if (!s.ok()) {
      spdlog::debug("bulk pull by '{}' refused: {}", req.client_id(), s.ToString());
      return Answer(s);
    }
    pulling_ = true;
    pull_job_ = req.job_id();
    state_ = State::kAwaitingModel;
    ModelMailbox* mailbox = cx_.mailbox;
    waiter_ = cx_.control->PullModel(
        req.job_id(), req.version(), req.wait(),
        [mailbox, key = key_](Result<ModelRef> model) { mailbox->Post(key, std::move(model)); });
    return true;
  }

  bool OnChecksum() {
    const uint64_t checksum = bulk::DecodeChecksum(frame_.data());
    ResetFrame();
    state_ = State::kHello;
    if (!session_) return Answer(std::exchange(refused_, Status::Ok()));
    auto reply = session_->Finish(checksum);
    const std::string client = session_->header().client_id();
    session_.reset();  // aborts unless committed: the slot is back before the client hears
    if (!reply) {
      spdlog::debug("bulk push from '{}' refused: {}", client, reply.error().ToString());
      return Answer(reply.error());
    }
    ++*cx_.pushes_committed;
    return Answer(Status::Ok(), reply->SerializeAsString());
  }

  // Ends the pull this connection admitted, if any: no model will come for it any more, the
  // one it held goes back, and it no longer counts against the node's streaming pulls.
  void EndPull() {
    if (!pulling_) return;
    if (waiter_ != 0) cx_.control->CancelPull(pull_job_, waiter_);
    waiter_ = 0;
    cx_.control->ReleaseModel(model_);
    cx_.control->EndPull();
    pulling_ = false;
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
    spdlog::debug("bulk connection {}: the answer could not be sent", peer_);
    return false;
  }

  const uint64_t key_;
  UniqueFd fd_;
  std::string peer_;
  ConnectionContext cx_;
  uint32_t watched_ = EPOLLIN | EPOLLRDHUP;
  ReceiveLowWater low_water_{fd_.get(), kRecvBytes};
  State state_ = State::kHello;
  std::vector<uint8_t> frame_;
  bulk::HelloPrefix hello_;
  // A push.
  std::unique_ptr<PushSession> session_;
  std::size_t payload_left_ = 0;
  Status refused_;
  // A pull.
  bool pulling_ = false;  // admitted by BeginPull and not yet ended
  uint64_t pull_job_ = 0;
  uint64_t waiter_ = 0;  // PullModel's, until the model comes
  ModelRef model_;
  std::size_t stream_bytes_ = 0;  // the model's, and its checksum's where that trails them
  std::size_t sent_ = 0;
  uint8_t trailer_[bulk::kChecksumBytes] = {};
  std::chrono::steady_clock::time_point last_activity_;
};

}  // namespace

class BulkServer::Impl {
 public:
  Impl(ControlPlane* control, BulkServerOptions options)
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
      return Status::InvalidArgument("bulk address " + options_.host + ": " + gai_strerror(rc));
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
        last = Status::FromErrno("listening on the bulk port " + options_.host + ":" + port);
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
      if (!w->epoll || !w->wake) return Status::FromErrno("bulk worker");
      w->mailbox = std::make_unique<ModelMailbox>(w->wake.get());
      epoll_event listen_event{.events = EPOLLIN | EPOLLEXCLUSIVE, .data = {.u64 = kListenerKey}};
      epoll_event wake_event{.events = EPOLLIN, .data = {.u64 = kWakeKey}};
      if (epoll_ctl(w->epoll.get(), EPOLL_CTL_ADD, listener_.get(), &listen_event) != 0 ||
          epoll_ctl(w->epoll.get(), EPOLL_CTL_ADD, w->wake.get(), &wake_event) != 0) {
        return Status::FromErrno("bulk worker epoll");
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
            .pushes_committed = committed_.load(),
            .pulls_served = pulls_served_.load()};
  }

 private:
  struct Worker {
    UniqueFd epoll;
    UniqueFd wake;
    std::unique_ptr<ModelMailbox> mailbox;
    std::thread thread;
    std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;  // by key
  };

  void Run(Worker& w) {
    std::vector<std::byte> scratch(kRecvBytes);
    epoll_event events[64];
    auto next_sweep = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!stopping_) {
      const int n = epoll_wait(w.epoll.get(), events, 64, 1000);
      for (int i = 0; i < n; ++i) {
        const uint64_t key = events[i].data.u64;
        if (key == kListenerKey) {
          Accept(w);
        } else if (key == kWakeKey) {
          Deliver(w);
        } else if (auto it = w.connections.find(key); it != w.connections.end()) {
          Connection* c = it->second.get();
          const uint32_t ev = events[i].events;
          bool keep = !(ev & EPOLLOUT) || c->OnWritable();
          if (keep && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
            keep = c->OnReadable(scratch);
          }
          if (!keep) Close(w, c);
        }
      }
      if (const auto now = std::chrono::steady_clock::now(); now >= next_sweep) {
        next_sweep = now + std::chrono::seconds(1);
        std::vector<Connection*> stalled;
        for (auto& [key, c] : w.connections) {
          if (c->StalledFor(options_.idle_timeout, now)) stalled.push_back(c.get());
        }
        for (Connection* c : stalled) {
          spdlog::debug("bulk connection {} stalled for {} ms: closed", c->peer(),
                        options_.idle_timeout.count());
          Close(w, c);
        }
      }
    }
    connections_ -= w.connections.size();
    w.connections.clear();  // aborts the pushes still open, cancels the pulls
    for (auto& [key, model] : w.mailbox->Take()) {
      if (model) control_->ReleaseModel(*model);
    }
  }

  // Hands the models the control plane delivered to the pulls waiting for them.
  void Deliver(Worker& w) {
    for (auto& [key, model] : w.mailbox->Take()) {
      auto it = w.connections.find(key);
      if (it == w.connections.end()) {  // closed since it asked
        if (model) control_->ReleaseModel(*model);
        continue;
      }
      if (!it->second->OnModel(std::move(model))) Close(w, it->second.get());
    }
  }

  void Accept(Worker& w) {
    for (;;) {
      UniqueFd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) return;  // EAGAIN: nothing more to accept (other errors: try at the next wakeup)
      if (connections_.fetch_add(1) >= options_.max_connections) {
        --connections_;
        spdlog::warn("bulk connection refused: {} connections open, the most allowed",
                     options_.max_connections);
        continue;
      }
      ++accepted_;
      const int one = 1;
      setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      const ConnectionContext context{.control = control_,
                                      .policy = &options_.policy,
                                      .epoll_fd = w.epoll.get(),
                                      .mailbox = w.mailbox.get(),
                                      .pushes_committed = &committed_,
                                      .pulls_served = &pulls_served_};
      const uint64_t key = next_key_++;
      auto c = std::make_unique<Connection>(key, std::move(fd), context);
      epoll_event event{.events = EPOLLIN | EPOLLRDHUP, .data = {.u64 = key}};
      if (epoll_ctl(w.epoll.get(), EPOLL_CTL_ADD, c->fd(), &event) != 0) {
        --connections_;
        continue;
      }
      w.connections.emplace(key, std::move(c));
    }
  }

  void Close(Worker& w, Connection* c) {
    epoll_ctl(w.epoll.get(), EPOLL_CTL_DEL, c->fd(), nullptr);
    w.connections.erase(c->key());  // closes the socket; aborts its push, ends its pull
    --connections_;
  }

  ControlPlane* control_;
  const BulkServerOptions options_;
  UniqueFd listener_;
  int port_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> pulls_served_{0};
  std::atomic<uint64_t> next_key_{kWakeKey + 1};
  std::atomic<bool> stopping_{false};
};

Result<std::unique_ptr<BulkServer>> BulkServer::Start(ControlPlane* control,
                                                      BulkServerOptions options) {
  auto impl = std::make_unique<Impl>(control, std::move(options));
  TRIBUTARY_RETURN_IF_ERROR(impl->Listen());
  TRIBUTARY_RETURN_IF_ERROR(impl->StartWorkers());
  return std::unique_ptr<BulkServer>(new BulkServer(std::move(impl)));
}

BulkServer::BulkServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BulkServer::~BulkServer() = default;

int BulkServer::port() const { return impl_->port(); }
BulkServer::Stats BulkServer::stats() const { return impl_->stats(); }

}  // namespace tributary::gateway
