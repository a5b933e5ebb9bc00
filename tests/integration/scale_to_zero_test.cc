// Scale to zero: with --scale-to-zero-after-s, a node whose jobs have no aggregation work (no
// update accepted or streaming, no round aggregating) stops its aggregator processes, and the
// next push starts them again while its update streams in. The round still publishes the exact
// average: the updates that arrived before the processes were back are replayed to them. The
// time of a round that starts cold and of one that starts warm are printed, not asserted.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <thread>

#include "clients/cpp/client.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

constexpr std::size_t kParams = 1 << 16;

TEST(ScaleToZeroTest, IdleNodeStopsItsAggregatorsAndTheNextPushStartsThem) {
  ServeProcess serve({"--aggregators", "2", "--scale-to-zero-after-s", "0.3",
                      "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(serve.ok());
  auto await_children = [&](std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      if (serve.Children().size() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/2,
                                       /*shards=*/2);
  ASSERT_NE(job, 0u);
  // The open round waits for updates: nothing to aggregate, so the processes go.
  ASSERT_TRUE(await_children(0)) << serve.Children().size() << " aggregators still run";
  EXPECT_NE(serve.Metrics().find("\ntributary_aggregators_scaled_to_zero 1\n"), std::string::npos);

  std::vector<std::unique_ptr<client::Client>> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(i)}));
    ASSERT_TRUE(clients.back()->Join(job));
  }
  auto run_round = [&](uint32_t round) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 2; ++i) {
      auto pushed = clients[i]->Push(job, round, std::vector<float>(kParams, float(i * 2 + round)),
                                     uint64_t(i) + 1);
      EXPECT_TRUE(pushed) << pushed.error();
    }
    auto model = clients[0]->Pull(job, round, /*wait=*/true);
    EXPECT_TRUE(model) << model.error();
    // (1 * round + 2 * (2 + round)) / 3
    double worst = model ? 0 : 1;
    for (std::size_t k = 0; model && k < kParams; ++k) {
      worst = std::max(worst, std::abs(model->values[k] - (3.0 * round + 4) / 3));
    }
    EXPECT_LE(worst, 1e-6) << "round " << round;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const double cold = run_round(1);  // the first push starts the processes again
  EXPECT_EQ(serve.Children().size(), 2u);
  const double warm = run_round(2);
  std::cout << "round from zero aggregator processes: " << cold << " s; with them warm: " << warm
            << " s\n";
  // The job is done: idle again, down to zero again.
  ASSERT_TRUE(await_children(0));
  EXPECT_EQ(serve.GetJob(job).state(), v1::JOB_STATE_COMPLETED);
}

}  // namespace
}  // namespace tributary::testing
