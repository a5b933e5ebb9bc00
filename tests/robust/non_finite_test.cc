// Inf/NaN attackers: Krum, Multi-Krum, the median, the trimmed mean and Bulyan discard them and
// return an honest aggregate; the rules whose math cannot take them return a clear error; no
// rule ever returns a non-finite aggregate.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "robust/attacks.h"
#include "tests/robust/test_util.h"

namespace tributary::robust {
namespace {

using attacks::NonFiniteKind;

// 11 updates, the first two of `kind` (or one +Inf and one NaN when mixed).
testing::Updates WithAttackers(bool mixed, NonFiniteKind kind) {
  testing::Updates u = testing::Gaussian(11, 30, 77);
  attacks::NonFinite(mixed ? NonFiniteKind::kPositiveInfinity : kind, u.rows[0]);
  attacks::NonFinite(mixed ? NonFiniteKind::kNaN : kind, u.rows[1]);
  return u;
}

class RobustNonFinite : public ::testing::TestWithParam<int> {
 protected:
  testing::Updates Data() const {
    switch (GetParam()) {
      case 0: return WithAttackers(false, NonFiniteKind::kPositiveInfinity);
      case 1: return WithAttackers(false, NonFiniteKind::kNegativeInfinity);
      case 2: return WithAttackers(false, NonFiniteKind::kNaN);
      default: return WithAttackers(true, NonFiniteKind::kNaN);
    }
  }
};

TEST_P(RobustNonFinite, KrumSelectsAnHonestUpdate) {
  const testing::Updates u = Data();
  ASSERT_OK_AND_ASSIGN(std::vector<double> out, testing::RunRule("krum", {.f = 2}, u));
  bool is_honest_row = false;
  for (std::size_t i = 2; i < u.rows.size(); ++i) {
    is_honest_row |= out == testing::ToDouble(u.rows[i]);
  }
  EXPECT_TRUE(is_honest_row);
}

TEST_P(RobustNonFinite, MultiKrumMedianTrimmedMeanBulyanStayFiniteAndHonest) {
  const testing::Updates u = Data();
  testing::Updates honest;
  honest.rows.assign(u.rows.begin() + 2, u.rows.end());
  const std::pair<std::string, RuleOptions> rules[] = {{"multikrum", {.f = 2}},
                                                       {"median", {}},
                                                       {"trimmed-mean", {.f = 2}},
                                                       {"bulyan", {.f = 2}}};
  for (const auto& [rule, options] : rules) {
    SCOPED_TRACE(rule);
    ASSERT_OK_AND_ASSIGN(std::vector<double> out, testing::RunRule(rule, options, u));
    for (std::size_t k = 0; k < out.size(); ++k) {
      ASSERT_TRUE(std::isfinite(out[k]));
      double lo = INFINITY, hi = -INFINITY;
      for (const auto& row : honest.rows) {
        lo = std::min<double>(lo, row[k]);
        hi = std::max<double>(hi, row[k]);
      }
      EXPECT_GE(out[k], lo);
      EXPECT_LE(out[k], hi);
    }
  }
  // Multi-Krum's default m = n − f averages exactly the honest updates.
  ASSERT_OK_AND_ASSIGN(std::vector<double> multi, testing::RunRule("multikrum", {.f = 2}, u));
  EXPECT_LT(testing::RelativeError(multi, testing::Mean(honest)), 1e-6);
}

TEST_P(RobustNonFinite, OtherRulesRefuseWithAClearError) {
  const testing::Updates u = Data();
  for (std::string_view rule : {"flag", "geomed", "cclip", "normclip", "normalized-mean"}) {
    const auto r = testing::RunRule(rule, {}, u);
    ASSERT_FALSE(r.has_value()) << rule;
    EXPECT_NE(r.error().message().find("non-finite"), std::string::npos) << r.error();
    EXPECT_NE(r.error().message().find("update 0"), std::string::npos) << r.error();
  }
  const auto mean = testing::RunRule("fedavg", {}, u);
  ASSERT_FALSE(mean.has_value());
  EXPECT_NE(mean.error().message().find("not finite"), std::string::npos) << mean.error();
}

INSTANTIATE_TEST_SUITE_P(All, RobustNonFinite, ::testing::Values(0, 1, 2, 3));

TEST(RobustNonFiniteLimits, MoreAttackersThanFIsAnErrorNotAnInfiniteAggregate) {
  testing::Updates u = testing::Gaussian(11, 30, 5);
  for (int i = 0; i < 4; ++i) attacks::NonFinite(NonFiniteKind::kNaN, u.rows[i]);
  EXPECT_FALSE(testing::RunRule("multikrum", {.f = 2}, u).has_value());
  EXPECT_FALSE(testing::RunRule("trimmed-mean", {.f = 2}, u).has_value());
  for (int i = 4; i < 6; ++i) attacks::NonFinite(NonFiniteKind::kNaN, u.rows[i]);
  EXPECT_FALSE(testing::RunRule("median", {}, u).has_value());
}

}  // namespace
}  // namespace tributary::robust
