// Hierarchical aggregation on one node: a fedavg job with a fan-in aggregates each round in a
// tree (leaves fold the updates, middles the partials, the top publishes), the autoscaler
// grows the pool of aggregator processes with the arrival rate and the idle node scales it
// back to zero, and instances are reused across levels instead of new ones being started.
// The published models are checked against the exact weighted average by `tributary sim`.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <regex>
#include <thread>

#include "clients/cpp/client.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

bool AwaitChildren(ServeProcess& serve, std::size_t n) {
  for (int i = 0; i < 500; ++i) {
    if (serve.Children().size() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

uint64_t CreateTreeJob(ServeProcess& serve, uint64_t params, uint32_t rounds, uint32_t clients,
                       uint32_t fan_in, grpc::Status* status = nullptr,
                       const std::string& rule = "fedavg") {
  v1::JobSpec spec;
  spec.set_name("tree");
  spec.set_params(params);
  spec.set_rounds(rounds);
  spec.set_clients_per_round(clients);
  spec.set_fan_in(fan_in);
  spec.set_rule(rule);
  grpc::ClientContext ctx;
  v1::JobInfo info;
  grpc::Status s = serve.op().CreateJob(&ctx, spec, &info);
  if (status) *status = s;
  return s.ok() ? info.job_id() : 0;
}

TEST(AggregationTreeTest, TwoHundredClientsAggregateInAnAutoscaledTreeOfFanInFour) {
  // One process folds 100 descriptors a second (as far as the autoscaler is told): 200
  // clients pushing at once need all four.
  ServeProcess serve({"--aggregators", "4", "--autoscale", "--instance-service-rate", "100",
                      "--scale-to-zero-after-s", "1", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(serve.ok());
  constexpr uint32_t kRounds = 2, kClients = 200;
  const uint64_t job = CreateTreeJob(serve, 4096, kRounds, kClients, 4);
  ASSERT_NE(job, 0u);

  // Round events (the tree's shape) and the live process count, while sim runs.
  std::vector<std::vector<uint32_t>> shapes;
  std::thread watcher([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    v1::JobRef ref;
    ref.set_job_id(job);
    auto reader = serve.op().WatchJob(&ctx, ref);
    for (v1::RoundEvent e; reader->Read(&e);) {
      if (e.kind() == v1::RoundEvent::ROUND_PUBLISHED) {
        shapes.emplace_back(e.tree_nodes().begin(), e.tree_nodes().end());
      }
    }
  });
  std::string out;
  const int rc = RunTributary({"sim", "--server", serve.target(), "--job", std::to_string(job),
                               "--clients", std::to_string(kClients)},
                              &out);
  watcher.join();
  ASSERT_EQ(rc, 0) << out;  // every published model is the exact weighted average
  EXPECT_NE(out.find(std::to_string(kRounds) + " rounds verified"), std::string::npos) << out;

  // 200 updates, fan-in 4: 50 leaves, 13 middles, 4 above them, one top.
  ASSERT_EQ(shapes.size(), kRounds);
  for (const auto& shape : shapes) EXPECT_EQ(shape, (std::vector<uint32_t>{50, 13, 4, 1}));

  const std::string metrics = serve.Metrics();
  EXPECT_GT(MetricValue(metrics, "tributary_aggregator_arrival_rate"), 0);
  EXPECT_EQ(MetricValue(metrics, "tributary_aggregator_service_rate"), 100);
  // 136 tree nodes ran on a handful of processes: leaves' instances took the middles and tops.
  EXPECT_GT(MetricValue(metrics, "tributary_aggregator_instances_promoted_total"), 0);
  std::smatch started;
  ASSERT_TRUE(std::regex_search(
      metrics, started, std::regex("\ntributary_aggregator_processes_started_total ([0-9]+)\n")))
      << metrics;
  // The pool grew with the arrival rate from the one process it started with (counted when
  // started: a round may end before a new process is ready, and the pool shrinks again).
  EXPECT_GE(std::stoi(started[1]), 2) << "the autoscaler never added a process";
  EXPECT_LE(std::stoi(started[1]), 2 * 4) << "processes were started instead of reused";

  // Idle after the job: the pool goes back to zero.
  EXPECT_TRUE(AwaitChildren(serve, 0)) << serve.Children().size() << " processes still run";
  EXPECT_EQ(MetricValue(serve.Metrics(), "tributary_aggregators_scaled_to_zero"), 1);
}

TEST(AggregationTreeTest, TreeRoundSurvivesItsAggregatorsKilledMidRound) {
  ServeProcess serve({"--aggregators", "2"});
  ASSERT_TRUE(serve.ok());
  constexpr std::size_t kParams = 1 << 14;
  constexpr int kClients = 8;
  const uint64_t job = CreateTreeJob(serve, kParams, 1, kClients, 2);
  ASSERT_NE(job, 0u);
  std::vector<std::unique_ptr<client::Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(i)}));
    ASSERT_TRUE(clients.back()->Join(job));
  }
  auto push = [&](int i) {
    auto pushed = clients[i]->Push(job, 1, std::vector<float>(kParams, float(i)), uint64_t(i) + 1);
    EXPECT_TRUE(pushed) << pushed.error();
  };
  for (int i = 0; i < kClients / 2; ++i) push(i);
  // Leaves and a middle are flushed or folding: every aggregator process dies.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto victims = serve.Children();
  ASSERT_EQ(victims.size(), 2u);
  for (pid_t p : victims) kill(p, SIGKILL);
  for (int i = kClients / 2; i < kClients; ++i) push(i);
  auto model = clients[0]->Pull(job, 1, /*wait=*/true);
  ASSERT_TRUE(model) << model.error();
  // Σ i (i + 1) / Σ (i + 1) over i < 8 = 168 / 36.
  double worst = 0;
  for (float v : model->values) worst = std::max(worst, std::abs(double(v) - 168.0 / 36));
  EXPECT_LE(worst, 1e-5);
}

TEST(AggregationTreeTest, FanInIsRefusedWhereATreeWouldChangeTheResult) {
  ServeProcess serve({"--aggregators", "1"});
  ASSERT_TRUE(serve.ok());
  grpc::Status s;
  EXPECT_EQ(CreateTreeJob(serve, 64, 1, 8, 1, &s), 0u);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("fan_in must be >= 2"), std::string::npos) << s.error_message();
  EXPECT_EQ(CreateTreeJob(serve, 64, 1, 8, 4, &s, "median"), 0u);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("fan_in applies to fedavg jobs"), std::string::npos)
      << s.error_message();
}

}  // namespace
}  // namespace tributary::testing
