// Chaos, aggregator mode: a job runs kRounds rounds, its model split into kShards shards over
// kAggregators aggregator processes, while the test SIGKILLs a random one of those processes at
// a random point of every round: after a random number of the round's concurrent pushes were
// acknowledged (none: before the first; all: while the round is aggregated and published). It
// proves that the kills cost nothing: every published version equals the exact weighted average
// of the updates its round accepted (every push was acknowledged, so all of them), the node
// replaces every killed process, and the job's shared-memory pool leaks no slot: between rounds
// it holds exactly the retained versions and the open round's output, and once the job has
// completed only its final model.
//
// One kill per round, and the next round starts only once the node has replaced the killed
// process (and so has reclaimed its slot references): the control plane fails a job whose
// aggregators die kMaxDeathsInRule (2) times inside the same round's rule, and this job is
// expected to succeed. Victims are processes that have finished starting (attached to the
// router): the ones work is routed to. The seed is printed; TRIBUTARY_CHAOS_SEED=N replays its
// choices (the interleaving of pushes, kill and aggregation is the scheduler's).
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

constexpr uint32_t kRounds = 10;
constexpr uint32_t kClients = 8;
// 4 MiB updates: folding one into a shard takes about as long as its push's acknowledgement
// takes to reach the client, so some kills land inside the rule, while the victim holds slot
// references that the node must reclaim.
constexpr std::size_t kParams = 1 << 20;
constexpr uint32_t kShards = 3;
constexpr uint32_t kAggregators = 3;
constexpr uint32_t kRetainedVersions = 2;

uint64_t ChaosSeed() {
  const char* fixed = std::getenv("TRIBUTARY_CHAOS_SEED");
  return fixed ? std::strtoull(fixed, nullptr, 10) : std::random_device{}();
}

// Aggregator processes attached to serve's router: one instance line each in /metrics.
std::size_t AttachedInstances(const ServeProcess& serve) {
  const std::string metrics = serve.Metrics();
  const std::string line = "\ntributary_router_messages_total{instance=";
  std::size_t n = 0;
  for (std::size_t at = metrics.find(line); at != std::string::npos;
       at = metrics.find(line, at + 1)) {
    ++n;
  }
  return n;
}

// Waits until serve runs kAggregators aggregator processes, `gone` (if not 0) no longer among
// them (reaped, so its loss was handled), and every one of them attached to the router (done
// starting), and returns their pids; empty if that does not happen within the bound, a
// backstop far beyond a process start.
std::vector<pid_t> SettledAggregators(const ServeProcess& serve, pid_t gone = 0) {
  for (int i = 0; i < 3000; ++i) {
    const std::vector<pid_t> children = serve.Children();
    if (children.size() == kAggregators &&
        std::find(children.begin(), children.end(), gone) == children.end() &&
        AttachedInstances(serve) == kAggregators) {
      return children;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

// Counts acknowledged pushes so that the test can act after the k-th.
class AckCounter {
 public:
  void Acknowledged() {
    std::lock_guard lock(mu_);
    ++acks_;
    cv_.notify_all();
  }
  void AwaitAtLeast(uint32_t k) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return acks_ >= k; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint32_t acks_ = 0;
};

TEST(ChaosTest, AggregatorsKilledAtRandomPointsLoseNothingAndLeakNoSlot) {
  const uint64_t seed = ChaosSeed();
  std::cout << "chaos seed " << seed << " (TRIBUTARY_CHAOS_SEED=" << seed << " replays it)\n";
  SCOPED_TRACE("chaos seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  ServeProcess serve({"--aggregators", std::to_string(kAggregators), "--retained-versions",
                      std::to_string(kRetainedVersions), "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, kRounds, kClients, kShards);
  ASSERT_NE(job, 0u);
  const uint32_t pool_slots = serve.GetJob(job).pool_slots();

  std::vector<std::unique_ptr<client::Client>> clients;
  for (uint32_t i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<client::Client>(client::ClientOptions{
        .target = serve.target(), .client_id = "chaos-" + std::to_string(i)}));
    ASSERT_TRUE(clients.back()->Join(job));
  }
  std::vector<uint64_t> everyone(kClients);
  for (uint32_t i = 0; i < kClients; ++i) everyone[i] = i;

  for (uint32_t round = 1; round <= kRounds; ++round) {
    const uint32_t kill_after = std::uniform_int_distribution<uint32_t>(0, kClients)(rng);
    const uint32_t victim_index = std::uniform_int_distribution<uint32_t>(0, kAggregators - 1)(rng);

    AckCounter acks;
    std::vector<std::string> push_errors(kClients);
    std::vector<std::thread> pushers;
    for (uint32_t i = 0; i < kClients; ++i) {
      pushers.emplace_back([&, i] {
        std::vector<float> update(kParams);
        client::SyntheticUpdate(seed, i, round, update);
        auto pushed =
            clients[i]->Push(job, round, update, client::SyntheticExamples(seed, i, round));
        if (!pushed) push_errors[i] = pushed.error().ToString();
        acks.Acknowledged();  // a failed push counts too: the kill must not wait for it
      });
    }
    acks.AwaitAtLeast(kill_after);
    const std::vector<pid_t> aggregators = SettledAggregators(serve);
    const pid_t victim = aggregators.empty() ? 0 : aggregators[victim_index];
    const int killed = victim ? kill(victim, SIGKILL) : -1;
    for (auto& t : pushers) t.join();
    ASSERT_NE(victim, 0) << "round " << round << ": serve's aggregators did not settle";
    ASSERT_EQ(killed, 0) << "kill " << victim;
    std::cout << "round " << round << ": killed aggregator pid " << victim << " after "
              << kill_after << " of " << kClients << " pushes were acknowledged\n";
    for (uint32_t i = 0; i < kClients; ++i) {
      ASSERT_TRUE(push_errors[i].empty())
          << "round " << round << ", client " << i << ": " << push_errors[i];
    }

    auto model = clients[round % kClients]->Pull(job, round, /*wait=*/true);
    ASSERT_TRUE(model) << "round " << round << ": " << model.error();
    EXPECT_EQ(model->version, round);
    std::vector<double> reference(kParams, 0.0);
    const double total = client::AccumulateSyntheticAverage(seed, everyone, round, reference);
    for (double& v : reference) v /= total;
    EXPECT_LE(client::MaxRelativeError(model->values, reference), 1e-5) << "round " << round;

    ASSERT_FALSE(SettledAggregators(serve, victim).empty())
        << "round " << round << ": pid " << victim << " was not replaced";
    if (round < kRounds) {
      // Held: versions 0..round, up to kRetainedVersions of them, and the output of the round
      // that opened when this one was published.
      const uint32_t held = std::min(round + 1, kRetainedVersions) + 1;
      EXPECT_EQ(serve.GetJob(job).pool_free_slots(), pool_slots - held) << "round " << round;
    }
  }

  const v1::JobInfo done = serve.GetJob(job);
  EXPECT_EQ(done.state(), v1::JOB_STATE_COMPLETED) << done.message();
  EXPECT_EQ(done.published_version(), kRounds);
  // A completed job keeps its final model alone, in a pool of one slot.
  EXPECT_EQ(done.pool_slots(), 1u);
  EXPECT_EQ(done.pool_free_slots(), 0u);
}

}  // namespace
}  // namespace tributary::testing
