#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "aggregator/fedavg_kernel.h"
#include "aggregator/fedavg_rule.h"
#include "aggregator/rule_registry.h"

namespace tributary::aggregator {
namespace {

// One round of `n` random updates of `dim` values through `rule` (begun), with weights drawn
// by `weight`; `updates` gets the updates. Returns their weighted mean in double precision.
template <typename Weight>
std::vector<double> AddRandomUpdates(FedAvgRule& rule, int n, std::size_t dim, std::mt19937_64& rng,
                                     Weight weight, std::vector<std::vector<float>>* updates) {
  std::uniform_real_distribution<float> value(-3, 3);
  updates->assign(n, std::vector<float>(dim));
  std::vector<double> mean(dim, 0.0);
  double total = 0;
  for (int k = 0; k < n; ++k) {
    for (auto& v : (*updates)[k]) v = value(rng);
    const double w = weight(k);
    EXPECT_TRUE(rule.Add((*updates)[k], w).ok());
    for (std::size_t i = 0; i < dim; ++i) mean[i] += w * (*updates)[k][i];
    total += w;
  }
  for (auto& m : mean) m /= total;
  return mean;
}

// FedAvg over random sizes (odd lengths included, so the vector tails are exercised) matches a
// double-precision reference.
TEST(FedAvgTest, MatchesDoubleReferenceOnRandomSizes) {
  std::mt19937_64 rng(12345);
  std::uniform_int_distribution<int> examples(1, 500);
  for (std::size_t dim : {1ul, 7ul, 31ul, 1000ul, 4097ul, 100003ul}) {
    for (int n : {1, 2, 13}) {
      FedAvgRule rule;
      ASSERT_TRUE(rule.Begin({.round = 1, .dim = dim}).ok());
      std::vector<std::vector<float>> updates;
      const auto ref = AddRandomUpdates(
          rule, n, dim, rng, [&](int) { return examples(rng); }, &updates);
      std::vector<float> out(dim);
      ASSERT_TRUE(rule.Finish(out).ok());
      for (std::size_t i = 0; i < dim; ++i) {
        ASSERT_NEAR(out[i], ref[i], 1e-5 * 3) << "dim " << dim << " n " << n << " i " << i;
      }
    }
  }
}

// One rule object across rounds of 1, 3, 2 and 1 updates (each round's first update is held as
// a view, the second folded with it in one pass): every round matches the reference, and a
// round of one update publishes that update exactly, whatever its weight.
TEST(FedAvgTest, RoundsOfAnySizeReuseOneRule) {
  std::mt19937_64 rng(777);
  const std::size_t dim = 1001;
  FedAvgRule rule;
  uint64_t round = 0;
  for (int n : {1, 3, 2, 1}) {
    ASSERT_TRUE(rule.Begin({.round = ++round, .dim = dim}).ok());
    std::vector<std::vector<float>> updates;
    const auto ref = AddRandomUpdates(
        rule, n, dim, rng, [](int k) { return 7.0 + k; }, &updates);
    std::vector<float> out(dim);
    ASSERT_TRUE(rule.Finish(out).ok());
    for (std::size_t i = 0; i < dim; ++i) {
      if (n == 1) {
        ASSERT_EQ(out[i], updates[0][i]) << "round " << round << " i " << i;
      } else {
        ASSERT_NEAR(out[i], ref[i], 3e-5) << "round " << round << " i " << i;
      }
    }
  }
}

// Lent an accumulator at Begin, the rule keeps S there (no buffer of its own) and divides it
// in place or writes the mean elsewhere (a tree's top: from its partial slot into the round's
// output); rounds with and without one share one rule object.
TEST(FedAvgTest, KeepsItsSumInTheAccumulatorItIsLent) {
  enum Mode { kOwnBuffer, kInPlace, kElsewhere };
  std::mt19937_64 rng(4242);
  const std::size_t dim = 4099;
  FedAvgRule rule;
  uint64_t round = 0;
  for (int n : {2, 13, 1, 3, 2, 5, 1}) {
    const Mode mode = static_cast<Mode>(round % 3);
    std::vector<float> lent(dim, std::nanf("")), elsewhere(dim, std::nanf(""));
    ASSERT_TRUE(rule.Begin({.round = ++round,
                            .dim = dim,
                            .accumulator = mode == kOwnBuffer ? std::span<float>() : lent})
                    .ok());
    std::vector<std::vector<float>> updates;
    const auto ref = AddRandomUpdates(
        rule, n, dim, rng, [](int k) { return 2.0 + k; }, &updates);
    if (mode != kOwnBuffer && n >= 2) {  // before Finish, the accumulator holds S = Σ w_k x_k
      for (std::size_t i = 0; i < dim; ++i) {
        double s = 0;
        for (int k = 0; k < n; ++k) s += (2.0 + k) * updates[k][i];
        ASSERT_NEAR(lent[i], s, 1e-4 * (1 + std::abs(s))) << "round " << round << " i " << i;
      }
    }
    std::vector<float>& out = mode == kElsewhere || mode == kOwnBuffer ? elsewhere : lent;
    ASSERT_TRUE(rule.Finish(out).ok());
    for (std::size_t i = 0; i < dim; ++i) {
      ASSERT_NEAR(out[i], ref[i], 3e-5) << "round " << round << " n " << n << " i " << i;
    }
  }
  std::vector<float> wrong(dim - 1);
  EXPECT_EQ(rule.Begin({.round = 99, .dim = dim, .accumulator = wrong}).code(),
            StatusCode::kInvalidArgument);
}

TEST(FedAvgTest, IsNotARunningReweighting) {
  // Two updates, weights 1 and 3: the mean is (1·0 + 3·4)/4 = 3, whatever the order.
  for (bool swap : {false, true}) {
    FedAvgRule rule;
    ASSERT_TRUE(rule.Begin({.round = 1, .dim = 1}).ok());
    float zero = 0, four = 4;
    if (swap) {
      ASSERT_TRUE(rule.Add({&four, 1}, 3).ok());
      ASSERT_TRUE(rule.Add({&zero, 1}, 1).ok());
    } else {
      ASSERT_TRUE(rule.Add({&zero, 1}, 1).ok());
      ASSERT_TRUE(rule.Add({&four, 1}, 3).ok());
    }
    float out = 0;
    ASSERT_TRUE(rule.Finish({&out, 1}).ok());
    EXPECT_FLOAT_EQ(out, 3.0f);
  }
}

TEST(FedAvgTest, RefusesBadCalls) {
  FedAvgRule rule;
  float x[4] = {1, 2, 3, 4};
  EXPECT_EQ(rule.Add(x, 1).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(rule.Begin({.round = 1, .dim = 4}).ok());
  std::vector<float> out(4);
  EXPECT_EQ(rule.Finish(out).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(rule.Add(std::span(x, 3), 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rule.Add(x, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rule.Add(x, NAN).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(rule.Add(x, 2).ok());
  EXPECT_EQ(rule.Finish(std::span(out).first(3)).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(rule.Finish(out).ok());
  EXPECT_EQ(out[3], 4.0f);
}

TEST(FedAvgTest, KernelsComputeWhatTheySay) {
  std::vector<float> acc(37), x(37);
  for (int i = 0; i < 37; ++i) x[i] = float(i);
  WeightedPairSum(acc.data(), x.data(), 2, x.data(), -1, 37);
  WeightedAccumulate(acc.data(), x.data(), 0.5f, 37);
  Scale(acc.data(), acc.data(), 2, 37);
  for (int i = 0; i < 37; ++i) EXPECT_FLOAT_EQ(acc[i], 3.0f * i);
}

// Outputs of kStreamingStoreBytes or more take the non-temporal path: every value must still
// be exactly s·x (or w₁·x₁ + w₂·x₂, fused), whatever the destination's alignment and the
// length's remainder, in place or not.
TEST(FedAvgTest, LargeOutputsAreExactAtEveryAlignment) {
  const std::size_t n = kStreamingStoreBytes / sizeof(float) + 37;
  std::vector<float> x(n + 8), out(n + 8), in_place(n + 8);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 1013) * 0.37f - 100.0f;
  for (std::size_t shift : {0ul, 1ul, 3ul, 7ul}) {
    const std::size_t len = n - shift;
    std::fill(out.begin(), out.end(), -1.0f);
    Scale(out.data() + shift, x.data() + 1, 0.3f, len);
    for (std::size_t i = 0; i < len; ++i) ASSERT_EQ(out[shift + i], 0.3f * x[1 + i]) << i;
    EXPECT_EQ(out[shift + len], -1.0f) << "wrote past the end";
    if (shift > 0) EXPECT_EQ(out[shift - 1], -1.0f) << "wrote before the start";
    std::fill(out.begin(), out.end(), -1.0f);
    WeightedPairSum(out.data() + shift, x.data() + 1, 0.3f, x.data() + 7, -1.7f, len);
    for (std::size_t i = 0; i < len; ++i) {
      const float expected = 0.3f * x[1 + i] + -1.7f * x[7 + i];
      ASSERT_NEAR(out[shift + i], expected, 1e-5f * (1 + std::fabs(expected))) << i;
    }
    EXPECT_EQ(out[shift + len], -1.0f) << "wrote past the end";
    if (shift > 0) EXPECT_EQ(out[shift - 1], -1.0f) << "wrote before the start";
    in_place = x;
    Scale(in_place.data() + shift, in_place.data() + shift, 1.0f / 3, len);
    for (std::size_t i = 0; i < len; ++i) {
      ASSERT_EQ(in_place[shift + i], (1.0f / 3) * x[shift + i]) << i;
    }
  }
}

TEST(RuleRegistryTest, KnowsFedAvgAndNamesTheKnownRules) {
  auto rule = CreateRule("fedavg");
  ASSERT_TRUE(rule);
  EXPECT_TRUE((*rule)->IsAssociative());
  auto missing = CreateRule("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.error().message().find("fedavg"), std::string::npos);
}

}  // namespace
}  // namespace tributary::aggregator

namespace tributary::aggregator {
namespace {

TEST(WeightedSumTest, SumsWithSignedWeightsAndDoesNotDivide) {
  auto rule = CreateRule("weighted-sum");
  ASSERT_TRUE(rule);
  EXPECT_EQ((*rule)->Name(), "weighted-sum");
  ASSERT_TRUE((*rule)->Begin({.round = 1, .dim = 3}).ok());
  const float a[3] = {1, 2, 3}, b[3] = {10, 20, 30};
  ASSERT_TRUE((*rule)->Add(a, 2.0).ok());
  ASSERT_TRUE((*rule)->Add(b, -0.5).ok());
  EXPECT_EQ((*rule)->Add(a, INFINITY).code(), StatusCode::kInvalidArgument);
  float out[3];
  ASSERT_TRUE((*rule)->Finish(out).ok());
  EXPECT_FLOAT_EQ(out[0], 2 - 5);
  EXPECT_FLOAT_EQ(out[1], 4 - 10);
  EXPECT_FLOAT_EQ(out[2], 6 - 15);
}

}  // namespace
}  // namespace tributary::aggregator
