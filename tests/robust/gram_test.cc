// The shared kernels: the blocked, multi-threaded Gram matrix against a naive double loop,
// distances from it, and weighted sums that never read discarded (possibly non-finite) updates.
#include "robust/gram.h"

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "robust/weighted_sum.h"
#include "tests/robust/test_util.h"

namespace tributary::robust {
namespace {

double NaiveDot(const std::vector<float>& a, const std::vector<float>& b) {
  long double s = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) s += static_cast<long double>(a[k]) * b[k];
  return static_cast<double>(s);
}

TEST(RobustGram, MatchesNaiveDotProductsAcrossBlocksAndThreads) {
  const testing::Updates u = testing::Gaussian(7, 20000 + 13, 1);  // a partial last block
  const auto views = u.Views();
  const Eigen::MatrixXd gram = Gram(views);
  const std::vector<double> sq_norms = SquaredNorms(views);
  for (int i = 0; i < 7; ++i) {
    EXPECT_NEAR(sq_norms[i], NaiveDot(u.rows[i], u.rows[i]), 1e-9 * sq_norms[i]);
    for (int j = 0; j < 7; ++j) {
      EXPECT_NEAR(gram(i, j), NaiveDot(u.rows[i], u.rows[j]), 1e-10 * sq_norms[i]);
      EXPECT_EQ(gram(i, j), gram(j, i));
    }
  }
  const Eigen::MatrixXd dist = SquaredDistancesFromGram(gram);
  std::vector<double> point(u.rows[2].begin(), u.rows[2].end());
  const std::vector<double> to_point = SquaredDistancesTo(views, point);
  for (int i = 0; i < 7; ++i) EXPECT_NEAR(dist(i, 2), to_point[i], 1e-9 * to_point[i] + 1e-9);
  EXPECT_EQ(dist(2, 2), 0.0);
}

TEST(RobustGram, NonFiniteRowsOnlyPoisonTheirOwnDistances) {
  testing::Updates u = testing::Gaussian(5, 3000, 2);
  u.rows[1][17] = std::numeric_limits<float>::quiet_NaN();
  u.rows[3][5] = std::numeric_limits<float>::infinity();
  const Eigen::MatrixXd dist = SquaredDistancesFromGram(Gram(u.Views()));
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) {
      const bool poisoned = i != j && (i == 1 || i == 3 || j == 1 || j == 3);
      EXPECT_EQ(std::isinf(dist(i, j)), poisoned) << i << "," << j;
      EXPECT_FALSE(std::isnan(dist(i, j)));
    }
  }
}

TEST(RobustWeightedSum, SkipsZeroCoefficientsAndWeightsTheRest) {
  testing::Updates u = testing::FromRows({{1, 2}, {10, 20}, {100, 200}});
  u.rows[1][0] = std::numeric_limits<float>::infinity();
  std::vector<double> out(2);
  const std::vector<double> c = {0.5, 0.0, 0.25};
  WeightedSum(u.Views(), c, out);
  EXPECT_EQ(out, (std::vector<double>{25.5, 51}));
}

TEST(RobustWeightedSum, WeightedMeanValidatesWeights) {
  const testing::Updates u = testing::FromRows({{1, 2}, {3, 6}});
  std::vector<double> out(2);
  const auto views = u.Views();
  ASSERT_TRUE(WeightedMean(views, std::vector<double>{1, 3}, out).ok());
  EXPECT_EQ(out, (std::vector<double>{2.5, 5}));
  EXPECT_FALSE(WeightedMean(views, std::vector<double>{1, 0}, out).ok());
  EXPECT_FALSE(WeightedMean(views, std::vector<double>{1}, out).ok());
}

}  // namespace
}  // namespace tributary::robust
