// The CLI path a user takes: `tributary serve`, `tributary job create`, `tributary sim` with
// 16 clients x 3 rounds x 1M parameters; sim verifies each published model against the exact
// weighted average computed in double precision. Also the operator's watch stream, a job
// of delta updates starting from an initial model given to `job create`, and a pull that
// waited getting the checksum after the model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "clients/cpp/client.h"
#include "tests/integration/push_helpers.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

// Private anonymous memory of process `pid` in KiB (heap and stacks, not the shared pools), or
// 0 when it is gone.
uint64_t AnonymousKib(pid_t pid) {
  std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  uint64_t kib = 0;
  while (rollup >> key) {
    if (key == "Anonymous:" && rollup >> kib) return kib;
    rollup.ignore(1 << 10, '\n');
  }
  return 0;
}

TEST(EndToEndTest, SixteenClientsThreeRoundsOfAMillionParams) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  std::string out;
  ASSERT_EQ(RunTributary({"job", "create", "--server", serve.target(), "--name", "e2e",
                          "--params", "1000000", "--rounds", "3", "--clients-per-round", "16"},
                         &out),
            0)
      << out;
  const uint64_t job = LastLineNumber(out);
  ASSERT_NE(job, 0u) << out;

  // The watch's first line (where the job stands: round 1 open) says it is attached; the
  // clients start then, so it sees every round.
  std::string watch_out;
  std::promise<void> attached;
  std::thread watcher([&] {
    RunTributary({"job", "watch", "--server", serve.target(), "--job", std::to_string(job)},
                 &watch_out, [&] { attached.set_value(); });
  });
  EXPECT_EQ(attached.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "the watch did not attach within 60 s";
  std::string sim_out;
  const int rc = RunTributary({"sim", "--server", serve.target(), "--job", std::to_string(job),
                               "--clients", "16", "--seed", "7"},
                              &sim_out);
  watcher.join();
  EXPECT_EQ(rc, 0) << sim_out;
  EXPECT_NE(sim_out.find("3 rounds verified"), std::string::npos) << sim_out;
  for (int r = 1; r <= 3; ++r) {
    EXPECT_NE(sim_out.find("round " + std::to_string(r) + ": 16 updates accepted"),
              std::string::npos)
        << sim_out;
    EXPECT_NE(watch_out.find("round " + std::to_string(r) + " ROUND_PUBLISHED updates=16"),
              std::string::npos)
        << watch_out;
  }
  EXPECT_NE(watch_out.find("JOB_COMPLETED"), std::string::npos) << watch_out;

  v1::JobInfo info = serve.GetJob(job);
  EXPECT_EQ(info.state(), v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(info.published_version(), 3u);
  // A completed job keeps its final model, and nothing else, in shared memory.
  EXPECT_EQ(info.pool_slots(), 1u);
  client::Client reader({.target = serve.target(), .client_id = "reader", .max_attempts = 1});
  auto final_model = reader.Pull(job, -1, false);
  ASSERT_TRUE(final_model) << final_model.error();
  EXPECT_EQ(final_model->version, 3u);
  EXPECT_EQ(final_model->values.size(), 1000000u);
  auto older = reader.Pull(job, 2, false);
  ASSERT_FALSE(older);
  EXPECT_EQ(older.error().code(), StatusCode::kNotFound);
  // The aggregator processes were told the job ended and unmapped its round pool.
  const std::string round_pool = "-job-" + std::to_string(job) + " (deleted)";
  bool still_mapped = true;
  for (int i = 0; i < 100 && still_mapped; ++i) {
    still_mapped = false;
    for (pid_t child : serve.Children()) {
      std::ifstream maps("/proc/" + std::to_string(child) + "/maps");
      std::string line;
      while (std::getline(maps, line)) still_mapped |= line.find(round_pool) != std::string::npos;
    }
    if (still_mapped) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(still_mapped) << "an aggregator still maps the completed job's round pool";

  out.clear();
  ASSERT_EQ(RunTributary({"job", "list", "--server", serve.target()}, &out), 0);
  EXPECT_NE(out.find("JOB_STATE_COMPLETED"), std::string::npos) << out;
  out.clear();
  EXPECT_NE(RunTributary({"job", "cancel", "--server", serve.target(), "--job",
                          std::to_string(job)},
                         &out),
            0);
  EXPECT_NE(out.find("not running"), std::string::npos) << out;
}

// A pull waiting for a round's model gets the model before the node has hashed it: over gRPC,
// as over the bulk port, a ModelTrailer with the checksum follows the chunks, and the SDK
// checks the model against it.
TEST(EndToEndTest, APullThatWaitedGetsTheChecksumAfterTheModel) {
  constexpr std::size_t kParams = 1u << 20;
  ServeProcess serve({"--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/1);
  client::Client sdk({.target = serve.target(), .client_id = "a", .use_bulk_port = false});
  ASSERT_TRUE(sdk.Join(job));
  auto update = [](uint32_t round) {
    std::vector<float> v(kParams);
    for (std::size_t i = 0; i < kParams; ++i) v[i] = float(i % 977) * 0.01f - float(round);
    return v;
  };

  auto stub = v1::ClientService::NewStub(
      grpc::CreateChannel(serve.target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::PullRequest req;
  req.set_job_id(job);
  req.set_client_id("a");
  req.set_version(1);
  req.set_wait(true);
  auto reader = stub->Pull(&ctx, req);
  ASSERT_TRUE(serve.AwaitMetric("tributary_pulls_streaming", 1));
  const std::vector<float> first = update(1);
  ASSERT_TRUE(sdk.Push(job, 1, first, 3));
  v1::PullMessage msg;
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_TRUE(msg.has_header());
  EXPECT_TRUE(msg.header().checksum_in_trailer());
  EXPECT_EQ(msg.header().checksum(), 0u);
  std::string bytes;
  std::optional<uint64_t> trailer;
  while (reader->Read(&msg)) {
    ASSERT_FALSE(trailer) << "a message after the ModelTrailer";
    if (msg.has_trailer()) {
      trailer = msg.trailer().checksum();
    } else {
      bytes += msg.chunk();
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(bytes.size(), kParams * sizeof(float));
  EXPECT_EQ(std::memcmp(bytes.data(), first.data(), bytes.size()), 0);
  ASSERT_TRUE(trailer);
  EXPECT_EQ(*trailer, Checksum(first));

  // The SDK's own waiting pull over gRPC takes the trailer, and checks the model against it.
  std::vector<float> pulled;
  auto waiting =
      std::async(std::launch::async, [&] { return sdk.PullInto(job, 2, true, &pulled); });
  ASSERT_TRUE(serve.AwaitMetric("tributary_pulls_streaming", 1));
  const std::vector<float> second = update(2);
  ASSERT_TRUE(sdk.Push(job, 2, second, 3));
  auto version = waiting.get();
  ASSERT_TRUE(version) << version.error();
  EXPECT_EQ(*version, 2u);
  EXPECT_EQ(pulled, second);
}

TEST(EndToEndTest, DeadlineClosesARoundWithMinClients) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(1000, /*rounds=*/1, /*clients_per_round=*/5, 0,
                                       /*deadline_s=*/2.0, /*min_clients=*/2);
  ASSERT_NE(job, 0u);
  std::string out;
  // Three clients where five were asked for: the deadline closes the round with three.
  EXPECT_EQ(RunTributary({"sim", "--server", serve.target(), "--job", std::to_string(job),
                          "--clients", "3"},
                         &out),
            0)
      << out;
  EXPECT_NE(out.find("round 1: 3 updates accepted"), std::string::npos) << out;
}

}  // namespace
}  // namespace tributary::testing

namespace tributary::testing {
namespace {

TEST(EndToEndTest, DeltaJobStepsFromTheInitialModelGivenAtCreation) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  std::vector<float> initial(1000);
  for (std::size_t i = 0; i < initial.size(); ++i) initial[i] = 0.5f * float(i % 7);
  const std::string file = WriteNpy(initial);
  std::string out;
  // A file of the wrong size creates nothing.
  EXPECT_NE(RunTributary({"job", "create", "--server", serve.target(), "--name", "bad",
                          "--params", "999", "--rounds", "1", "--clients-per-round", "1",
                          "--initial-model", file},
                         &out),
            0);
  EXPECT_NE(out.find("holds 1000 values; --params is 999"), std::string::npos) << out;
  ASSERT_EQ(RunTributary({"job", "create", "--server", serve.target(), "--name", "delta",
                          "--params", "1000", "--rounds", "1", "--clients-per-round", "2",
                          "--updates", "delta", "--server-lr", "2", "--initial-model", file},
                         &out),
            0)
      << out;
  std::remove(file.c_str());
  const uint64_t job = LastLineNumber(out);
  ASSERT_EQ(job, 1u) << out;  // the refused file made no job

  client::Client a({.target = serve.target(), .client_id = "a"});
  client::Client b({.target = serve.target(), .client_id = "b"});
  auto v0 = a.Pull(job, 0);
  ASSERT_TRUE(v0) << v0.error();
  EXPECT_EQ(v0->values, initial);
  ASSERT_TRUE(a.Join(job));
  ASSERT_TRUE(b.Join(job));
  ASSERT_TRUE(a.Push(job, 1, std::vector<float>(1000, 1.0f), 1));
  ASSERT_TRUE(b.Push(job, 1, std::vector<float>(1000, 4.0f), 3));
  auto v1 = a.Pull(job, 1);
  ASSERT_TRUE(v1) << v1.error();
  for (std::size_t i = 0; i < initial.size(); ++i) {
    ASSERT_FLOAT_EQ(v1->values[i], initial[i] + 2 * (0.25f * 1 + 0.75f * 4)) << i;
  }
}

// FedAvg tasks keep their running sums in the pool: a flat round's in its output slot, a tree
// node's in its partial slot. Two aggregators fold four 32 MiB updates over two shards, flat
// and in a tree of fan-in 2 (two leaves, a top), without a sum buffer of their own, where each
// would otherwise grow by a 16 MiB shard of one per task it serves.
TEST(EndToEndTest, AggregatorsKeepTheirRunningSumsInThePool) {
  constexpr std::size_t kParams = 8u << 20;
  for (uint32_t fan_in : {0u, 2u}) {
    SCOPED_TRACE("fan_in " + std::to_string(fan_in));
    ServeProcess serve({"--aggregators", "2", "--device", "cpu"});
    ASSERT_TRUE(serve.ok());
    v1::JobSpec spec;
    spec.set_params(kParams);
    spec.set_rounds(2);
    spec.set_clients_per_round(4);
    spec.set_shards(2);
    spec.set_fan_in(fan_in);
    const uint64_t job = serve.CreateJob(spec);
    ASSERT_NE(job, 0u);
    std::map<pid_t, uint64_t> before;
    for (pid_t p : serve.Children()) before[p] = AnonymousKib(p);
    ASSERT_EQ(before.size(), 2u);

    std::vector<std::unique_ptr<client::Client>> clients;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(std::make_unique<client::Client>(
          client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(i)}));
      ASSERT_TRUE(clients.back()->Join(job));
      const std::vector<float> update(kParams, float(i + 1));
      auto pushed = clients.back()->Push(job, 1, update, /*num_examples=*/i + 1);
      ASSERT_TRUE(pushed) << pushed.error();
    }
    auto model = clients[0]->Pull(job, 1, true);
    ASSERT_TRUE(model) << model.error();
    for (float v : model->values) ASSERT_FLOAT_EQ(v, 3.0f);  // (1·1 + 2·2 + 3·3 + 4·4) / 10

    // Measured while the job runs on (its rules, and any buffer of theirs, are kept until it
    // ends).
    for (const auto& [pid, kib] : before) {
      const uint64_t now = AnonymousKib(pid);
      ASSERT_NE(now, 0u) << "aggregator " << pid << " is gone";
      EXPECT_LT(now, kib + 4096) << "aggregator " << pid << " grew from " << kib << " to " << now
                                 << " KiB of private memory";
    }
  }
}

}  // namespace
}  // namespace tributary::testing
