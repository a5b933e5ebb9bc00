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
//
// Gateway mode: the same loop, but what is killed at a random point of every round is serve
// itself (gateway, control plane and node runtime), which is then started again on the same
// data directory and port. The job resumes from its checkpoint (see
// gateway/checkpoint_store.h); clients retry through the outage as the SDK does, and a push whose
// acknowledgement the crash swallowed is answered ALREADY_EXISTS on retry (it was accepted).
// Every version still equals the exact average of all the round's updates, and no slot leaks.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
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

// Pushes every client's update of `round` concurrently and calls `kill` once `kill_after` of
// them were acknowledged; returns the pushes that failed, as "client N: error". ALREADY_EXISTS
// is an acknowledgement a crash swallowed: the update was accepted.
std::vector<std::string> PushRound(std::vector<std::unique_ptr<client::Client>>& clients,
                                   uint64_t job, uint32_t round, uint64_t seed,
                                   uint32_t kill_after, const std::function<void()>& kill) {
  AckCounter acks;
  std::vector<std::string> errors(clients.size());
  std::vector<std::thread> pushers;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    pushers.emplace_back([&, i] {
      std::vector<float> update(kParams);
      client::SyntheticUpdate(seed, i, round, update);
      auto pushed = clients[i]->Push(job, round, update, client::SyntheticExamples(seed, i, round));
      if (!pushed && pushed.error().code() != StatusCode::kAlreadyExists) {
        errors[i] = "client " + std::to_string(i) + ": " + pushed.error().ToString();
      }
      acks.Acknowledged();  // a failed push counts too: the kill must not wait for it
    });
  }
  acks.AwaitAtLeast(kill_after);
  kill();
  for (auto& t : pushers) t.join();
  std::erase(errors, std::string());
  return errors;
}

// Pulls version `round` through `c` and checks it is the exact weighted average of every
// client's update of that round.
void ExpectExactAverage(client::Client& c, uint64_t job, uint32_t round, uint64_t seed) {
  auto model = c.Pull(job, round, /*wait=*/true);
  ASSERT_TRUE(model) << "round " << round << ": " << model.error();
  EXPECT_EQ(model->version, round);
  std::vector<uint64_t> everyone(kClients);
  for (uint32_t i = 0; i < kClients; ++i) everyone[i] = i;
  std::vector<double> reference(kParams, 0.0);
  const double total = client::AccumulateSyntheticAverage(seed, everyone, round, reference);
  for (double& v : reference) v /= total;
  EXPECT_LE(client::MaxRelativeError(model->values, reference), 1e-5) << "round " << round;
}

// Checks that the pool of `job` settles at `held` slots in use once `round` was published:
// references taken for a moment (a model being written to the data directory) go back.
void ExpectHeldSlots(ServeProcess& serve, uint64_t job, uint32_t round, uint32_t held) {
  v1::JobInfo info;
  for (int i = 0; i < 500; ++i) {
    info = serve.GetJob(job);
    if (info.pool_slots() - info.pool_free_slots() == held) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(info.pool_free_slots(), info.pool_slots() - held) << "round " << round;
}

std::vector<std::unique_ptr<client::Client>> JoinedClients(const std::string& target,
                                                           uint64_t job, int max_attempts) {
  std::vector<std::unique_ptr<client::Client>> clients;
  for (uint32_t i = 0; i < kClients; ++i) {
    client::ClientOptions o;
    o.target = target;
    o.client_id = "chaos-" + std::to_string(i);
    o.max_attempts = max_attempts;
    o.max_backoff = std::chrono::milliseconds(500);
    clients.push_back(std::make_unique<client::Client>(o));
    EXPECT_TRUE(clients.back()->Join(job));
  }
  return clients;
}

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

  auto clients = JoinedClients(serve.target(), job, client::ClientOptions().max_attempts);

  for (uint32_t round = 1; round <= kRounds; ++round) {
    const uint32_t kill_after = std::uniform_int_distribution<uint32_t>(0, kClients)(rng);
    const uint32_t victim_index = std::uniform_int_distribution<uint32_t>(0, kAggregators - 1)(rng);
    pid_t victim = 0;
    int killed = -1;
    const auto errors = PushRound(clients, job, round, seed, kill_after, [&] {
      const std::vector<pid_t> aggregators = SettledAggregators(serve);
      victim = aggregators.empty() ? 0 : aggregators[victim_index];
      killed = victim ? kill(victim, SIGKILL) : -1;
    });
    ASSERT_NE(victim, 0) << "round " << round << ": serve's aggregators did not settle";
    ASSERT_EQ(killed, 0) << "kill " << victim;
    std::cout << "round " << round << ": killed aggregator pid " << victim << " after "
              << kill_after << " of " << kClients << " pushes were acknowledged\n";
    ASSERT_TRUE(errors.empty()) << "round " << round << ": " << errors.front();
    ExpectExactAverage(*clients[round % kClients], job, round, seed);
    ASSERT_FALSE(SettledAggregators(serve, victim).empty())
        << "round " << round << ": pid " << victim << " was not replaced";
    if (round < kRounds) {
      // Held: versions 0..round, up to kRetainedVersions of them, and the output of the round
      // that opened when this one was published.
      ExpectHeldSlots(serve, job, round, std::min(round + 1, kRetainedVersions) + 1);
    }
  }

  const v1::JobInfo done = serve.GetJob(job);
  EXPECT_EQ(done.state(), v1::JOB_STATE_COMPLETED) << done.message();
  EXPECT_EQ(done.published_version(), kRounds);
  // A completed job keeps its final model alone, in a pool of one slot.
  EXPECT_EQ(done.pool_slots(), 1u);
  EXPECT_EQ(done.pool_free_slots(), 0u);
}

// A port free now, for a serve that must come back on the same address.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return ok ? ntohs(addr.sin_port) : 0;
}

TEST(ChaosTest, ServeKilledAtRandomPointsResumesLosingNothing) {
  constexpr uint32_t kServeRounds = 6;
  const uint64_t seed = ChaosSeed();
  std::cout << "chaos seed " << seed << " (TRIBUTARY_CHAOS_SEED=" << seed << " replays it)\n";
  SCOPED_TRACE("chaos seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int port = FreePort();
  ASSERT_NE(port, 0);
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("tributary-chaos-" + std::to_string(getpid())))
                              .string();
  struct RemovedAtTheEnd {
    std::string dir;
    ~RemovedAtTheEnd() { RemoveDataDir(dir); }
  } removed{dir};  // after the last serve, declared below, ended
  const std::vector<std::string> args = {"--listen", "127.0.0.1:" + std::to_string(port),
                                         "--aggregators", "2", "--retained-versions",
                                         std::to_string(kRetainedVersions)};
  auto serve = std::make_unique<ServeProcess>(args, std::vector<std::string>{},
                                              client::ClientOptions{}, dir);
  ASSERT_TRUE(serve->ok());
  const uint64_t job = serve->CreateJob(kParams, kServeRounds, kClients, /*shards=*/2);
  ASSERT_NE(job, 0u);
  // Enough attempts, backing off up to 0.5 s, to outlast a restart of serve.
  auto clients = JoinedClients(serve->target(), job, /*max_attempts=*/40);

  for (uint32_t round = 1; round <= kServeRounds; ++round) {
    const uint32_t kill_after = std::uniform_int_distribution<uint32_t>(0, kClients)(rng);
    bool restarted = false;
    const auto errors = PushRound(clients, job, round, seed, kill_after, [&] {
      if (kill(serve->pid(), SIGKILL) != 0 || serve->WaitForExit(std::chrono::seconds(10)) == -1) {
        return;
      }
      serve = std::make_unique<ServeProcess>(args, std::vector<std::string>{},
                                             client::ClientOptions{}, dir);
      restarted = serve->ok();
    });
    ASSERT_TRUE(restarted) << "round " << round << ": serve did not come back";
    std::cout << "round " << round << ": killed serve after " << kill_after << " of " << kClients
              << " pushes were acknowledged\n";
    ASSERT_TRUE(errors.empty()) << "round " << round << ": " << errors.front();
    ExpectExactAverage(*clients[round % kClients], job, round, seed);
    if (round < kServeRounds) {
      ExpectHeldSlots(*serve, job, round, std::min(round + 1, kRetainedVersions) + 1);
    }
  }
  const v1::JobInfo done = serve->GetJob(job);
  EXPECT_EQ(done.state(), v1::JOB_STATE_COMPLETED) << done.message();
  EXPECT_EQ(done.published_version(), kServeRounds);
  EXPECT_EQ(done.pool_slots(), 1u);
  EXPECT_EQ(done.pool_free_slots(), 0u);
}

}  // namespace
}  // namespace tributary::testing
