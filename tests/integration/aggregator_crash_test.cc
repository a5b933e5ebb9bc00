// An aggregator process killed with SIGKILL in the middle of a round: the node runtime replaces
// it, its shard is replayed from the slots the control plane still holds, the round publishes
// the exact average, and no slot leaks.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <thread>

#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "tests/integration/push_helpers.h"
#include "tests/integration/serve_process.h"

#ifdef TRIBUTARY_HAVE_BPF
#include <bpf/bpf.h>
#endif

namespace tributary::testing {
namespace {

// Instance ids in the BPF router's pinned sockhash (empty when it is not in use).
std::set<uint64_t> SockhashKeys(const std::string& node) {
  std::set<uint64_t> keys;
#ifdef TRIBUTARY_HAVE_BPF
  const int fd = bpf_obj_get(("/sys/fs/bpf/tributary/" + node + "/instance_sockets").c_str());
  if (fd < 0) return keys;
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.insert(next);
    key = next;
    prev = &key;
  }
  close(fd);
#endif
  return keys;
}

TEST(AggregatorCrashTest, KilledAggregatorMidRoundLosesNothing) {
  constexpr std::size_t kParams = 1 << 20;
  constexpr uint64_t kSeed = 42;
  const std::string node = "crash-" + std::to_string(getpid());
  ServeProcess serve({"--aggregators", "2", "--node-id", node});
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
  const std::set<uint64_t> keys_before = SockhashKeys(node);
#ifdef TRIBUTARY_HAVE_BPF
  if (geteuid() == 0) {
    EXPECT_EQ(keys_before.size(), 3u) << "root: the BPF router holds the sender and 2 instances";
  }
#endif
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
  // With the BPF router (root), the dead instance left the kernel's sockhash and its
  // replacement joined it: the same number of sockets, one id replaced.
  if (!keys_before.empty()) {
    std::set<uint64_t> keys_after = SockhashKeys(node);
    for (int i = 0; i < 250 && keys_after.size() != keys_before.size(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // still registering
      keys_after = SockhashKeys(node);
    }
    EXPECT_EQ(keys_after.size(), keys_before.size());
    std::vector<uint64_t> gone;
    std::set_difference(keys_before.begin(), keys_before.end(), keys_after.begin(),
                        keys_after.end(), std::back_inserter(gone));
    EXPECT_EQ(gone.size(), 1u);
  }

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

// A replacement killed while it is still starting (before its HELLO reaches the runtime) is
// reaped and replaced in turn: the node does not stay an aggregator short.
TEST(AggregatorCrashTest, ReplacementKilledWhileStartingIsReplacedAgain) {
  ServeProcess serve({"--aggregators", "2"});
  ASSERT_TRUE(serve.ok());
  const std::vector<pid_t> before = serve.Children();
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(kill(before[0], SIGKILL), 0);
  pid_t starting = -1;
  for (int i = 0; i < 5000 && starting < 0; ++i) {
    for (pid_t p : serve.Children()) {
      if (p != before[0] && p != before[1]) starting = p;
    }
    if (starting < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GT(starting, 0) << "no replacement was started";
  ASSERT_EQ(kill(starting, SIGKILL), 0);

  std::vector<pid_t> after;
  auto settled = [&] {
    after = serve.Children();
    return after.size() == 2 && std::count(after.begin(), after.end(), before[0]) == 0 &&
           std::count(after.begin(), after.end(), starting) == 0;
  };
  for (int i = 0; i < 500 && !settled(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(settled()) << "children: " << after.size();
  // Both aggregators work: a 2-shard round publishes the exact average.
  const uint64_t job = serve.CreateJob(1 << 16, 1, 2, /*shards=*/2);
  ASSERT_NE(job, 0u);
  std::vector<std::unique_ptr<client::Client>> clients;
  for (uint64_t i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(i)}));
    ASSERT_TRUE(clients.back()->Join(job));
    ASSERT_TRUE(clients.back()->Push(job, 1, std::vector<float>(1 << 16, float(2 * i + 1)), 1));
  }
  auto model = clients[0]->Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  for (float v : model->values) ASSERT_EQ(v, 2.0f);
}

}  // namespace
}  // namespace tributary::testing
