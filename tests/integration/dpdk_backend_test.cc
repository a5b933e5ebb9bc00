// serve --shm-backend dpdk: the job pools are DPDK memzones in 2 MiB hugepages, serve is the
// EAL primary and its aggregator processes attach as secondaries.
//   - A round runs in hugepages and publishes the exact average, with one aggregator
//     (secondary) killed mid-round: its replacement attaches, the round completes, no slot
//     leaks; the next round runs as well. At exit serve gives back every page it reserved and
//     leaves no runtime file or mount behind.
//   - A serve killed with SIGKILL leaves its prefix stale: the next serve of that node cleans it
//     and runs, and its exit leaves the machine as it found it.
//   - Where the hugepages cannot be had: `dpdk` refuses to start, saying why; `auto` runs on
//     POSIX shared memory.
// Needs root (hugepages, the EAL) and a build with DPDK; skipped otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;

// Bytes of hugetlbfs memory mapped into process `pid` (its smaps_rollup).
uint64_t HugetlbBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  uint64_t kb = 0;
  for (std::string key; in >> key;) {
    uint64_t value = 0;
    if ((key == "Shared_Hugetlb:" || key == "Private_Hugetlb:") && in >> value) kb += value;
  }
  return kb << 10;
}

long Hugepages(const std::string& what) {  // nr_hugepages, free_hugepages
  long n = -1;
  std::ifstream("/sys/kernel/mm/hugepages/hugepages-2048kB/" + what) >> n;
  return n;
}

bool Mounted(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    if (line.find(" " + dir + " ") != std::string::npos) return true;
  }
  return false;
}

class DpdkBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef TRIBUTARY_HAVE_DPDK
    GTEST_SKIP() << "this build has no DPDK backend (libdpdk-dev was not found)";
#endif
    if (geteuid() != 0) GTEST_SKIP() << "the DPDK backend needs root (hugepages, the EAL)";
    pages_before_ = Hugepages("nr_hugepages");
    if (pages_before_ < 0) GTEST_SKIP() << "this kernel has no 2 MiB hugepages";
  }

  // What a serve of node `node` must leave behind once it exited.
  void ExpectCleanedUp(const std::string& node) {
    const std::string prefix = "tributary-" + node;
    EXPECT_EQ(Hugepages("nr_hugepages"), pages_before_) << "hugepages not given back";
    EXPECT_FALSE(fs::exists("/var/run/dpdk/" + prefix)) << "EAL runtime files left";
    EXPECT_FALSE(fs::exists("/run/tributary/" + prefix + ".hugepages"));
    EXPECT_FALSE(Mounted("/run/tributary/hugepages-" + prefix)) << "hugetlbfs left mounted";
  }

  // One round of `clients` clients through serve, checked against the exact average.
  static void ExpectExactRound(ServeProcess& serve, uint64_t job, uint32_t round,
                               std::vector<std::unique_ptr<client::Client>>& clients,
                               std::size_t params) {
    constexpr uint64_t kSeed = 5;
    std::vector<float> update(params);
    std::vector<uint64_t> ids;
    for (uint64_t i = 0; i < clients.size(); ++i) {
      client::SyntheticUpdate(kSeed, i, round, update);
      auto pushed =
          clients[i]->Push(job, round, update, client::SyntheticExamples(kSeed, i, round));
      ASSERT_TRUE(pushed) << pushed.error();
      ids.push_back(i);
    }
    auto model = clients[0]->Pull(job, round, true);
    ASSERT_TRUE(model) << model.error();
    std::vector<double> ref(params, 0.0);
    const double total = client::AccumulateSyntheticAverage(kSeed, ids, round, ref);
    for (double& v : ref) v /= total;
    EXPECT_LE(client::MaxRelativeError(model->values, ref), 1e-5) << "round " << round;
  }

  static std::vector<std::unique_ptr<client::Client>> JoinedClients(ServeProcess& serve,
                                                                    uint64_t job, int n) {
    std::vector<std::unique_ptr<client::Client>> clients;
    for (int i = 0; i < n; ++i) {
      clients.push_back(std::make_unique<client::Client>(
          client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(i)}));
      EXPECT_TRUE(clients.back()->Join(job));
    }
    return clients;
  }

  long pages_before_ = -1;
};

TEST_F(DpdkBackendTest, RoundsRunInHugepagesAndAKilledSecondaryLosesNothing) {
  constexpr std::size_t kParams = 1 << 20;  // 4 MiB updates
  const std::string node = "dpdk-" + std::to_string(getpid());
  {
    ServeProcess serve({"--shm-backend", "dpdk", "--dpdk-memory-mb", "96", "--aggregators", "2",
                        "--node-id", node});
    ASSERT_TRUE(serve.ok());
    EXPECT_GE(Hugepages("nr_hugepages"), pages_before_ + 48) << "96 MiB reserved at start";
    const long free_before_job = Hugepages("free_hugepages");
    const uint64_t job = serve.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/4,
                                         /*shards=*/2);
    ASSERT_NE(job, 0u);
    const v1::JobInfo info = serve.GetJob(job);
    // The pool (its slots of 4 MiB each) is a memzone in the hugepages mapped at the start,
    // which the EAL does not grow: the job took no page of its own.
    EXPECT_EQ(Hugepages("free_hugepages"), free_before_job);
    EXPECT_GE(HugetlbBytes(serve.pid()), info.pool_slots() * (uint64_t(kParams) * 4));

    auto clients = JoinedClients(serve, job, 4);
    const std::vector<pid_t> before = serve.Children();
    ASSERT_EQ(before.size(), 2u);
    std::vector<float> update(kParams);
    constexpr uint64_t kSeed = 5;
    for (uint64_t i = 0; i < 2; ++i) {
      client::SyntheticUpdate(kSeed, i, 1, update);
      ASSERT_TRUE(clients[i]->Push(job, 1, update, client::SyntheticExamples(kSeed, i, 1)));
    }
    ASSERT_EQ(kill(before[0], SIGKILL), 0);  // a secondary, mid-round
    for (uint64_t i = 2; i < 4; ++i) {
      client::SyntheticUpdate(kSeed, i, 1, update);
      ASSERT_TRUE(clients[i]->Push(job, 1, update, client::SyntheticExamples(kSeed, i, 1)));
    }
    auto model = clients[0]->Pull(job, 1, true);
    ASSERT_TRUE(model) << model.error();
    std::vector<double> ref(kParams, 0.0);
    const std::vector<uint64_t> ids = {0, 1, 2, 3};
    const double total = client::AccumulateSyntheticAverage(kSeed, ids, 1, ref);
    for (double& v : ref) v /= total;
    EXPECT_LE(client::MaxRelativeError(model->values, ref), 1e-5);
    // The published model and the round's 3 surviving references aside, every slot is back.
    EXPECT_EQ(serve.GetJob(job).pool_free_slots(), info.pool_slots() - 3);

    // The replacement attached as a secondary: the next round runs on it.
    ExpectExactRound(serve, job, 2, clients, kParams);
    const std::vector<pid_t> after = serve.Children();
    EXPECT_EQ(after.size(), 2u);
    EXPECT_EQ(std::count(after.begin(), after.end(), before[0]), 0);
  }
  ExpectCleanedUp(node);
}

TEST_F(DpdkBackendTest, NextServeCleansThePrefixOfOneThatWasKilled) {
  constexpr std::size_t kParams = 1 << 18;
  const std::string node = "dpdk-stale-" + std::to_string(getpid());
  const std::vector<std::string> args = {"--shm-backend", "dpdk", "--dpdk-memory-mb", "64",
                                         "--aggregators", "1",    "--node-id",        node};
  {
    ServeProcess serve(args);
    ASSERT_TRUE(serve.ok());
    const uint64_t job = serve.CreateJob(kParams, 1, 2);
    ASSERT_NE(job, 0u);
    ASSERT_EQ(kill(serve.pid(), SIGKILL), 0);
    EXPECT_NE(serve.WaitForExit(std::chrono::seconds(10)), -1);
  }
  EXPECT_TRUE(fs::exists("/var/run/dpdk/tributary-" + node)) << "nothing stale to clean";
  {
    ServeProcess serve(args);
    ASSERT_TRUE(serve.ok()) << "serve did not start over the stale prefix";
    const uint64_t job = serve.CreateJob(kParams, 1, 2);
    ASSERT_NE(job, 0u);
    auto clients = JoinedClients(serve, job, 2);
    ExpectExactRound(serve, job, 1, clients, kParams);
  }
  ExpectCleanedUp(node);
}

TEST_F(DpdkBackendTest, WithoutTheHugepagesDpdkRefusesAndAutoFallsBack) {
  // More hugepage memory than the machine has.
  const std::string too_much = std::to_string(std::size_t{1} << 30);  // MiB: 1 PiB
  const std::string node = "dpdk-none-" + std::to_string(getpid());
  std::string output;
  const int status =
      RunTributary({"serve", "--listen", "127.0.0.1:0", "--insecure", "--shm-backend", "dpdk",
                    "--dpdk-memory-mb", too_much, "--aggregators", "1", "--node-id", node},
                   &output);
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("RESOURCE_EXHAUSTED: --shm-backend dpdk: DPDK needs"), std::string::npos)
      << output;
  EXPECT_NE(output.find("hugepages"), std::string::npos) << output;
  EXPECT_EQ(Hugepages("nr_hugepages"), pages_before_);

  ServeProcess serve({"--shm-backend", "auto", "--dpdk-memory-mb", too_much, "--aggregators", "1",
                      "--node-id", node});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(1 << 16, 1, 2);
  ASSERT_NE(job, 0u);
  EXPECT_TRUE(fs::exists(NodeShmDir() + "/tributary-" + node + "-job-" + std::to_string(job)))
      << "auto did not fall back to POSIX shared memory";
  auto clients = JoinedClients(serve, job, 2);
  ExpectExactRound(serve, job, 1, clients, 1 << 16);
  EXPECT_EQ(Hugepages("nr_hugepages"), pages_before_);
}

}  // namespace
}  // namespace tributary::testing
