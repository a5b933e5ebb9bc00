// CreateRule and the AggregationRule wrappers: names, option checking, the call protocol,
// FedAvg's weights, and centered clipping's state across rounds.
#include "robust/rule_factory.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "robust/centered_clipping.h"
#include "tests/robust/test_util.h"

namespace tributary::robust {
namespace {

TEST(RobustRuleFactory, CreatesEveryNamedRule) {
  EXPECT_EQ(RuleNames().size(), 11u);
  for (std::string_view name : RuleNames()) {
    ASSERT_OK_AND_ASSIGN(auto rule, CreateRule(name, {}));
    EXPECT_EQ(rule->Name(), name);
    EXPECT_EQ(rule->IsAssociative(), name == "fedavg");
  }
}

TEST(RobustRuleFactory, UnknownRuleListsTheKnownOnes) {
  const auto r = CreateRule("krumm", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("unknown rule 'krumm'"), std::string::npos);
  EXPECT_NE(r.error().message().find("multikrum"), std::string::npos);
}

TEST(RobustRuleFactory, RejectsParametersTheRuleDoesNotUse) {
  struct Case {
    std::string_view rule;
    RuleOptions options;
    std::string message;
  };
  const Case cases[] = {
      {"median", {.f = 1}, "rule 'median' does not use parameter 'f' (it uses: none)"},
      {"krum", {.m = 2}, "rule 'krum' does not use parameter 'm' (it uses: f)"},
      {"flag", {.f = 1}, "rule 'flag' does not use parameter 'f' (it uses: m, lambda, iters"},
      {"multikrum", {.lambda = 1.0}, "does not use parameter 'lambda'"},
      {"fedavg", {.iters = 3}, "does not use parameter 'iters'"},
      {"geomed", {.tau = 3}, "does not use parameter 'tau'"},
      {"normclip", {.nu = 3}, "does not use parameter 'nu'"},
  };
  for (const Case& c : cases) {
    const auto r = CreateRule(c.rule, c.options);
    ASSERT_FALSE(r.has_value()) << c.rule;
    EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error();
  }
  EXPECT_TRUE(CreateRule("multikrum", {.f = 1, .m = 2}).has_value());
  EXPECT_TRUE(CreateRule("normclip", {.clip_norm = 2.0}).has_value());
}

TEST(RobustRuleFactory, RejectsOutOfRangeValues) {
  EXPECT_FALSE(CreateRule("krum", {.f = -1}).has_value());
  EXPECT_FALSE(CreateRule("flag", {.m = 0}).has_value());
  EXPECT_FALSE(CreateRule("flag", {.lambda = -1.0}).has_value());
  EXPECT_FALSE(CreateRule("geomed", {.iters = 0}).has_value());
  EXPECT_FALSE(CreateRule("geomed", {.nu = 0.0}).has_value());
  EXPECT_FALSE(CreateRule("cclip", {.tau = -2.0}).has_value());
  EXPECT_FALSE(CreateRule("normclip", {.clip_norm = 0.0}).has_value());
  EXPECT_FALSE(CreateRule("flag", {.tolerance = -1.0}).has_value());
}

TEST(RobustRuleFactory, CallProtocolErrors) {
  ASSERT_OK_AND_ASSIGN(auto rule, CreateRule("median", {}));
  const std::vector<float> x = {1, 2, 3};
  EXPECT_EQ(rule->Add(x, 1.0).code(), StatusCode::kFailedPrecondition);  // before Begin
  ASSERT_TRUE(rule->Begin({.round = 1, .dim = 3}).ok());
  EXPECT_EQ(rule->Add(std::vector<float>{1, 2}, 1.0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rule->Add(x, 0.0).code(), StatusCode::kInvalidArgument);
  std::vector<float> out(3);
  EXPECT_FALSE(rule->Finish(out).ok());  // no updates
  ASSERT_TRUE(rule->Begin({.round = 2, .dim = 3}).ok());
  ASSERT_TRUE(rule->Add(x, 1.0).ok());
  ASSERT_TRUE(rule->Finish(out).ok());
  EXPECT_EQ(out, x);
  EXPECT_FALSE(rule->Finish(out).ok());  // the round is over
}

TEST(RobustRuleFactory, FedAvgWeighsUpdates) {
  ASSERT_OK_AND_ASSIGN(auto out, testing::RunRule("fedavg", {}, testing::FromRows({{1}, {4}}),
                                                  {3.0, 1.0}));
  EXPECT_EQ(out, std::vector<double>{1.75});
  // Robust rules treat updates alike whatever their weights.
  ASSERT_OK_AND_ASSIGN(auto median, testing::RunRule("median", {}, testing::FromRows({{1}, {4}}),
                                                     {3.0, 1.0}));
  EXPECT_EQ(median, std::vector<double>{2.5});
}

TEST(RobustRuleFactory, CenteredClippingStartsFromThePreviousAggregate) {
  const testing::Updates u = testing::Gaussian(5, 8, 3, 10.0);
  ASSERT_OK_AND_ASSIGN(auto rule, CreateRule("cclip", {.iters = 1, .tau = 1.0}));
  std::vector<std::vector<double>> rounds;
  for (uint64_t round = 1; round <= 2; ++round) {
    ASSERT_TRUE(rule->Begin({.round = round, .dim = 8}).ok());
    for (const auto& row : u.rows) ASSERT_TRUE(rule->Add(row, 1.0).ok());
    rounds.emplace_back(8);
    ASSERT_TRUE(rule->FinishDouble(rounds.back()).ok());
  }
  const auto views = u.Views();
  std::vector<double> want(8);
  const CenteredClippingParams params{.tau = 1.0, .iters = 1};
  ASSERT_TRUE(CenteredClipping(views, {}, params, want).ok());
  EXPECT_LT(testing::RelativeError(rounds[0], want), 1e-12);
  const std::vector<double> first = want;
  ASSERT_TRUE(CenteredClipping(views, first, params, want).ok());
  EXPECT_LT(testing::RelativeError(rounds[1], want), 1e-12);
  EXPECT_GT(testing::RelativeError(rounds[1], rounds[0]), 1e-3);  // it moved on
  ASSERT_TRUE(rule->Begin({.round = 3, .dim = 4}).ok());
  ASSERT_TRUE(rule->Add(std::vector<float>{1, 2, 3, 4}, 1.0).ok());
  std::vector<double> out(4);
  EXPECT_FALSE(rule->FinishDouble(out).ok());  // the dimension changed
}

TEST(RobustRuleFactory, NormClippingStaticAndMedian) {
  const testing::Updates u = testing::FromRows({{3, 4}, {0, 1}, {0, 10}});  // norms 5, 1, 10
  ASSERT_OK_AND_ASSIGN(auto median, testing::RunRule("normclip", {}, u));
  // Clipped to 5: {3,4}, {0,1}, {0,5}.
  EXPECT_LT(testing::RelativeError(median, {1.0, 10.0 / 3}), 1e-15);
  ASSERT_OK_AND_ASSIGN(auto fixed, testing::RunRule("normclip", {.clip_norm = 1.0}, u));
  EXPECT_LT(testing::RelativeError(fixed, {0.6 / 3, (0.8 + 1 + 1) / 3}), 1e-15);
  ASSERT_OK_AND_ASSIGN(auto normalized, testing::RunRule("normalized-mean", {}, u));
  EXPECT_LT(testing::RelativeError(normalized, {0.6 / 3, (0.8 + 1 + 1) / 3}), 1e-15);
}

}  // namespace
}  // namespace tributary::robust
