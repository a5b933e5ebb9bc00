// A coded job end to end: 12 workers, s = 3, three of them stragglers. Each worker pushes the
// linear combination of partition gradients its join told it to compute; the round closes as
// soon as the arrived workers decode, before any straggler has pushed, and publishes the exact
// sum of the 12 partition gradients, computed here directly.
#include <gtest/gtest.h>

#include <set>

#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

constexpr std::size_t kParams = 5000;
constexpr uint32_t kWorkers = 12;
constexpr uint32_t kStragglers = 3;
constexpr uint64_t kSeed = 99;

class CodedRoundTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CodedRoundTest, RoundClosesWhenDecodableAndPublishesTheExactSum) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  v1::JobSpec spec;
  spec.set_name("coded");
  spec.set_params(kParams);
  spec.set_rounds(1);
  spec.set_clients_per_round(kWorkers);
  spec.mutable_coding()->set_scheme(GetParam());
  spec.mutable_coding()->set_stragglers(kStragglers);
  grpc::ClientContext ctx;
  v1::JobInfo info;
  ASSERT_TRUE(serve.op().CreateJob(&ctx, spec, &info).ok());
  const uint64_t job = info.job_id();
  EXPECT_EQ(info.spec().rule(), "weighted-sum");

  // Partition gradient j is a synthetic vector; worker i computes what its task says.
  std::vector<std::vector<float>> partition(kWorkers, std::vector<float>(kParams));
  for (uint32_t j = 0; j < kWorkers; ++j) client::SyntheticUpdate(kSeed, j, 1, partition[j]);
  std::vector<std::unique_ptr<client::Client>> workers;
  std::vector<std::vector<float>> coded(kWorkers, std::vector<float>(kParams, 0.0f));
  std::set<uint32_t> seen;
  for (uint32_t i = 0; i < kWorkers; ++i) {
    workers.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = "w" + std::to_string(i)}));
    auto joined = workers.back()->Join(job);
    ASSERT_TRUE(joined) << joined.error();
    const auto& task = joined->task();
    ASSERT_EQ(task.workers(), kWorkers);
    ASSERT_EQ(task.partitions_size(), int(kStragglers + 1));
    seen.insert(task.worker());
    for (int k = 0; k < task.partitions_size(); ++k) {
      const auto& g = partition[task.partitions(k)];
      for (std::size_t x = 0; x < kParams; ++x) {
        coded[task.worker()][x] += static_cast<float>(task.coefficients(k) * g[x]);
      }
    }
  }
  EXPECT_EQ(seen.size(), kWorkers);
  // A thirteenth worker has no place in a 12-worker code.
  client::Client extra({.target = serve.target(), .client_id = "w12", .max_attempts = 1});
  auto refused = extra.Join(job);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), StatusCode::kFailedPrecondition);

  // Workers 1, 6 and 11 straggle; the others push in order until the round closes.
  const std::set<uint32_t> stragglers = {1, 6, 11};
  uint32_t accepted = 0, closed = 0;
  for (uint32_t i = 0; i < kWorkers; ++i) {
    if (stragglers.count(i)) continue;
    auto r = workers[i]->Push(job, 1, coded[i], 1);
    if (r) {
      ++accepted;
    } else {
      EXPECT_EQ(r.error().code(), StatusCode::kFailedPrecondition) << r.error();
      ++closed;
    }
  }
  // Published before any straggler pushed: the round did not wait for them.
  auto model = workers[0]->Pull(job, 1, /*wait=*/true);
  ASSERT_TRUE(model) << model.error();
  EXPECT_EQ(accepted + closed, kWorkers - kStragglers);
  if (std::string(GetParam()) == "cyclic") {
    EXPECT_EQ(accepted, kWorkers - kStragglers);  // a cyclic code needs n - s workers
  } else {
    EXPECT_GE(accepted, kWorkers / (kStragglers + 1));  // one per repetition group
  }
  std::vector<double> sum(kParams, 0.0);
  for (const auto& g : partition) {
    for (std::size_t x = 0; x < kParams; ++x) sum[x] += g[x];
  }
  EXPECT_LE(client::MaxRelativeError(model->values, sum), 1e-4);
  for (uint32_t i : stragglers) {
    auto late = workers[i]->Push(job, 1, coded[i], 1);
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().code(), StatusCode::kFailedPrecondition);
  }
}

INSTANTIATE_TEST_SUITE_P(Schemes, CodedRoundTest, ::testing::Values("frc", "cyclic"));

}  // namespace
}  // namespace tributary::testing
