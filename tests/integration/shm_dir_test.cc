// Where serve keeps its job pools: by default in the tmpfs with 2 MiB pages, mapped so by the
// gateway and by the aggregator processes; in the directory --shm-dir names; and never in a
// directory that is not one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "shm/huge_tmpfs.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kParams = 1 << 21;  // 8 MiB updates

// One round of two clients, checked against the exact weighted average.
void RunExactRound(ServeProcess& serve, uint64_t job) {
  constexpr uint64_t kSeed = 11;
  std::vector<float> update(kParams);
  std::vector<uint64_t> ids;
  std::vector<std::unique_ptr<client::Client>> clients;
  for (uint64_t i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(i)}));
    ASSERT_TRUE(clients.back()->Join(job));
    client::SyntheticUpdate(kSeed, i, 1, update);
    auto pushed = clients.back()->Push(job, 1, update, client::SyntheticExamples(kSeed, i, 1));
    ASSERT_TRUE(pushed) << pushed.error();
    ids.push_back(i);
  }
  auto model = clients[0]->Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  std::vector<double> ref(kParams, 0.0);
  const double total = client::AccumulateSyntheticAverage(kSeed, ids, 1, ref);
  for (double& v : ref) v /= total;
  EXPECT_LE(client::MaxRelativeError(model->values, ref), 1e-5);
}

TEST(ShmDirTest, PoolsAreIn2MiBPagesForTheGatewayAndTheAggregators) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting the tmpfs with huge pages needs root";
  if (auto dir = shm::PrepareHugeTmpfs(); !dir) {
    GTEST_SKIP() << "no tmpfs with huge pages here: " << dir.error();
  }
  const std::string node = "huge-" + std::to_string(getpid());
  ServeProcess serve({"--node-id", node, "--aggregators", "1"});
  ASSERT_TRUE(serve.ok());
  // Two rounds: the pool stays while the second is open.
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/2);
  ASSERT_NE(job, 0u);
  const std::string pool =
      std::string(shm::kHugeTmpfsDir) + "/tributary-" + node + "-job-" + std::to_string(job);
  ASSERT_TRUE(fs::exists(pool)) << pool;
  EXPECT_FALSE(fs::exists("/dev/shm/tributary-" + node + "-job-" + std::to_string(job)));
  ASSERT_NO_FATAL_FAILURE(RunExactRound(serve, job));
  EXPECT_GE(shm::HugeMappedBytes(pool, serve.pid()), 8u << 20) << "the gateway's mapping";
  const std::vector<pid_t> aggregators = serve.Children();
  ASSERT_EQ(aggregators.size(), 1u);
  EXPECT_GE(shm::HugeMappedBytes(pool, aggregators[0]), 8u << 20) << "the aggregator's mapping";
}

TEST(ShmDirTest, ShmDirNamesWherePoolsLive) {
  const std::string dir = "/dev/shm/tributary-test-dir-" + std::to_string(getpid());
  fs::create_directories(dir);
  const std::string node = "dir-" + std::to_string(getpid());
  {
    ServeProcess serve({"--node-id", node, "--aggregators", "1", "--shm-dir", dir});
    ASSERT_TRUE(serve.ok());
    const uint64_t job = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/2);
    ASSERT_NE(job, 0u);
    EXPECT_TRUE(fs::exists(dir + "/tributary-" + node + "-job-" + std::to_string(job)));
    ASSERT_NO_FATAL_FAILURE(RunExactRound(serve, job));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);

  std::string output;
  const int status = RunTributary({"serve", "--listen", "127.0.0.1:0", "--insecure", "--shm-dir",
                                   dir + "/absent", "--node-id", node},
                                  &output);
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("--shm-dir " + dir + "/absent is not a directory"), std::string::npos)
      << output;
}

}  // namespace
}  // namespace tributary::testing
