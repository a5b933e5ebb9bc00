// Pushes and pulls over a node's bulk port (proto/bulk.h): the SDK's go there and the rounds
// stay exact; every malformed or unwelcome bulk request gets the status its gRPC twin would,
// the connection stays usable where the protocol allows, and nothing accepted is disturbed.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmath>
#include <optional>

#include "clients/cpp/client.h"
#include "common/unique_fd.h"
#include "proto/bulk.h"
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

// One bulk connection, driven frame by frame.
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
    const std::string hello =
        bulk::EncodeHello(bulk::HelloKind::kPush, h.SerializeAsString(), token);
    SendRaw(hello.data(), hello.size());
    return Answer();
  }
  // Sends a pull's Hello; its Answer comes with Answer() (the ModelHeader in model_header()).
  void AskPull(uint64_t job, const std::string& client, int64_t version, bool wait,
               const std::string& token = {}) {
    v1::PullRequest req;
    req.set_job_id(job);
    req.set_client_id(client);
    req.set_version(version);
    req.set_wait(wait);
    const std::string hello =
        bulk::EncodeHello(bulk::HelloKind::kPull, req.SerializeAsString(), token);
    SendRaw(hello.data(), hello.size());
  }
  Status Pull(uint64_t job, const std::string& client, int64_t version, bool wait,
              const std::string& token = {}) {
    AskPull(job, client, version, wait, token);
    return Answer();
  }
  // The model bytes that follow an OK pull Answer, and their checksum after them where the
  // header announced it (then in model_checksum()).
  std::vector<float> Model() {
    std::vector<float> model(model_header().total_bytes() / sizeof(float));
    EXPECT_TRUE(RecvAll(model.data(), model.size() * sizeof(float)));
    trailing_checksum_.reset();
    if (model_header().checksum_in_trailer()) {
      uint64_t checksum = 0;
      EXPECT_TRUE(RecvAll(&checksum, sizeof(checksum)));
      trailing_checksum_ = checksum;
    }
    return model;
  }
  // The checksum of the last Model(): the header's, or the one that trailed the bytes.
  uint64_t model_checksum() const { return trailing_checksum_.value_or(model_header().checksum()); }
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
    reply_bytes_ = body.substr(a->message_len);
    return Status(a->code, body.substr(0, a->message_len));
  }
  // A whole push; the Answer to its Hello when that refused it, else the final one.
  Status Push(const v1::UpdateHeader& h, std::span<const float> values) {
    if (Status s = Hello(h); !s.ok()) return s;
    SendPayload(values);
    SendChecksum(Checksum(values));
    return Answer();
  }
  // True when the node closed the connection: end of stream, or a reset where it left bytes
  // of ours unread.
  bool ClosedByNode() {
    char byte;
    const ssize_t got = recv(fd_.get(), &byte, 1, 0);
    return got == 0 || (got < 0 && errno == ECONNRESET);
  }
  v1::PushReply reply() const {
    v1::PushReply r;
    r.ParseFromString(reply_bytes_);
    return r;
  }
  v1::ModelHeader model_header() const {
    v1::ModelHeader h;
    h.ParseFromString(reply_bytes_);
    return h;
  }

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
  std::string reply_bytes_;
  std::optional<uint64_t> trailing_checksum_;  // of the last Model(), where it trailed the bytes
};

void ExpectRefused(const Status& s, StatusCode code, const std::string& fragment) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.ToString();
}

class BulkPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(serve_.ok());
    job_ = serve_.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/3);
    ASSERT_NE(job_, 0u);
    for (const char* c : {"a", "b", "c", "d"}) {
      client::Client sdk({.target = serve_.target(), .client_id = c});
      auto joined = sdk.Join(job_);
      ASSERT_TRUE(joined) << joined.error();
      port_ = static_cast<int>(joined->bulk_port());
    }
    ASSERT_GT(port_, 0) << "a plaintext node names its bulk port in JoinReply";
  }

  ServeProcess serve_{{"--metrics-listen", "127.0.0.1:0"}};
  uint64_t job_ = 0;
  int port_ = 0;
};

TEST_F(BulkPortTest, EachBadBulkPushIsRefusedAndTheRoundStaysExact) {
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
    const std::string garbage = bulk::EncodeHello(bulk::HelloKind::kPush, "\xff\xff\xff", "");
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
    std::string hello = bulk::EncodeHello(bulk::HelloKind::kPush, "x", "");
    hello[4] = hello[5] = hello[6] = '\x7f';
    stray.SendRaw(hello.data(), bulk::kPrefixBytes);
    ExpectRefused(stray.Answer(), StatusCode::kInvalidArgument, "bulk Hello header of");
    EXPECT_TRUE(stray.ClosedByNode());
  }
  {  // a Hello of a kind the protocol does not know
    BulkConnection stray(port_);
    const std::string hello = bulk::EncodeHello(static_cast<bulk::HelloKind>(7), "x", "");
    stray.SendRaw(hello.data(), bulk::kPrefixBytes);
    ExpectRefused(stray.Answer(), StatusCode::kInvalidArgument, "unknown kind 7");
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
  client::Client c_sdk({.target = serve_.target(), .client_id = "c", .use_bulk_port = false});
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

TEST(BulkPortCredentialsTest, ARestrictedJobNeedsTheTokenOfItsClientOverTheBulkPort) {
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
  ASSERT_GT(alice->bulk_port(), 0u);
  const auto values = Values(3);

  BulkConnection conn(static_cast<int>(alice->bulk_port()));
  ASSERT_TRUE(conn.connected());
  ExpectRefused(conn.Hello(Header(job, 1, "alice", values)), StatusCode::kUnauthenticated, "token");
  ExpectRefused(conn.Hello(Header(job, 1, "alice", values), std::string(64, 'f')),
                StatusCode::kUnauthenticated, "token");
  ExpectRefused(conn.Hello(Header(job, 1, "bob", values), alice->access_token()),
                StatusCode::kUnauthenticated, "token");
  EXPECT_EQ(serve.GetJob(job).updates_in_round(), 0u);

  ExpectRefused(conn.Pull(job, "alice", 0, false), StatusCode::kUnauthenticated, "token");
  ExpectRefused(conn.Pull(job, "bob", 0, false, alice->access_token()),
                StatusCode::kUnauthenticated, "token");
  ASSERT_TRUE(conn.Pull(job, "alice", 0, false, alice->access_token()).ok());
  EXPECT_EQ(conn.Model(), std::vector<float>(kParams, 0.0f));

  ASSERT_TRUE(conn.Hello(Header(job, 1, "alice", values), alice->access_token()).ok());
  conn.SendPayload(values);
  conn.SendChecksum(Checksum(values));
  ASSERT_TRUE(conn.Answer().ok());
  EXPECT_EQ(conn.reply().updates_in_round(), 1u);
}

// Rounds whose updates all come from the SDK, which also pulls each round's model, `bulk` over
// the bulk port; the numbers of updates and models that went over the bulk port.
std::pair<double, double> SdkRounds(ServeProcess& serve, uint64_t job, bool bulk) {
  std::vector<std::vector<float>> updates;
  for (int i = 0; i < 3; ++i) updates.push_back(Values(float(i) - 1));
  for (uint32_t round = 1; round <= 2; ++round) {
    for (int i = 0; i < 3; ++i) {
      client::Client sdk({.target = serve.target(),
                          .client_id = std::string(1, char('a' + i)),
                          .use_bulk_port = bulk});
      auto joined = sdk.Join(job);
      EXPECT_TRUE(joined) << joined.error();
      auto pushed = sdk.Push(job, round, updates[i], 10 * (i + 1));
      EXPECT_TRUE(pushed) << pushed.error();
    }
    client::Client sdk({.target = serve.target(), .client_id = "a", .use_bulk_port = bulk});
    EXPECT_TRUE(sdk.Join(job));
    auto model = sdk.Pull(job, round, /*wait=*/true);
    EXPECT_TRUE(model) << model.error();
    if (!model) return {-1, -1};
    for (std::size_t k = 0; k < kParams; ++k) {
      const double expect =
          (10.0 * updates[0][k] + 20.0 * updates[1][k] + 30.0 * updates[2][k]) / 60.0;
      EXPECT_NEAR(model->values[k], expect, 1e-5 * std::max(1.0, std::abs(expect))) << k;
    }
  }
  const std::string metrics = serve.Metrics();
  return {MetricValue(metrics, "tributary_bulk_pushes_total"),
          MetricValue(metrics, "tributary_bulk_pulls_total")};
}

TEST_F(BulkPortTest, TheSdkPushesAndPullsOverTheBulkPort) {
  EXPECT_EQ(SdkRounds(serve_, job_, /*bulk=*/true), std::make_pair(6.0, 2.0));
}

TEST_F(BulkPortTest, TheSdkPushesAndPullsOverGrpcWhenAskedTo) {
  EXPECT_EQ(SdkRounds(serve_, job_, /*bulk=*/false), std::make_pair(0.0, 0.0));
}

TEST_F(BulkPortTest, BulkPullsAnswerAsGrpcPullsDoAndWaitForTheirModel) {
  BulkConnection conn(port_);
  ASSERT_TRUE(conn.connected());
  // Refusals leave the connection in step.
  ExpectRefused(conn.Pull(999, "a", -1, false), StatusCode::kNotFound, "job 999");
  ExpectRefused(conn.Pull(job_, "a", 1, false), StatusCode::kNotFound, "not published yet");
  ExpectRefused(conn.Pull(job_, "a", 7, false), StatusCode::kOutOfRange, "outside 0..2");
  {
    const std::string garbage = bulk::EncodeHello(bulk::HelloKind::kPull, "\xff\xff\xff", "");
    conn.SendRaw(garbage.data(), garbage.size());
    ExpectRefused(conn.Answer(), StatusCode::kInvalidArgument, "malformed PullRequest");
  }
  ASSERT_TRUE(conn.Pull(job_, "a", 0, false).ok());
  EXPECT_EQ(conn.model_header().version(), 0u);
  EXPECT_EQ(conn.model_header().total_bytes(), kParams * sizeof(float));
  EXPECT_FALSE(conn.model_header().checksum_in_trailer()) << "a model published before";
  const std::vector<float> initial = conn.Model();
  EXPECT_EQ(initial, std::vector<float>(kParams, 0.0f));
  EXPECT_EQ(conn.model_header().checksum(), Checksum(initial));

  // A pull waiting for round 1's model gets it once the round publishes.
  BulkConnection waiting(port_);
  waiting.AskPull(job_, "b", 1, true);
  ASSERT_TRUE(serve_.AwaitMetric("tributary_pulls_streaming", 1));

  const auto a = Values(1), b = Values(-2), c = Values(5);
  ASSERT_TRUE(conn.Push(Header(job_, 1, "a", a, 10), a).ok());
  ASSERT_TRUE(conn.Push(Header(job_, 1, "b", b, 30), b).ok());
  ASSERT_TRUE(conn.Push(Header(job_, 1, "c", c, 60), c).ok());

  ASSERT_TRUE(waiting.Answer().ok());
  EXPECT_EQ(waiting.model_header().version(), 1u);
  // It got the model before the node hashed it: the checksum follows the bytes.
  EXPECT_TRUE(waiting.model_header().checksum_in_trailer());
  EXPECT_EQ(waiting.model_header().checksum(), 0u);
  const std::vector<float> model = waiting.Model();
  ASSERT_EQ(model.size(), kParams);
  EXPECT_EQ(waiting.model_checksum(), Checksum(model));
  for (std::size_t i = 0; i < kParams; ++i) {
    const double expect = (10.0 * a[i] + 30.0 * b[i] + 60.0 * c[i]) / 100.0;
    ASSERT_NEAR(model[i], expect, 1e-5 * std::max(1.0, std::abs(expect))) << i;
  }
  // The same connection takes the next pull; the latest model is round 1's.
  ASSERT_TRUE(waiting.Pull(job_, "b", -1, false).ok());
  EXPECT_EQ(waiting.Model(), model);
  EXPECT_EQ(MetricValue(serve_.Metrics(), "tributary_bulk_pulls_total"), 3);
}

// A bulk pull counts against --max-streaming-pulls while it waits, and gives its place back
// when its client leaves or breaks the protocol.
TEST(BulkPullLimitTest, APullThatEndsWithoutItsModelGivesItsPlaceBack) {
  ServeProcess serve({"--max-streaming-pulls", "1", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/1);
  client::Client sdk({.target = serve.target(), .client_id = "a"});
  auto joined = sdk.Join(job);
  ASSERT_TRUE(joined) << joined.error();
  const int port = static_cast<int>(joined->bulk_port());
  auto await_pulls = [&](int n) { return serve.AwaitMetric("tributary_pulls_streaming", n); };
  BulkConnection probe(port);
  {
    BulkConnection leaving(port);
    leaving.AskPull(job, "a", 1, true);
    ASSERT_TRUE(await_pulls(1));
    ExpectRefused(probe.Pull(job, "a", 0, false), StatusCode::kResourceExhausted,
                  "pulls are streaming or waiting");
  }
  EXPECT_TRUE(await_pulls(0)) << "a client that left while waiting still holds its place";
  {
    BulkConnection chatty(port);
    chatty.AskPull(job, "a", 1, true);
    ASSERT_TRUE(await_pulls(1));
    chatty.SendRaw("x", 1);  // a client only reads while its pull is answered
    EXPECT_TRUE(chatty.ClosedByNode());
  }
  EXPECT_TRUE(await_pulls(0)) << "a closed connection still holds its place";
  ASSERT_TRUE(probe.Pull(job, "a", 0, false).ok()) << "the refused connection stays in step";
  EXPECT_EQ(probe.Model(), std::vector<float>(kParams, 0.0f));
}

// A model larger than the sockets' buffers goes out as the client reads it, and arrives whole.
TEST(BulkPullLargeTest, AModelLargerThanTheSocketBuffersArrivesWhole) {
  constexpr std::size_t kLarge = 4u << 20;  // 16 MiB of float32
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kLarge, /*rounds=*/1, /*clients_per_round=*/1);
  // One attempt with a short deadline: an exchange that does not complete fails the test.
  client::Client sdk({.target = serve.target(),
                      .client_id = "a",
                      .max_attempts = 1,
                      .call_timeout = std::chrono::seconds(30)});
  auto joined = sdk.Join(job);
  ASSERT_TRUE(joined) << joined.error();
  std::vector<float> update(kLarge);
  for (std::size_t i = 0; i < kLarge; ++i) update[i] = float(i % 1000) - 500.0f;
  ASSERT_TRUE(sdk.Push(job, 1, update, 3));

  BulkConnection conn(static_cast<int>(joined->bulk_port()));
  ASSERT_TRUE(conn.Pull(job, "a", 1, true).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the node's sends fill up
  const std::vector<float> model = conn.Model();
  EXPECT_EQ(model, update);
  EXPECT_EQ(conn.model_checksum(), Checksum(model));

  std::vector<float> pulled;  // the SDK's bulk pull, into a vector it resizes
  auto version = sdk.PullInto(job, 1, /*wait=*/false, &pulled);
  ASSERT_TRUE(version) << version.error();
  EXPECT_EQ(*version, 1u);
  EXPECT_EQ(pulled, update);

  // The pull read under a low-water mark; the connection went back to the SDK's pool with the
  // mark at one byte, so a refusal (an answer and nothing after it) wakes the reader at once.
  // Left at the pull's mark, the reader would sleep until the socket's receive timeout (the
  // call's 30 s) and only then find the answer: the bound below is half of that, not a speed.
  const auto start = std::chrono::steady_clock::now();
  auto refused = sdk.PullInto(job, 7, /*wait=*/false, &pulled);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), StatusCode::kOutOfRange) << refused.error();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15))
      << "the pooled connection kept the pull's low-water mark";
}

TEST(BulkPortFallbackTest, AnUnreachableBulkPortSendsTheSdkBackToGrpc) {
  // The bulk port listens on another loopback address than the one clients dial.
  ServeProcess serve({"--metrics-listen", "127.0.0.1:0", "--bulk-listen", "127.0.0.2:0"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/3);
  ASSERT_NE(job, 0u);
  EXPECT_EQ(SdkRounds(serve, job, /*bulk=*/true), std::make_pair(0.0, 0.0));
}

TEST(BulkPortOffTest, ANodeWithBulkOffNamesNoPort) {
  ServeProcess serve({"--bulk-listen", "off"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/1);
  client::Client sdk({.target = serve.target(), .client_id = "a"});
  auto joined = sdk.Join(job);
  ASSERT_TRUE(joined) << joined.error();
  EXPECT_EQ(joined->bulk_port(), 0u);
  ASSERT_TRUE(sdk.Push(job, 1, Values(1), 1));
}

}  // namespace
}  // namespace tributary::testing
