// Construction of the fractional- and cyclic-repetition codes: shape, support, conditioning,
// errors, and the per-worker tasks handed out at join.
#include "robust/coding/gradient_code.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "robust/coding/conditioning.h"
#include "robust/coding/cyclic_repetition.h"
#include "robust/coding/fractional_repetition.h"
#include "robust/coding/straggler_patterns.h"

namespace tributary::robust::coding {
namespace {

Result<GradientCode> Make(Scheme scheme, int n, int s, uint64_t seed = 1) {
  return GradientCode::Create({.scheme = scheme, .n = n, .s = s, .seed = seed});
}

// Every column (partition) is held by exactly s+1 workers, every row covers s+1 partitions.
void ExpectSPlusOneNonzeros(const Eigen::MatrixXd& b, int s) {
  for (Eigen::Index j = 0; j < b.cols(); ++j) {
    EXPECT_EQ((b.col(j).array() != 0.0).count(), s + 1) << "column " << j;
    EXPECT_EQ((b.row(j).array() != 0.0).count(), s + 1) << "row " << j;
  }
}

TEST(GradientCodeTest, FractionalRepetitionIsBlockDiagonalOnes) {
  Result<GradientCode> code = Make(Scheme::kFractionalRepetition, 12, 3);
  ASSERT_TRUE(code.has_value()) << code.error();
  EXPECT_EQ(code->scheme(), Scheme::kFractionalRepetition);
  for (int i = 0; i < 12; ++i) {
    for (int j = 0; j < 12; ++j) {
      EXPECT_EQ(code->matrix()(i, j), i / 4 == j / 4 ? 1.0 : 0.0);
    }
  }
  ExpectSPlusOneNonzeros(code->matrix(), 3);
}

TEST(GradientCodeTest, CyclicRowsCoverConsecutivePartitions) {
  for (const auto& [n, s] : {std::pair{3, 1}, {7, 3}, {12, 3}, {12, 5}, {20, 4}}) {
    Result<GradientCode> code = Make(Scheme::kCyclicRepetition, n, s);
    ASSERT_TRUE(code.has_value()) << code.error();
    const Eigen::MatrixXd& b = code->matrix();
    ExpectSPlusOneNonzeros(b, s);
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(b(i, i), 1.0);
      for (int k = 0; k <= s; ++k) EXPECT_NE(b(i, (i + k) % n), 0.0) << n << "," << s;
    }
    // 1 lies in the row space of B.
    std::vector<int> everyone(n);
    std::iota(everyone.begin(), everyone.end(), 0);
    EXPECT_TRUE(code->Decode(everyone)->exact);
  }
}

TEST(GradientCodeTest, TaskListsTheRowsNonzeros) {
  Result<GradientCode> code = Make(Scheme::kCyclicRepetition, 7, 2);
  ASSERT_TRUE(code.has_value());
  const WorkerTask task = code->Task(5);
  EXPECT_EQ(task.partitions, (std::vector<int>{0, 5, 6}));
  for (size_t k = 0; k < task.partitions.size(); ++k) {
    EXPECT_EQ(task.coefficients[k], code->matrix()(5, task.partitions[k]));
  }
}

TEST(GradientCodeTest, AutoPrefersFractionalRepetition) {
  EXPECT_EQ(Make(Scheme::kAuto, 12, 3)->scheme(), Scheme::kFractionalRepetition);
  EXPECT_EQ(Make(Scheme::kAuto, 12, 4)->scheme(), Scheme::kCyclicRepetition);
}

TEST(GradientCodeTest, SameSeedSameMatrix) {
  EXPECT_EQ(Make(Scheme::kCyclicRepetition, 9, 2, 7)->matrix(),
            Make(Scheme::kCyclicRepetition, 9, 2, 7)->matrix());
  EXPECT_NE(Make(Scheme::kCyclicRepetition, 9, 2, 7)->matrix(),
            Make(Scheme::kCyclicRepetition, 9, 2, 8)->matrix());
}

TEST(GradientCodeTest, RejectsBadParameters) {
  EXPECT_EQ(Make(Scheme::kFractionalRepetition, 10, 3).error().code(),
            StatusCode::kInvalidArgument);  // 4 does not divide 10
  EXPECT_EQ(Make(Scheme::kCyclicRepetition, 5, 5).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Make(Scheme::kCyclicRepetition, 5, -1).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Make(Scheme::kFractionalRepetition, 0, 0).error().code(), StatusCode::kInvalidArgument);
  // Its n x n matrix would not fit: refused before it is allocated (found by fuzzing).
  EXPECT_EQ(Make(Scheme::kFractionalRepetition, 400'000'000, 1).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(Make(Scheme::kFractionalRepetition, kMaxWorkers, 1));
  EXPECT_EQ(ParseScheme("mds").error().code(), StatusCode::kInvalidArgument);
}

TEST(GradientCodeTest, CyclicConditioningIsCheckedOverEveryPattern) {
  // C(12, 3) = 220 patterns: checked exhaustively, and the report agrees with a recomputation.
  Result<GradientCode> code = Make(Scheme::kCyclicRepetition, 12, 3);
  ASSERT_TRUE(code.has_value());
  EXPECT_TRUE(code->condition().exhaustive);
  EXPECT_EQ(code->condition().patterns, 220u);
  EXPECT_LE(code->condition().worst, 1e8);
  EXPECT_GE(code->draws(), 1);
  const ConditionReport again = WorstSurvivorCondition(code->matrix(), 3, 1000, 0);
  EXPECT_DOUBLE_EQ(again.worst, code->condition().worst);
}

TEST(GradientCodeTest, CyclicAboveTwelveIsConditionChecked) {
  // n = 20, s = 4: C(20, 4) = 4845 patterns, all checked; cond grows (~1e6-1e7) but stays under
  // the bound, and decoding stays accurate in double on a sample of the patterns.
  Result<GradientCode> code = Make(Scheme::kCyclicRepetition, 20, 4);
  ASSERT_TRUE(code.has_value()) << code.error();
  EXPECT_TRUE(code->condition().exhaustive);
  EXPECT_EQ(code->condition().patterns, 4845u);
  EXPECT_LE(code->condition().worst, 1e8);
  for (const std::vector<int>& survivors : SurvivorSets(20, 4, 200, 3)) {
    const Result<Decoding> d = code->Decode(survivors);
    ASSERT_TRUE(d.has_value());
    EXPECT_TRUE(d->exact);
    EXPECT_LE(d->residual, 1e-6);
  }
  // n = 30, s = 5: too many patterns (142506) to check all; a sample is.
  Result<GradientCode> big = GradientCode::Create(
      {.scheme = Scheme::kCyclicRepetition, .n = 30, .s = 5, .max_draws = 1, .max_patterns = 300});
  ASSERT_TRUE(big.has_value()) << big.error();
  EXPECT_FALSE(big->condition().exhaustive);
  EXPECT_EQ(big->condition().patterns, 300u);
}

TEST(GradientCodeTest, CyclicRefusesAPoorlyConditionedCode) {
  const Result<GradientCode> code = GradientCode::Create(
      {.scheme = Scheme::kCyclicRepetition, .n = 12, .s = 3, .max_condition = 2.0, .max_draws = 3});
  ASSERT_FALSE(code.has_value());
  EXPECT_EQ(code.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(code.error().message().find("condition number"), std::string::npos);
}

TEST(GradientCodeTest, RedrawsUntilTheTargetIsMet) {
  // With an unreachable target every draw is tried and the best one kept.
  const Result<GradientCode> one = GradientCode::Create({.scheme = Scheme::kCyclicRepetition,
                                                         .n = 10,
                                                         .s = 3,
                                                         .target_condition = 1.0,
                                                         .max_draws = 1});
  const Result<GradientCode> many = GradientCode::Create({.scheme = Scheme::kCyclicRepetition,
                                                          .n = 10,
                                                          .s = 3,
                                                          .target_condition = 1.0,
                                                          .max_draws = 6});
  ASSERT_TRUE(one.has_value() && many.has_value());
  EXPECT_LE(many->condition().worst, one->condition().worst);
  EXPECT_TRUE(many->condition().exhaustive);
}

TEST(StragglerPatternsTest, EnumeratesOrSamples) {
  EXPECT_EQ(BinomialCoefficient(12, 3), 220u);
  EXPECT_EQ(BinomialCoefficient(200, 100), UINT64_MAX);  // saturates
  const auto all = SurvivorSets(5, 2, 100, 0);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front(), (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(all.back(), (std::vector<int>{0, 1, 2}));
  const auto sample = SurvivorSets(30, 5, 50, 9);
  ASSERT_EQ(sample.size(), 50u);
  for (const auto& set : sample) {
    EXPECT_EQ(set.size(), 25u);
    EXPECT_TRUE(std::is_sorted(set.begin(), set.end()));
  }
}

}  // namespace
}  // namespace tributary::robust::coding
