// The Flag Aggregator: the Gram form against a direct d-space SVD implementation of the
// authors' IRLS, the m >= rank case, invariances, and the default m.
#include "robust/flag_aggregator.h"

#include <cmath>
#include <vector>

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include "robust/gram.h"
#include "tests/robust/test_util.h"

namespace tributary::robust {
namespace {

using testing::RelativeError;
using testing::Updates;

// The reference: explicit d×p matrix of normalized updates, each IRLS step a thin SVD of the
// d×(p + p(p−1)) matrix [w_i x_i | c_ij (x_i − x_j)], Y the top-m left singular vectors.
std::vector<double> DirectFlag(const Updates& u, const FlagParams& params) {
  const int p = static_cast<int>(u.rows.size());
  const int d = static_cast<int>(u.dim());
  const int m = static_cast<int>(params.m.value_or(FlagDefaultM(p)));
  Eigen::MatrixXd x(d, p);
  for (int i = 0; i < p; ++i) {
    for (int k = 0; k < d; ++k) x(k, i) = u.rows[i][k];
    x.col(i).normalize();
  }
  auto ratio = [](const Eigen::MatrixXd& y, const Eigen::VectorXd& v) {
    return y.cols() == 0 ? 0.0 : (y.transpose() * v).squaredNorm();
  };
  auto objective = [&](const Eigen::MatrixXd& y) {
    double j = 0.0;
    for (int i = 0; i < p; ++i) j += std::sqrt(std::max(0.0, 1.0 - ratio(y, x.col(i))));
    return j;
  };
  auto weight = [](double r) { return std::pow(std::abs(1.0 - r) + 1e-7, -0.25); };
  Eigen::MatrixXd y(d, 0);
  double j = objective(y);
  for (int it = 0; it < params.max_iters && j > 1e-10; ++it) {
    const int pairs = params.lambda > 0 ? p * (p - 1) : 0;
    Eigen::MatrixXd a(d, p + pairs);
    for (int i = 0; i < p; ++i) a.col(i) = weight(ratio(y, x.col(i))) * x.col(i);
    int col = p;
    for (int i = 0; i < p && pairs > 0; ++i) {
      for (int jj = 0; jj < p; ++jj) {
        if (i == jj) continue;
        const Eigen::VectorXd diff = x.col(i) - x.col(jj);
        a.col(col++) = weight(ratio(y, diff)) * params.lambda / (p * (p - 1)) * diff;
      }
    }
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(a, Eigen::ComputeThinU);
    const Eigen::MatrixXd next = svd.matrixU().leftCols(m);
    const double next_j = objective(next);
    const double decrease = j - next_j;
    if (decrease > 0) {
      y = next;
      j = next_j;
    }
    if (!(decrease > params.tolerance)) break;
  }
  const Eigen::VectorXd out = y * (y.transpose() * x.rowwise().sum()) / m;
  return std::vector<double>(out.data(), out.data() + d);
}

std::vector<double> GramFlag(const Updates& u, const FlagParams& params) {
  std::vector<double> out(u.dim());
  const auto views = u.Views();
  EXPECT_TRUE(FlagAggregate(views, params, out).ok());
  return out;
}

TEST(RobustFlagAggregator, GramFormEqualsDirectSvd) {
  const Updates u = testing::Gaussian(7, 40, 21);
  for (double lambda : {0.0, 0.5, 10.0}) {
    for (int iters : {1, 4, 20}) {
      SCOPED_TRACE("lambda=" + std::to_string(lambda) + " iters=" + std::to_string(iters));
      const FlagParams params{.m = 3, .lambda = lambda, .max_iters = iters, .tolerance = 0.0};
      const std::vector<double> direct = DirectFlag(u, params);
      EXPECT_LT(RelativeError(GramFlag(u, params), direct), 1e-10);
      EXPECT_GT(testing::Norm(direct), 0.1);
    }
  }
}

TEST(RobustFlagAggregator, RegularizerChangesTheResult) {
  const Updates u = testing::Gaussian(7, 40, 21);
  const FlagParams plain{.m = 3, .lambda = 0.0, .max_iters = 10};
  const FlagParams regular{.m = 3, .lambda = 50.0, .max_iters = 10};
  EXPECT_GT(RelativeError(GramFlag(u, plain), GramFlag(u, regular)), 1e-6);
}

TEST(RobustFlagAggregator, MAtLeastRankGivesScaledSumOfNormalizedInputs) {
  // Six updates in a 2-D subspace of R^10, m = 3 >= rank 2. Small integers keep the float
  // inputs exactly rank 2.
  const std::vector<double> b0 = {1, 0, 2, -1, 3, 0, 1, 1, -2, 0};
  const std::vector<double> b1 = {0, 1, -1, 2, 0, 1, 3, -1, 0, 2};
  const int mix[6][2] = {{1, 0}, {0, 1}, {1, 1}, {2, -1}, {-1, 3}, {3, 2}};
  Updates u;
  std::vector<double> want(10, 0.0);
  for (const auto& c : mix) {
    std::vector<double> row(10);
    for (int k = 0; k < 10; ++k) row[k] = c[0] * b0[k] + c[1] * b1[k];
    u.rows.emplace_back(row.begin(), row.end());
    const double norm = testing::Norm(row);
    for (int k = 0; k < 10; ++k) want[k] += row[k] / norm / 3.0;
  }
  EXPECT_LT(RelativeError(GramFlag(u, {.m = 3, .max_iters = 5}), want), 1e-10);
}

TEST(RobustFlagAggregator, RotatingTheInputsRotatesTheOutput) {
  const int d = 12;
  const Updates u = testing::Gaussian(8, d, 31);
  const Eigen::MatrixXd q =
      Eigen::HouseholderQR<Eigen::MatrixXd>(Eigen::MatrixXd::Random(d, d)).householderQ();
  Updates rotated;
  for (const auto& row : u.rows) {
    const Eigen::VectorXd v = q * Eigen::Map<const Eigen::VectorXf>(row.data(), d).cast<double>();
    rotated.rows.emplace_back(v.data(), v.data() + d);
  }
  const FlagParams params{.m = 4, .lambda = 1.0, .max_iters = 6};
  const std::vector<double> out = GramFlag(u, params);
  const Eigen::VectorXd want = q * Eigen::Map<const Eigen::VectorXd>(out.data(), d);
  EXPECT_LT(RelativeError(GramFlag(rotated, params), std::vector<double>(want.data(),
                                                                          want.data() + d)),
            1e-5);  // the rotated inputs are rounded to float
}

TEST(RobustFlagAggregator, InvariantToPositiveRescalingOfInputs) {
  const Updates u = testing::Gaussian(8, 20, 41);
  Updates scaled = u;
  for (std::size_t i = 0; i < scaled.rows.size(); ++i) {
    for (float& v : scaled.rows[i]) v *= std::ldexp(1.0f, static_cast<int>(i) - 4);  // exact
  }
  const FlagParams params{.m = 4, .max_iters = 4};
  EXPECT_LT(RelativeError(GramFlag(scaled, params), GramFlag(u, params)), 1e-12);
}

TEST(RobustFlagAggregator, ZeroUpdatesAddNothing) {
  Updates u = testing::Gaussian(6, 10, 3);
  const FlagParams params{.m = 3};
  const std::vector<double> without = GramFlag(u, params);
  u.rows.emplace_back(10, 0.0f);
  u.rows.emplace_back(10, 0.0f);
  const std::vector<double> with = GramFlag(u, params);
  for (double v : with) EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT(testing::Norm(with), 0.1);
  EXPECT_LT(RelativeError(with, without), 1e-12);
}

TEST(RobustFlagAggregator, DefaultMIsThePowerOfTwoTheAuthorsUse) {
  EXPECT_EQ(FlagDefaultM(2), 1u);
  EXPECT_EQ(FlagDefaultM(3), 2u);
  EXPECT_EQ(FlagDefaultM(7), 4u);
  EXPECT_EQ(FlagDefaultM(11), 8u);
  EXPECT_EQ(FlagDefaultM(13), 8u);
  EXPECT_EQ(FlagDefaultM(15), 8u);
  EXPECT_EQ(FlagDefaultM(30), 16u);
  EXPECT_EQ(FlagDefaultM(60), 32u);
}

}  // namespace
}  // namespace tributary::robust
