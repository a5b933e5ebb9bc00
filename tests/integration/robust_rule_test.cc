// Robust rules run by the platform: the aggregator processes apply them to the updates in
// shared memory, and a Byzantine client cannot drag the published model away.
#include <gtest/gtest.h>

#include "clients/cpp/client.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

constexpr std::size_t kParams = 40000;
constexpr uint32_t kClients = 7;

uint64_t CreateJob(ServeProcess& serve, const std::string& rule,
                   std::map<std::string, double> params, grpc::Status* status) {
  v1::JobSpec spec;
  spec.set_name(rule);
  spec.set_params(kParams);
  spec.set_rounds(1);
  spec.set_clients_per_round(kClients);
  spec.set_rule(rule);
  for (auto& [k, v] : params) (*spec.mutable_rule_params())[k] = v;
  grpc::ClientContext ctx;
  v1::JobInfo info;
  *status = serve.op().CreateJob(&ctx, spec, &info);
  return info.job_id();
}

// Six honest clients send values near 1; client 6 sends 1e6 everywhere.
std::vector<float> Update(uint32_t client) {
  std::vector<float> v(kParams);
  for (std::size_t i = 0; i < kParams; ++i) {
    v[i] = client == kClients - 1 ? 1e6f : 1.0f + 0.01f * float((client * 7 + i) % 5);
  }
  return v;
}

std::vector<float> RunRound(ServeProcess& serve, uint64_t job) {
  std::vector<std::unique_ptr<client::Client>> clients;
  for (uint32_t c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(c)}));
    EXPECT_TRUE(clients.back()->Join(job));
    EXPECT_TRUE(clients.back()->Push(job, 1, Update(c), 10 + c));
  }
  auto model = clients[0]->Pull(job, 1, true);
  EXPECT_TRUE(model) << model.error();
  return model ? model->values : std::vector<float>{};
}

TEST(RobustRuleTest, MedianAndKrumIgnoreTheAttacker) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  grpc::Status st;
  const uint64_t median = CreateJob(serve, "median", {}, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  const uint64_t krum = CreateJob(serve, "krum", {{"f", 1}}, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  const uint64_t fedavg = CreateJob(serve, "fedavg", {}, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();

  const auto med = RunRound(serve, median);
  const auto kr = RunRound(serve, krum);
  const auto avg = RunRound(serve, fedavg);
  ASSERT_EQ(med.size(), kParams);
  ASSERT_EQ(kr.size(), kParams);
  ASSERT_EQ(avg.size(), kParams);
  std::vector<std::vector<float>> updates;
  for (uint32_t c = 0; c < kClients; ++c) updates.push_back(Update(c));
  for (std::size_t i = 0; i < kParams; ++i) {
    // The median of the 7 values of coordinate i, computed here.
    std::vector<float> col;
    for (const auto& u : updates) col.push_back(u[i]);
    std::nth_element(col.begin(), col.begin() + 3, col.end());
    ASSERT_FLOAT_EQ(med[i], col[3]) << i;
    ASSERT_LT(kr[i], 1.05f) << i;  // Krum picked an honest update
    ASSERT_GT(kr[i], 0.99f) << i;
  }
  EXPECT_GT(avg[0], 1e4f);  // the plain mean is dragged away: the test discriminates
}

TEST(RobustRuleTest, RuleParametersAndPreconditionsAreChecked) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  grpc::Status st;
  CreateJob(serve, "krum", {{"f", 3}}, &st);  // 7 < 2*3 + 3
  EXPECT_EQ(st.error_code(), grpc::INVALID_ARGUMENT);
  CreateJob(serve, "median", {{"f", 1}}, &st);  // median takes no f
  EXPECT_EQ(st.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("does not take"), std::string::npos) << st.error_message();
  CreateJob(serve, "fedavg", {{"m", 2}}, &st);
  EXPECT_EQ(st.error_code(), grpc::INVALID_ARGUMENT);
  CreateJob(serve, "krum", {{"f", 0.5}}, &st);
  EXPECT_EQ(st.error_code(), grpc::INVALID_ARGUMENT);
}

// `tributary sim` checks each round against what the job's rule must publish for the updates
// it accepted: robust rules rerun on the CPU, delta jobs stepped from the model before the
// round. A sim started after round 1 pulls that model first; cclip's centre (the aggregate of
// a round it did not see) it cannot know, and says so instead of failing.
TEST(RobustRuleTest, SimVerifiesRobustRulesAndDeltaJobs) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  const std::vector<std::vector<std::string>> rules = {
      {"--rule", "median"},
      {"--rule", "krum", "--f", "1"},
      {"--rule", "trimmed-mean", "--f", "1", "--updates", "delta", "--server-lr", "0.5"},
      {"--updates", "delta", "--server-lr", "0.5"},
      {"--rule", "cclip"}};
  for (const auto& rule : rules) {
    std::vector<std::string> create = {
        "job",   "create",   "--server", serve.target(),        "--name", "sim", "--params",
        "30000", "--rounds", "3",        "--clients-per-round", "5"};
    create.insert(create.end(), rule.begin(), rule.end());
    std::string out;
    ASSERT_EQ(RunTributary(create, &out), 0) << out;
    const std::string job = std::to_string(LastLineNumber(out));
    ASSERT_NE(job, "0") << out;
    const bool cclip = rule[1] == "cclip";
    SCOPED_TRACE(rule[1]);

    // Five simulated clients on the job, with `more` arguments; sim must succeed.
    auto sim = [&](std::vector<std::string> more) {
      std::vector<std::string> args = {"sim",       "--server", serve.target(), "--job", job,
                                       "--clients", "5"};
      args.insert(args.end(), more.begin(), more.end());
      std::string out;
      EXPECT_EQ(RunTributary(args, &out), 0) << out;
      return out;
    };
    const std::string first = sim({"--rounds", "1"});
    EXPECT_NE(first.find("round 1: 5 updates accepted"), std::string::npos) << first;
    EXPECT_NE(first.find("1 rounds verified"), std::string::npos) << first;

    const std::string rest = sim({"--seed", "2"});
    EXPECT_NE(rest.find("round 3: 5 updates accepted"), std::string::npos) << rest;
    if (cclip) {
      EXPECT_NE(rest.find("not verified: rule cclip starts from the aggregate of round 1"),
                std::string::npos)
          << rest;
      EXPECT_NE(rest.find("2 rounds run"), std::string::npos) << rest;
    } else {
      EXPECT_NE(rest.find("2 rounds verified"), std::string::npos) << rest;
    }
  }
}

}  // namespace
}  // namespace tributary::testing
