// Properties every rule of the factory must have: identical inputs give that input (Flag:
// (p/m)·x̂, normalized-mean: x̂), invariance to input order, translation equivariance where the
// rule has it, and refused preconditions.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "robust/bulyan.h"
#include "robust/flag_aggregator.h"
#include "robust/gram.h"
#include "tests/robust/test_util.h"

namespace tributary::robust {
namespace {

using testing::RelativeError;
using testing::RunRule;
using testing::Updates;

// Options that make every rule well defined on 9 updates.
RuleOptions OptionsFor(std::string_view rule) {
  if (rule == "krum" || rule == "multikrum" || rule == "bulyan" || rule == "trimmed-mean") {
    return {.f = 1};
  }
  if (rule == "geomed") return {.iters = 2000, .tolerance = 0.0};
  return {};
}

class RobustRuleProperties : public ::testing::TestWithParam<std::string_view> {};

TEST_P(RobustRuleProperties, IdenticalInputsGiveThatInput) {
  const std::string_view rule = GetParam();
  const std::vector<double> x = {0.5, -1.25, 2.0, 0.0, 3.0};  // norm < cclip's τ = 10
  Updates u;
  for (int i = 0; i < 9; ++i) u.rows.emplace_back(x.begin(), x.end());
  ASSERT_OK_AND_ASSIGN(std::vector<double> out, RunRule(rule, OptionsFor(rule), u));
  std::vector<double> want = x;
  const double norm = testing::Norm(x);
  if (rule == "flag") {  // (p/m)·x̂ with the default m = 8 for p = 9
    ASSERT_EQ(FlagDefaultM(9), 8u);
    for (double& v : want) v *= 9.0 / 8.0 / norm;
  }
  if (rule == "normalized-mean") {
    for (double& v : want) v /= norm;
  }
  EXPECT_LT(RelativeError(out, want), 1e-12) << rule;
}

TEST_P(RobustRuleProperties, InvariantToInputOrder) {
  const std::string_view rule = GetParam();
  const Updates u = testing::Gaussian(9, 16, 11);
  Updates shuffled = u;
  std::mt19937 rng(5);
  std::shuffle(shuffled.rows.begin(), shuffled.rows.end(), rng);
  ASSERT_NE(shuffled.rows, u.rows);
  ASSERT_OK_AND_ASSIGN(std::vector<double> a, RunRule(rule, OptionsFor(rule), u));
  ASSERT_OK_AND_ASSIGN(std::vector<double> b, RunRule(rule, OptionsFor(rule), shuffled));
  EXPECT_LT(RelativeError(a, b), 1e-10) << rule;
}

INSTANTIATE_TEST_SUITE_P(All, RobustRuleProperties, ::testing::ValuesIn(RuleNames()),
                         [](const auto& info) {
                           std::string name(info.param);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

class RobustTranslationEquivariance : public ::testing::TestWithParam<std::string_view> {};

TEST_P(RobustTranslationEquivariance, ShiftingEveryInputShiftsTheOutput) {
  const std::string_view rule = GetParam();
  const Updates u = testing::Gaussian(9, 16, 3);
  const Updates shift = testing::Gaussian(1, 16, 4, 5.0);
  Updates moved = u;
  for (auto& row : moved.rows) {
    for (std::size_t k = 0; k < row.size(); ++k) row[k] += shift.rows[0][k];
  }
  ASSERT_OK_AND_ASSIGN(std::vector<double> a, RunRule(rule, OptionsFor(rule), u));
  ASSERT_OK_AND_ASSIGN(std::vector<double> b, RunRule(rule, OptionsFor(rule), moved));
  // Compare with the shifted inputs' own rounding: A(x + c) against A(x) + c, with c applied
  // per input in float.
  for (std::size_t k = 0; k < a.size(); ++k) a[k] += shift.rows[0][k];
  EXPECT_LT(RelativeError(b, a), 1e-5) << rule;
}

constexpr std::string_view kEquivariant[] = {"median", "trimmed-mean", "geomed", "krum",
                                             "multikrum", "bulyan", "fedavg"};
INSTANTIATE_TEST_SUITE_P(All, RobustTranslationEquivariance, ::testing::ValuesIn(kEquivariant),
                         [](const auto& info) {
                           std::string name(info.param);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// n-dependent preconditions: refused at Begin() when the round announces too few updates, and
// at Finish() when too few arrive.
TEST(RobustPreconditions, TooFewUpdatesAreRefused) {
  struct Case {
    std::string_view rule;
    RuleOptions options;
    std::size_t too_few;
    std::size_t enough;
    std::string message;
  };
  const Case cases[] = {
      {"krum", {.f = 2}, 6, 7, "n >= 2f+3"},
      {"multikrum", {.f = 2}, 6, 7, "n >= 2f+3"},
      {"bulyan", {.f = 1}, 6, 7, "n >= 4f+3"},
      {"bulyan", {.f = 2}, 10, 11, "n >= 4f+3"},
      {"trimmed-mean", {.f = 2}, 4, 5, "n > 2f"},
      {"flag", {.m = 4}, 4, 5, "m"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.rule) + " n=" + std::to_string(c.too_few));
    ASSERT_OK_AND_ASSIGN(auto rule, CreateRule(c.rule, c.options));
    const Status begin = rule->Begin({.round = 1, .dim = 4, .expected_updates = c.too_few});
    EXPECT_EQ(begin.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(begin.message().find(c.message), std::string::npos) << begin;
    EXPECT_TRUE(rule->Begin({.round = 1, .dim = 4, .expected_updates = c.enough}).ok());

    const Updates few = testing::Gaussian(c.too_few, 4, 1);
    const auto finished = RunRule(c.rule, c.options, few);
    EXPECT_FALSE(finished.has_value());
    const Updates enough = testing::Gaussian(c.enough, 4, 1);
    EXPECT_TRUE(RunRule(c.rule, c.options, enough).has_value());
  }
}

TEST(RobustPreconditions, MultiKrumMAboveNMinusFIsRefused) {
  const Updates u = testing::Gaussian(7, 4, 1);
  const auto r = RunRule("multikrum", {.f = 1, .m = 7}, u);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("[1, n-f]"), std::string::npos) << r.error();
  EXPECT_TRUE(RunRule("multikrum", {.f = 1, .m = 6}, u).has_value());
}

TEST(RobustPreconditions, FlagNeedsMBelowP) {
  const Updates u = testing::Gaussian(5, 4, 1);
  const auto r = RunRule("flag", {.m = 5}, u);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("m must be in [1, p-1]"), std::string::npos) << r.error();
}

// Bulyan against a literal reading of its definition: θ = n − 2f updates by repeated Krum
// (BulyanSelect), then per coordinate the mean of the β = n − 4f selected values closest to
// their median, by (distance, value).
TEST(RobustBulyan, MatchesTheDefinition) {
  const Updates u = testing::Gaussian(11, 6, 17);
  const std::size_t f = 2, theta = 7, beta = 3;
  const auto views = u.Views();
  ASSERT_OK_AND_ASSIGN(std::vector<std::size_t> selected,
                       BulyanSelect(SquaredDistancesFromGram(Gram(views)), f));
  ASSERT_EQ(selected.size(), theta);
  std::vector<double> want(6);
  for (std::size_t k = 0; k < 6; ++k) {
    std::vector<double> v;
    for (std::size_t i : selected) v.push_back(u.rows[i][k]);
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[theta / 2];
    std::sort(v.begin(), v.end(), [median](double a, double b) {
      return std::abs(a - median) < std::abs(b - median) ||
             (std::abs(a - median) == std::abs(b - median) && a < b);
    });
    want[k] = std::accumulate(v.begin(), v.begin() + beta, 0.0) / beta;
  }
  ASSERT_OK_AND_ASSIGN(std::vector<double> got, RunRule("bulyan", {.f = 2}, u));
  EXPECT_LT(RelativeError(got, want), 1e-15);
  // Stage 1 really is repeated Krum: the first pick is Krum's choice.
  ASSERT_OK_AND_ASSIGN(std::vector<double> krum, RunRule("krum", {.f = 2}, u));
  EXPECT_EQ(krum, testing::ToDouble(u.rows[selected[0]]));
}

}  // namespace
}  // namespace tributary::robust
