// User rules run by the platform: a C ABI plug-in loaded with `serve --rule-plugin` aggregates
// a job's rounds inside the aggregator processes; its errors reach the job's state with their
// text, and a plug-in that crashes fails only its own job while another job goes on.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "clients/cpp/client.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

constexpr std::size_t kParams = 1000;

uint64_t CreateJob(ServeProcess& serve, const std::string& rule,
                   std::map<std::string, double> params, uint32_t clients) {
  v1::JobSpec spec;
  spec.set_name(rule);
  spec.set_params(kParams);
  spec.set_rounds(1);
  spec.set_clients_per_round(clients);
  spec.set_rule(rule);
  for (auto& [k, v] : params) (*spec.mutable_rule_params())[k] = v;
  grpc::ClientContext ctx;
  v1::JobInfo info;
  grpc::Status st = serve.op().CreateJob(&ctx, spec, &info);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return info.job_id();
}

std::vector<float> Filled(float value) { return std::vector<float>(kParams, value); }

void PushAll(ServeProcess& serve, uint64_t job, const std::vector<std::vector<float>>& updates) {
  for (std::size_t c = 0; c < updates.size(); ++c) {
    client::Client cl({.target = serve.target(), .client_id = "c" + std::to_string(c)});
    ASSERT_TRUE(cl.Join(job));
    auto r = cl.Push(job, 1, updates[c], 10);
    ASSERT_TRUE(r) << r.error();
  }
}

// Waits until `job` leaves RUNNING (or 60 s pass).
v1::JobInfo AwaitEnd(ServeProcess& serve, uint64_t job) {
  v1::JobInfo info;
  for (int i = 0; i < 600; ++i) {
    info = serve.GetJob(job);
    if (info.state() != v1::JOB_STATE_RUNNING) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return info;
}

TEST(RulePluginTest, APluginAggregatesTheRound) {
  ServeProcess serve({"--rule-plugin", TRIBUTARY_EXAMPLE_PLUGIN});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = CreateJob(serve, "plugin:norm-clipped-mean", {{"clip", 5}}, 3);
  // Norms: 0.1*sqrt(1000) = 3.16 and 6.3 (clipped to 5), and 1e3*sqrt(1000) (clipped to 5).
  PushAll(serve, job, {Filled(0.1f), Filled(0.2f), Filled(1000.f)});
  client::Client cl({.target = serve.target(), .client_id = "reader"});
  auto model = cl.Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  const double per_coordinate = 5.0 / std::sqrt(double(kParams));
  const double expected = (0.1 + per_coordinate + per_coordinate) / 3;
  for (float v : model->values) ASSERT_NEAR(v, expected, 1e-6);
  EXPECT_LT(model->values[0], 1.0f);  // a plain mean would be above 333
}

TEST(RulePluginTest, AnUnknownPluginIsRefusedAtCreation) {
  ServeProcess serve({"--rule-plugin", TRIBUTARY_EXAMPLE_PLUGIN});
  ASSERT_TRUE(serve.ok());
  v1::JobSpec spec;
  spec.set_name("x");
  spec.set_params(10);
  spec.set_rounds(1);
  spec.set_clients_per_round(1);
  spec.set_rule("plugin:absent");
  grpc::ClientContext ctx;
  v1::JobInfo info;
  grpc::Status st = serve.op().CreateJob(&ctx, spec, &info);
  EXPECT_EQ(st.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("loaded: norm-clipped-mean"), std::string::npos)
      << st.error_message();
}

TEST(RulePluginTest, PluginErrorsFailTheJobWithTheirText) {
  ServeProcess serve({"--rule-plugin", TRIBUTARY_EXAMPLE_PLUGIN, "--rule-plugin",
                      TRIBUTARY_FAULTY_PLUGIN});
  ASSERT_TRUE(serve.ok());
  const uint64_t failing = CreateJob(serve, "plugin:faulty", {{"fail_finish", 1}}, 2);
  PushAll(serve, failing, {Filled(1), Filled(2)});
  v1::JobInfo info = AwaitEnd(serve, failing);
  EXPECT_EQ(info.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(info.message().find("plugin:faulty finish: asked to fail in round 1"),
            std::string::npos)
      << info.message();

  // A parameter the plug-in refuses surfaces when the aggregator creates the rule.
  const uint64_t bad = CreateJob(serve, "plugin:norm-clipped-mean", {{"clip", -1}}, 1);
  PushAll(serve, bad, {Filled(1)});
  info = AwaitEnd(serve, bad);
  EXPECT_EQ(info.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(info.message().find("takes one parameter, clip > 0"), std::string::npos)
      << info.message();
}

TEST(RulePluginTest, ACrashingPluginFailsOnlyItsJob) {
  ServeProcess serve({"--rule-plugin", TRIBUTARY_FAULTY_PLUGIN, "--aggregators", "2"});
  ASSERT_TRUE(serve.ok());
  const uint64_t crashing = CreateJob(serve, "plugin:faulty", {{"crash_round", 1}}, 2);
  const uint64_t healthy = CreateJob(serve, "fedavg", {}, 2);
  PushAll(serve, crashing, {Filled(1)});  // folded at once: the plug-in crashes, twice
  v1::JobInfo info = AwaitEnd(serve, crashing);
  EXPECT_EQ(info.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(info.message().find("died 2 times (last killed by signal 11"), std::string::npos)
      << info.message();

  // The platform still serves: the other job's round completes exactly.
  PushAll(serve, healthy, {Filled(1), Filled(3)});
  client::Client cl({.target = serve.target(), .client_id = "reader"});
  auto model = cl.Pull(healthy, 1, true);
  ASSERT_TRUE(model) << model.error();
  for (float v : model->values) ASSERT_FLOAT_EQ(v, 2.0f);
  EXPECT_EQ(AwaitEnd(serve, healthy).state(), v1::JOB_STATE_COMPLETED);
}

}  // namespace
}  // namespace tributary::testing
