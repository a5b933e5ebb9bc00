#include "clients/cpp/bulk_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#define XXH_INLINE_ALL  // inlined and compiled for this CPU (AVX2)
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "clients/cpp/push_pacing.h"
#include "common/receive_low_water.h"
#include "proto/bulk.h"

namespace tributary::client {
namespace {

namespace bulk = proto::bulk;

constexpr std::size_t kMaxIdlePerNode = 4;
constexpr auto kMaxIdleAge = std::chrono::seconds(30);  // half the node's default idle timeout
constexpr std::size_t kChunkBytes = 256u << 10;  // hashed while still in cache: sent or received

Status SocketError(const std::string& what) {
  return Status::Unavailable("bulk connection: " + what + ": " + std::strerror(errno));
}

Status SendAll(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t sent = send(fd, p, n, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return SocketError("send");
    p += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return Status::Ok();
}

// Fills `out` from the socket. `*closed`: the node had closed the connection before the first
// byte (an idle connection it let go).
Status RecvAll(int fd, void* out, std::size_t n, bool* closed = nullptr) {
  auto* p = static_cast<char*>(out);
  const std::size_t want = n;
  while (n > 0) {
    const ssize_t got = recv(fd, p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (closed) *closed = n == want && (got == 0 || errno == ECONNRESET);
      if (got == 0) return Status::Unavailable("bulk connection closed by the node");
      return SocketError("recv");
    }
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return Status::Ok();
}

// Fills `out` with a model's bytes, hashing each piece into `hash` while it is still in cache.
// The socket's low-water mark wakes the reader once per kChunkBytes rather than per segment;
// it polls and reads without blocking, as a blocking recv() that copied part of its target
// under a mark waits for a whole mark more. The mark is back at 1 on return, for the frames
// of the connection's next use.
Status RecvHashed(int fd, std::span<std::byte> out, XXH3_state_t* hash,
                  std::chrono::milliseconds timeout) {
  ReceiveLowWater mark(fd, kChunkBytes);
  Status s;
  std::size_t got = 0;
  while (s.ok() && got < out.size()) {
    mark.Expect(out.size() - got);
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      s = ready == 0 ? Status::Unavailable("bulk connection: no model bytes for " +
                                           std::to_string(timeout.count()) + " ms")
                     : SocketError("poll");
      break;
    }
    const ssize_t n =
        recv(fd, out.data() + got, std::min(out.size() - got, kChunkBytes), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      s = n == 0 ? Status::Unavailable("bulk connection closed by the node") : SocketError("recv");
      break;
    }
    XXH3_64bits_update(hash, out.data() + got, static_cast<std::size_t>(n));
    got += static_cast<std::size_t>(n);
  }
  mark.Expect(1);
  return s;
}

// Whether a failed exchange may have left the connection out of step with the protocol: it
// broke (UNAVAILABLE) or an Answer was unreadable (DATA_LOSS; also the code of a checksum
// refusal, for which dropping the connection costs only a reconnect).
bool OutOfStep(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDataLoss;
}

// Reads one Answer; OK carries the reply's bytes.
Result<std::string> ReadAnswer(int fd, bool* closed) {
  uint8_t prefix[bulk::kPrefixBytes];
  TRIBUTARY_RETURN_IF_ERROR(RecvAll(fd, prefix, sizeof(prefix), closed));
  TRIBUTARY_ASSIGN_OR_RETURN(bulk::AnswerPrefix a, bulk::DecodeAnswerPrefix(prefix));
  std::string body(a.message_len + a.reply_len, '\0');
  TRIBUTARY_RETURN_IF_ERROR(RecvAll(fd, body.data(), body.size()));
  if (a.code != StatusCode::kOk) return Status(a.code, body.substr(0, a.message_len));
  return body.substr(a.message_len);
}

}  // namespace

std::string TargetHost(std::string_view target) {
  if (target.starts_with("dns:///")) target.remove_prefix(7);
  if (target.find("://") != std::string_view::npos || target.starts_with("unix:") ||
      target.starts_with("ipv4:") || target.starts_with("ipv6:")) {
    return {};
  }
  const std::size_t colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  std::string_view host = target.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

Result<UniqueFd> BulkClient::Connect(const std::string& host, uint16_t port) const {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
    return Status::Unavailable("cannot resolve " + host);
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
  const int connect_ms = static_cast<int>(std::min<int64_t>(timeout_.count(), 3000));
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) continue;
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) continue;
      pollfd p{.fd = fd.get(), .events = POLLOUT, .revents = 0};
      int err = 0;
      socklen_t len = sizeof(err);
      if (poll(&p, 1, connect_ms) != 1 ||
          getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        continue;
      }
    }
    fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    const int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{.tv_sec = static_cast<time_t>(timeout_.count() / 1000),
               .tv_usec = static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
  }
  return Status::Unavailable("cannot connect to the bulk port " + host + ":" +
                             std::to_string(port));
}

UniqueFd BulkClient::TakeIdle(const std::string& endpoint) {
  std::lock_guard lock(mu_);
  auto& idle = idle_[endpoint];
  while (!idle.empty()) {
    Idle entry = std::move(idle.back());
    idle.pop_back();
    if (std::chrono::steady_clock::now() - entry.since > kMaxIdleAge) continue;
    char byte;  // a connection the node closed reads as end of stream
    if (recv(entry.fd.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) continue;
    return std::move(entry.fd);
  }
  return {};
}

void BulkClient::KeepIdle(const std::string& endpoint, UniqueFd fd) {
  std::lock_guard lock(mu_);
  auto& idle = idle_[endpoint];
  if (idle.size() < kMaxIdlePerNode) {
    idle.push_back({std::move(fd), std::chrono::steady_clock::now()});
  }
}

std::optional<BulkClient::Opened> BulkClient::Open(const std::string& host, uint16_t port,
                                                   const std::string& hello) {
  const std::string endpoint = host + ":" + std::to_string(port);
  for (;;) {
    UniqueFd fd = TakeIdle(endpoint);
    const bool kept = static_cast<bool>(fd);
    if (!kept) {
      auto fresh = Connect(host, port);
      if (!fresh) return std::nullopt;
      fd = std::move(*fresh);
    }
    bool closed = false;
    Status s = SendAll(fd.get(), hello.data(), hello.size());
    Result<std::string> answer = s.ok() ? ReadAnswer(fd.get(), &closed) : Result<std::string>(s);
    if (!answer && kept && (closed || !s.ok())) continue;  // let go while idle: a fresh one
    return Opened{.endpoint = endpoint, .fd = std::move(fd), .answer = std::move(answer)};
  }
}

void BulkClient::Done(Opened& opened, const Status& outcome) {
  if (outcome.ok() || !OutOfStep(outcome)) KeepIdle(opened.endpoint, std::move(opened.fd));
}

std::optional<Result<v1::PushReply>> BulkClient::Push(const std::string& host, uint16_t port,
                                                      const v1::UpdateHeader& header,
                                                      std::string_view token,
                                                      std::span<const std::byte> payload) {
  auto opened = Open(host, port,
                     bulk::EncodeHello(bulk::HelloKind::kPush, header.SerializeAsString(), token));
  if (!opened) return std::nullopt;
  if (!opened->answer) {  // refused: nothing follows, the connection is in step
    Done(*opened, opened->answer.error());
    return opened->answer.error();
  }
  const int fd = opened->fd.get();
  XXH3_state_t hash;
  XXH3_64bits_reset(&hash);
  PushPacing pacing(fd);
  Status s;
  for (std::size_t off = 0; s.ok() && off < payload.size(); off += kChunkBytes) {
    const std::size_t n = std::min(kChunkBytes, payload.size() - off);
    pacing.BeforePiece();
    XXH3_64bits_update(&hash, payload.data() + off, n);
    s = SendAll(fd, payload.data() + off, n);
  }
  uint8_t checksum[bulk::kChecksumBytes];
  bulk::EncodeChecksum(XXH3_64bits_digest(&hash), checksum);
  if (s.ok()) s = SendAll(fd, checksum, sizeof(checksum));
  if (!s.ok()) return s;
  auto answer = ReadAnswer(fd, nullptr);
  Done(*opened, answer ? Status::Ok() : answer.error());
  if (!answer) return answer.error();
  v1::PushReply reply;
  if (!reply.ParseFromString(*answer)) {
    return Status::Internal("push succeeded without a readable reply");
  }
  return reply;
}

std::optional<Result<uint32_t>> BulkClient::Pull(const std::string& host, uint16_t port,
                                                 const v1::PullRequest& request,
                                                 std::string_view token, std::vector<float>* out) {
  auto opened = Open(host, port,
                     bulk::EncodeHello(bulk::HelloKind::kPull, request.SerializeAsString(), token));
  if (!opened) return std::nullopt;
  if (!opened->answer) {  // no model: nothing follows, the connection is in step
    Done(*opened, opened->answer.error());
    return opened->answer.error();
  }
  v1::ModelHeader header;
  if (!header.ParseFromString(*opened->answer) || header.total_bytes() % sizeof(float) != 0) {
    return Status::DataLoss("model stream does not start with a valid header");
  }
  out->resize(header.total_bytes() / sizeof(float));
  XXH3_state_t hash;
  XXH3_64bits_reset(&hash);
  TRIBUTARY_RETURN_IF_ERROR(
      RecvHashed(opened->fd.get(), std::as_writable_bytes(std::span(*out)), &hash, timeout_));
  uint64_t checksum = header.checksum();
  if (header.checksum_in_trailer()) {  // the node was still hashing the model: it follows
    uint8_t trailer[bulk::kChecksumBytes];
    TRIBUTARY_RETURN_IF_ERROR(RecvAll(opened->fd.get(), trailer, sizeof(trailer)));
    checksum = bulk::DecodeChecksum(trailer);
  }
  Done(*opened, Status::Ok());
  if (XXH3_64bits_digest(&hash) != checksum) {
    return Status::DataLoss("model checksum does not match its bytes");
  }
  return header.version();
}

}  // namespace tributary::client
