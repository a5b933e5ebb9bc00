// Pushes over a node's bulk push port (proto/bulk_push.h): the SDK's pushes go there and the
// rounds stay exact; every malformed or unwelcome bulk push gets the status a gRPC push would,
// the connection stays usable where the protocol allows, and nothing accepted is disturbed.
#include "proto/bulk_push.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmath>

#include "clients/cpp/client.h"
#include "common/unique_fd.h"
#include "tests/integration/push_helpers.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

namespace bulk = proto::bulk;

constexpr std::size_t kParams = 1000;

std::vector<float> Values(float base) {
  std::vector<float> v(kParams);
  for (std::size_t i = 0; i < kParams; ++i) v[i] = base + 0.001f * float(i);
  return v;
}

// One bulk push connection, driven frame by frame.
class BulkConnection {
 public:
  explicit BulkConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{.tv_sec = 20, .tv_usec = 0};
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  bool connected() const { return connected_; }

  void SendRaw(const void* data, std::size_t n) {
    ASSERT_EQ(send(fd_.get(), data, n, MSG_NOSIGNAL), static_cast<ssize_t>(n));
  }
  // Sends a Hello and returns the node's Answer to it.
  Status Hello(const v1::UpdateHeader& h, const std::string& token = {}) {
    const std::string hello = bulk::EncodeHello(h.SerializeAsString(), token);
    SendRaw(hello.data(), hello.size());
    return Answer();
  }
  void SendPayload(std::span<const float> values) { SendRaw(values.data(), values.size_bytes()); }
  void SendChecksum(uint64_t checksum) { SendRaw(&checksum, sizeof(checksum)); }
  // The node's next Answer; its reply (if any) in reply().
  Status Answer() {
    uint8_t prefix[bulk::kPrefixBytes];
    if (!RecvAll(prefix, sizeof(prefix))) return Status::Unavailable("connection closed");
    auto a = bulk::DecodeAnswerPrefix(prefix);
    if (!a) return a.error();
    std::string body(a->message_len + a->reply_len, '\0');
    if (!RecvAll(body.data(), body.size())) return Status::Unavailable("connection closed");
    reply_.ParseFromString(body.substr(a->message_len));
    return Status(a->code, body.substr(0, a->message_len));
  }
  // A whole push; the Answer to its Hello when that refused it, else the final one.
  Status Push(const v1::UpdateHeader& h, std::span<const float> values) {
    if (Status s = Hello(h); !s.ok()) return s;
    SendPayload(values);
    SendChecksum(Checksum(values));
    return Answer();
  }
  // True when the node closed the connection (reads end of stream).
  bool ClosedByNode() {
    char byte;
    return recv(fd_.get(), &byte, 1, 0) == 0;
  }
  const v1::PushReply& reply() const { return reply_; }

 private:
  bool RecvAll(void* out, std::size_t n) {
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t got = recv(fd_.get(), p, n, 0);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }
  UniqueFd fd_;
  bool connected_ = false;
  v1::PushReply reply_;
};

void ExpectRefused(const Status& s, StatusCode code, const std::string& fragment) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.ToString();
}

class BulkPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(serve_.ok());
    job_ = serve_.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/3);
    ASSERT_NE(job_, 0u);
    for (const char* c : {"a", "b", "c", "d"}) {
      client::Client sdk({.target = serve_.target(), .client_id = c});
      auto joined = sdk.Join(job_);
      ASSERT_TRUE(joined) << joined.error();
      port_ = static_cast<int>(joined->bulk_push_port());
    }
    ASSERT_GT(port_, 0) << "a plaintext node names its bulk push port in JoinReply";
  }

  ServeProcess serve_{{"--metrics-listen", "127.0.0.1:0"}};
  uint64_t job_ = 0;
  int port_ = 0;
};

TEST_F(BulkPushTest, EachBadBulkPushIsRefusedAndTheRoundStaysExact) {
  const auto a = Values(1), b = Values(-2), c = Values(5);
  BulkConnection conn(port_);
  ASSERT_TRUE(conn.connected());

  // The first valid update is accepted before the bad ones arrive: none may disturb it.
  ASSERT_TRUE(conn.Push(Header(job_, 1, "a", a, 10), a).ok());
  EXPECT_EQ(conn.reply().round(), 1u);
  EXPECT_EQ(conn.reply().updates_in_round(), 1u);

  // Refused Hellos: nothing follows them, and the same connection takes the next push.
  ExpectRefused(conn.Push(Header(999, 1, "b", b), b), StatusCode::kNotFound, "job 999");
  ExpectRefused(conn.Push(Header(job_, 1, "stranger", b), b), StatusCode::kFailedPrecondition,
                "has not joined");
  ExpectRefused(conn.Push(Header(job_, 1, "a", a), a), StatusCode::kAlreadyExists,
                "already pushed");
  ExpectRefused(conn.Push(Header(job_, 2, "b", b), b), StatusCode::kFailedPrecondition, "not open");
  ExpectRefused(conn.Push(Header(job_, 1, "b", std::span(b).first(kParams - 1)), b),
                StatusCode::kInvalidArgument, "expects 4000");
  ExpectRefused(conn.Push(Header(job_, 1, "b", b, 0), b), StatusCode::kInvalidArgument,
                "num_examples");
  {
    const std::string garbage = bulk::EncodeHello("\xff\xff\xff", "");
    conn.SendRaw(garbage.data(), garbage.size());
    ExpectRefused(conn.Answer(), StatusCode::kInvalidArgument, "malformed UpdateHeader");
  }
  // Refused payloads: the node reads the rest of the payload and its checksum, then answers.
  {
    auto bad = b;
    bad[500] = std::nanf("");
    ExpectRefused(conn.Push(Header(job_, 1, "b", bad), bad), StatusCode::kInvalidArgument,
                  "value 500 is not finite");
  }
  {
    auto bad = b;
    bad[999] = -INFINITY;
    ExpectRefused(conn.Push(Header(job_, 1, "b", bad), bad), StatusCode::kInvalidArgument,
                  "value 999 is not finite");
  }
  {
    ASSERT_TRUE(conn.Hello(Header(job_, 1, "b", b)).ok());
    conn.SendPayload(b);
    conn.SendChecksum(Checksum(b) ^ 1);
    ExpectRefused(conn.Answer(), StatusCode::kDataLoss, "checksum");
  }
  {  // a push cut off in the middle: its slot goes back, and b may push again
    BulkConnection cut(port_);
    ASSERT_TRUE(cut.Hello(Header(job_, 1, "b", b)).ok());
    cut.SendPayload(std::span(b).first(kParams / 2));
  }
  {  // a stream that is not the protocol: answered, then closed
    BulkConnection stray(port_);
    const char junk[bulk::kPrefixBytes] = "GET / HTTP/1.1\r";
    stray.SendRaw(junk, sizeof(junk));
    ExpectRefused(stray.Answer(), StatusCode::kInvalidArgument, "wrong magic");
    EXPECT_TRUE(stray.ClosedByNode());
  }
  {  // a header longer than the protocol allows
    BulkConnection stray(port_);
    std::string hello = bulk::EncodeHello("x", "");
    hello[4] = hello[5] = hello[6] = '\x7f';
    stray.SendRaw(hello.data(), bulk::kPrefixBytes);
    ExpectRefused(stray.Answer(), StatusCode::kInvalidArgument, "bulk push header of");
    EXPECT_TRUE(stray.ClosedByNode());
  }

  // None of the refused pushes took a slot or counted as an update (the cut-off one included,
  // once the node has seen its connection close).
  v1::JobInfo mid;
  for (int i = 0; i < 100; ++i) {
    mid = serve_.GetJob(job_);
    if (mid.pool_free_slots() == mid.pool_slots() - 3) break;  // v0, the output and a
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(mid.updates_in_round(), 1u);
  EXPECT_EQ(mid.pool_free_slots(), mid.pool_slots() - 3);

  ASSERT_TRUE(conn.Push(Header(job_, 1, "b", b, 30), b).ok());
  EXPECT_EQ(conn.reply().updates_in_round(), 2u);
  // c over gRPC, beside the bulk pushes of the same round.
  client::Client c_sdk({.target = serve_.target(), .client_id = "c", .bulk_push = false});
  ASSERT_TRUE(c_sdk.Join(job_));
  ASSERT_TRUE(c_sdk.Push(job_, 1, c, 60));
  ExpectRefused(conn.Push(Header(job_, 1, "d", c), c), StatusCode::kFailedPrecondition, "closed");

  client::Client sdk({.target = serve_.target(), .client_id = "a"});
  auto model = sdk.Pull(job_, 1, /*wait=*/true);
  ASSERT_TRUE(model) << model.error();
  ASSERT_EQ(model->values.size(), kParams);
  for (std::size_t i = 0; i < kParams; ++i) {
    const double expect = (10.0 * a[i] + 30.0 * b[i] + 60.0 * c[i]) / 100.0;
    ASSERT_NEAR(model->values[i], expect, 1e-5 * std::max(1.0, std::abs(expect))) << i;
  }
  EXPECT_EQ(MetricValue(serve_.Metrics(), "tributary_bulk_pushes_total"), 2);
}

TEST(BulkPushCredentialsTest, ARestrictedJobNeedsTheTokenOfItsClientOverTheBulkPort) {
  ServeProcess serve({"--insecure"});
  ASSERT_TRUE(serve.ok());
  v1::JobSpec spec;  // open to alice and bob only
  spec.set_params(kParams);
  spec.set_rounds(1);
  spec.set_clients_per_round(2);
  for (const char* id : {"alice", "bob"}) spec.mutable_access()->add_allowed_clients(id);
  const uint64_t job = serve.CreateJob(spec);
  ASSERT_NE(job, 0u);
  client::Client alice_sdk({.target = serve.target(), .client_id = "alice"});
  auto alice = alice_sdk.Join(job);
  ASSERT_TRUE(alice) << alice.error();
  ASSERT_GT(alice->bulk_push_port(), 0u);
  const auto values = Values(3);

  BulkConnection conn(static_cast<int>(alice->bulk_push_port()));
  ASSERT_TRUE(conn.connected());
  ExpectRefused(conn.Hello(Header(job, 1, "alice", values)), StatusCode::kUnauthenticated, "token");
  ExpectRefused(conn.Hello(Header(job, 1, "alice", values), std::string(64, 'f')),
                StatusCode::kUnauthenticated, "token");
  ExpectRefused(conn.Hello(Header(job, 1, "bob", values), alice->access_token()),
                StatusCode::kUnauthenticated, "token");
  EXPECT_EQ(serve.GetJob(job).updates_in_round(), 0u);

  ASSERT_TRUE(conn.Hello(Header(job, 1, "alice", values), alice->access_token()).ok());
  conn.SendPayload(values);
  conn.SendChecksum(Checksum(values));
  ASSERT_TRUE(conn.Answer().ok());
  EXPECT_EQ(conn.reply().updates_in_round(), 1u);
}

// Rounds whose updates all come from the SDK, `bulk` ones over the bulk port; the number of
// updates the node accepted there.
double SdkRounds(ServeProcess& serve, uint64_t job, bool bulk) {
  std::vector<std::vector<float>> updates;
  for (int i = 0; i < 3; ++i) updates.push_back(Values(float(i) - 1));
  for (uint32_t round = 1; round <= 2; ++round) {
    for (int i = 0; i < 3; ++i) {
      client::Client sdk({.target = serve.target(),
                          .client_id = std::string(1, char('a' + i)),
                          .bulk_push = bulk});
      auto joined = sdk.Join(job);
      EXPECT_TRUE(joined) << joined.error();
      auto pushed = sdk.Push(job, round, updates[i], 10 * (i + 1));
      EXPECT_TRUE(pushed) << pushed.error();
    }
    client::Client sdk({.target = serve.target(), .client_id = "a"});
    auto model = sdk.Pull(job, round, /*wait=*/true);
    EXPECT_TRUE(model) << model.error();
    if (!model) return -1;
    for (std::size_t k = 0; k < kParams; ++k) {
      const double expect =
          (10.0 * updates[0][k] + 20.0 * updates[1][k] + 30.0 * updates[2][k]) / 60.0;
      EXPECT_NEAR(model->values[k], expect, 1e-5 * std::max(1.0, std::abs(expect))) << k;
    }
  }
  return MetricValue(serve.Metrics(), "tributary_bulk_pushes_total");
}

TEST_F(BulkPushTest, TheSdkPushesOverTheBulkPort) {
  EXPECT_EQ(SdkRounds(serve_, job_, /*bulk=*/true), 6);
}

TEST_F(BulkPushTest, TheSdkPushesOverGrpcWhenAskedTo) {
  EXPECT_EQ(SdkRounds(serve_, job_, /*bulk=*/false), 0);
}

TEST(BulkPushFallbackTest, AnUnreachableBulkPortSendsTheSdkBackToGrpc) {
  // The bulk port listens on another loopback address than the one clients dial.
  ServeProcess serve({"--metrics-listen", "127.0.0.1:0", "--bulk-listen", "127.0.0.2:0"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/3);
  ASSERT_NE(job, 0u);
  EXPECT_EQ(SdkRounds(serve, job, /*bulk=*/true), 0);
}

TEST(BulkPushOffTest, ANodeWithBulkOffNamesNoPort) {
  ServeProcess serve({"--bulk-listen", "off"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/1);
  client::Client sdk({.target = serve.target(), .client_id = "a"});
  auto joined = sdk.Join(job);
  ASSERT_TRUE(joined) << joined.error();
  EXPECT_EQ(joined->bulk_push_port(), 0u);
  ASSERT_TRUE(sdk.Push(job, 1, Values(1), 1));
}

}  // namespace
}  // namespace tributary::testing
