// An aggregator process killed with SIGKILL in the middle of a round: the node runtime replaces
// it, its shard is replayed from the slots the control plane still holds, the round publishes
// the exact average, and no slot leaks.
#include <signal.h>

#include <gtest/gtest.h>

#include <thread>

#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "tests/integration/push_helpers.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

TEST(AggregatorCrashTest, KilledAggregatorMidRoundLosesNothing) {
  constexpr std::size_t kParams = 1 << 20;
  constexpr uint64_t kSeed = 42;
  ServeProcess serve({"--aggregators", "2"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/4,
                                       /*shards=*/2);
  ASSERT_NE(job, 0u);
  const v1::JobInfo info = serve.GetJob(job);
  const std::vector<pid_t> before = serve.Children();
  ASSERT_EQ(before.size(), 2u);

  std::vector<std::unique_ptr<client::Client>> clients;
  std::vector<float> update(kParams);
  auto push = [&](uint64_t i) {
    client::SyntheticUpdate(kSeed, i, 1, update);
    auto r = clients[i]->Push(job, 1, update, client::SyntheticExamples(kSeed, i, 1));
    ASSERT_TRUE(r) << r.error();
  };
  for (uint64_t i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(i)}));
    ASSERT_TRUE(clients.back()->Join(job));
  }
  push(0);
  push(1);
  ASSERT_EQ(kill(before[0], SIGKILL), 0);
  push(2);
  push(3);

  auto model = clients[0]->Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  std::vector<double> ref(kParams, 0.0);
  std::vector<uint64_t> ids = {0, 1, 2, 3};
  const double total = client::AccumulateSyntheticAverage(kSeed, ids, 1, ref);
  for (double& v : ref) v /= total;
  EXPECT_LE(client::MaxRelativeError(model->values, ref), 1e-5);

  // A replacement process took the dead one's place, and every update slot came back.
  std::vector<pid_t> after;
  for (int i = 0; i < 100; ++i) {
    after = serve.Children();
    if (after.size() == 2 && std::find(after.begin(), after.end(), before[0]) == after.end()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(std::find(after.begin(), after.end(), before[0]), after.end());
  EXPECT_EQ(serve.GetJob(job).pool_free_slots(), info.pool_slots() - 3);

  // The next round runs on the new process as well.
  for (uint64_t i = 0; i < 4; ++i) {
    client::SyntheticUpdate(kSeed, i, 2, update);
    ASSERT_TRUE(clients[i]->Push(job, 2, update, client::SyntheticExamples(kSeed, i, 2)));
  }
  auto model2 = clients[1]->Pull(job, 2, true);
  ASSERT_TRUE(model2) << model2.error();
  std::fill(ref.begin(), ref.end(), 0.0);
  const double total2 = client::AccumulateSyntheticAverage(kSeed, ids, 2, ref);
  for (double& v : ref) v /= total2;
  EXPECT_LE(client::MaxRelativeError(model2->values, ref), 1e-5);
}

}  // namespace
}  // namespace tributary::testing
