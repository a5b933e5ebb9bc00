// The node's push and pull limits, seen from a client: a client retrying faster than
// --push-rate-per-client allows is turned away with RESOURCE_EXHAUSTED (refused attempts count
// too), a push beyond --max-streaming-pushes is refused while the others stream, and a pull
// beyond --max-streaming-pulls while the others wait; none disturbs what was accepted, and the
// round still publishes the exact average.
#include <gtest/gtest.h>

#include <thread>

#include "clients/cpp/client.h"
#include "tests/integration/push_helpers.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

constexpr std::size_t kParams = 1000;

TEST(PushLimitsTest, ClientsBeyondTheirPushRateAreRefused) {
  ServeProcess serve({"--push-rate-per-client", "0.5", "--push-burst", "2"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/2);
  ASSERT_NE(job, 0u);
  auto stub = v1::ClientService::NewStub(
      grpc::CreateChannel(serve.target(), grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(Join(*stub, job, "fast").ok());
  ASSERT_TRUE(Join(*stub, job, "calm").ok());
  const std::vector<float> a(kParams, 1.0f), b(kParams, 3.0f);
  // Two attempts fit the burst (the second is refused for what it is), the third is throttled.
  EXPECT_EQ(PushUpdate(*stub, job, 2, "fast", a, 1).error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_TRUE(PushUpdate(*stub, job, 1, "fast", a, 1).ok());
  grpc::Status throttled = PushUpdate(*stub, job, 1, "fast", a, 1);
  EXPECT_EQ(throttled.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_NE(throttled.error_message().find("pushes per second"), std::string::npos)
      << throttled.error_message();
  // Another client has its own budget.
  EXPECT_TRUE(PushUpdate(*stub, job, 1, "calm", b, 1).ok());
  client::Client reader({.target = serve.target(), .client_id = "calm"});
  auto model = reader.Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  EXPECT_EQ(model->values, std::vector<float>(kParams, 2.0f));
}

TEST(PushLimitsTest, PushesBeyondTheStreamingLimitAreRefusedUntilOneEnds) {
  ServeProcess serve({"--max-streaming-pushes", "1", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/2);
  ASSERT_NE(job, 0u);
  auto stub = v1::ClientService::NewStub(
      grpc::CreateChannel(serve.target(), grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(Join(*stub, job, "a").ok());
  ASSERT_TRUE(Join(*stub, job, "b").ok());
  const std::vector<float> a(kParams, 2.0f), b(kParams, 4.0f);
  // a's push has sent its header and half its bytes: it holds the only streaming place.
  PushStream open(*stub);
  ASSERT_TRUE(open.Send(Header(job, 1, "a", a, 1)));
  ASSERT_TRUE(open.SendChunk(a.data(), kParams / 2 * sizeof(float)));
  for (int i = 0; i < 250; ++i) {  // until the server has read a's header
    if (serve.Metrics().find("\ntributary_pushes_streaming 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  grpc::Status refused = PushUpdate(*stub, job, 1, "b", b, 1);
  EXPECT_EQ(refused.error_code(), grpc::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("at once"), std::string::npos)
      << refused.error_message();
  ASSERT_TRUE(open.SendChunk(a.data() + kParams / 2, kParams / 2 * sizeof(float)));
  ASSERT_TRUE(open.Finish().ok());
  EXPECT_TRUE(PushUpdate(*stub, job, 1, "b", b, 1).ok());
  client::Client reader({.target = serve.target(), .client_id = "a"});
  auto model = reader.Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  EXPECT_EQ(model->values, std::vector<float>(kParams, 3.0f));
}

// Pulls are bounded the same way: a pull waiting for its version holds one of
// --max-streaming-pulls places until it is served.
TEST(PushLimitsTest, PullsBeyondTheStreamingLimitAreRefusedUntilOneEnds) {
  ServeProcess serve({"--max-streaming-pulls", "1", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/2);
  ASSERT_NE(job, 0u);
  auto await_pulls = [&](int n) { return serve.AwaitMetric("tributary_pulls_streaming", n); };
  client::Client waiting({.target = serve.target(), .client_id = "a"});
  ASSERT_TRUE(waiting.Join(job));
  Result<client::Model> waited = Status::Unknown("not pulled");
  std::thread waiter([&] { waited = waiting.Pull(job, 1, /*wait=*/true); });
  ASSERT_TRUE(await_pulls(1));
  client::ClientOptions once{.target = serve.target(), .client_id = "b"};
  once.max_attempts = 1;
  client::Client refused(once);
  ASSERT_TRUE(refused.Join(job));
  auto pull = refused.Pull(job, 0, /*wait=*/false);
  ASSERT_FALSE(pull);
  EXPECT_EQ(pull.error().code(), StatusCode::kResourceExhausted) << pull.error();
  EXPECT_NE(serve.Metrics().find("\ntributary_pulls_throttled_total 1\n"), std::string::npos);
  // The waiting pull is served once the round publishes, and its place is free again.
  ASSERT_TRUE(waiting.Push(job, 1, std::vector<float>(kParams, 1.0f), 1));
  ASSERT_TRUE(refused.Push(job, 1, std::vector<float>(kParams, 5.0f), 1));
  waiter.join();
  ASSERT_TRUE(waited) << waited.error();
  EXPECT_EQ(waited->values, std::vector<float>(kParams, 3.0f));
  ASSERT_TRUE(await_pulls(0));
  EXPECT_TRUE(refused.Pull(job, 1, /*wait=*/false));
}

}  // namespace
}  // namespace tributary::testing
