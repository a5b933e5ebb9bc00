// The C++ client's channel tries to reconnect at the pace of the client's own retry backoff.
// Without it, a client retrying every 0.5 s after its gateway restarted spent its attempts
// failing fast while its channel waited out gRPC's backoff (1 s, growing to 120 s), and a
// connection attempt begun between two calls was completed by no one until gRPC's backup
// poller came by, 5 s later.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "clients/cpp/client.h"

namespace tributary::client {
namespace {

// A loopback listener that accepts every connection and resets it at once, so that each of a
// channel's connection attempts fails; counts the attempts.
class RefusingListener {
 public:
  RefusingListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(fd_, 64) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 20) != 1) continue;
        const int conn = accept(fd_, nullptr, nullptr);
        if (conn < 0) continue;
        const linger reset{1, 0};  // close with a reset: the attempt fails at once
        setsockopt(conn, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        close(conn);
        ++accepted_;
      }
    });
  }
  ~RefusingListener() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST(ClientReconnectTest, ChannelTriesToConnectAtTheClientsOwnBackoff) {
  RefusingListener listener;
  ASSERT_NE(listener.port(), 0);
  ClientOptions o;
  o.target = "127.0.0.1:" + std::to_string(listener.port());
  o.client_id = "reconnect";
  o.initial_backoff = std::chrono::milliseconds(50);
  o.max_backoff = std::chrono::milliseconds(100);
  o.max_attempts = 40;  // about 3 s of retries
  Client client(o);
  const auto joined = client.Join(1);
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code(), StatusCode::kUnavailable) << joined.error();
  // Retrying every 0.1 s for about 3 s, the channel connects about 30 times; it connected
  // twice when the channel kept gRPC's own backoff and nothing polled it between calls.
  EXPECT_GE(listener.accepted(), 10);
}

}  // namespace
}  // namespace tributary::client
