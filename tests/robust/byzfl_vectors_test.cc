// The public ByzFL test vectors on rows [[1,2,3],[4,5,6],[7,8,9]], the Krum/Multi-Krum
// vectors of issue 3, and the attack vectors, through the rule factory.
#include <vector>

#include <gtest/gtest.h>

#include "robust/attacks.h"
#include "tests/robust/test_util.h"

namespace tributary::robust {
namespace {

using testing::FromRows;
using testing::RunRule;

const std::vector<std::vector<double>> kByzflRows = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}};
const std::vector<std::vector<double>> kKrumRows = {{0, 0}, {1, 0}, {0, 1}, {1, 1}, {100, 100}};

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(got[k], want[k], tol) << "at " << k;
}

TEST(RobustByzflVectors, AverageMedianTrimmedMean) {
  const auto u = FromRows(kByzflRows);
  ASSERT_OK_AND_ASSIGN(auto mean, RunRule("fedavg", {}, u));
  ExpectNear(mean, {4, 5, 6}, 1e-12);
  ASSERT_OK_AND_ASSIGN(auto median, RunRule("median", {}, u));
  ExpectNear(median, {4, 5, 6}, 0);
  ASSERT_OK_AND_ASSIGN(auto trimmed, RunRule("trimmed-mean", {.f = 1}, u));
  ExpectNear(trimmed, {4, 5, 6}, 0);
}

TEST(RobustByzflVectors, GeometricMedianThreeIterationsFromZero) {
  ASSERT_OK_AND_ASSIGN(auto z, RunRule("geomed", {.iters = 3, .tolerance = 0.0, .nu = 0.1},
                                       FromRows(kByzflRows)));
  ExpectNear(z, {3.78788764, 4.78788764, 5.78788764}, 1e-8);
}

TEST(RobustByzflVectors, KrumAndMultiKrum) {
  const auto u = FromRows(kKrumRows);
  ASSERT_OK_AND_ASSIGN(auto krum, RunRule("krum", {.f = 1}, u));
  ExpectNear(krum, {0, 0}, 0);
  ASSERT_OK_AND_ASSIGN(auto multi, RunRule("multikrum", {.f = 1}, u));
  ExpectNear(multi, {0.5, 0.5}, 1e-15);
}

TEST(RobustByzflVectors, MedianOfEvenCountAveragesTheMiddleTwo) {
  ASSERT_OK_AND_ASSIGN(auto median, RunRule("median", {}, FromRows({{1}, {2}, {10}, {4}})));
  ExpectNear(median, {3}, 0);
}

TEST(RobustAttacks, ByzflVectors) {
  const auto u = FromRows(kByzflRows);
  const auto views = u.Views();
  std::vector<float> out(3);
  ASSERT_TRUE(attacks::SignFlip(views, out).ok());
  ExpectNear(testing::ToDouble(out), {-4, -5, -6}, 1e-6);
  ASSERT_TRUE(attacks::Ipm(views, 2.0, out).ok());
  ExpectNear(testing::ToDouble(out), {-8, -10, -12}, 1e-6);
  ASSERT_TRUE(attacks::Alie(views, 1.5, out).ok());
  ExpectNear(testing::ToDouble(out), {8.5, 9.5, 10.5}, 1e-6);
  ASSERT_TRUE(attacks::Mimic(views, 0, out).ok());
  ExpectNear(testing::ToDouble(out), {1, 2, 3}, 0);
  EXPECT_FALSE(attacks::Mimic(views, 3, out).ok());
  std::vector<float> wrong(2);
  EXPECT_FALSE(attacks::Ipm(views, 1.0, wrong).ok());
}

TEST(RobustAttacks, AlieDefaultZFollowsBaruch) {
  ASSERT_OK_AND_ASSIGN(double z15, attacks::AlieDefaultZ(15, 3));
  EXPECT_NEAR(z15, 0.4307, 1e-4);
  ASSERT_OK_AND_ASSIGN(double z25, attacks::AlieDefaultZ(25, 5));
  EXPECT_NEAR(z25, 0.4677, 1e-4);
  ASSERT_OK_AND_ASSIGN(double z50, attacks::AlieDefaultZ(50, 12));
  EXPECT_NEAR(z50, 0.5828, 1e-4);
  EXPECT_FALSE(attacks::AlieDefaultZ(4, 10).has_value());  // s < 0: no quantile
}

TEST(RobustAttacks, NoiseAndNonFinite) {
  std::vector<float> a(1000), b(1000);
  attacks::Gaussian(200.0, 7, a);
  attacks::Gaussian(200.0, 7, b);
  EXPECT_EQ(a, b);  // seeded
  double sq = 0.0;
  for (float v : a) sq += double{v} * v;
  EXPECT_NEAR(std::sqrt(sq / a.size()), 200.0, 20.0);
  attacks::UniformNoise(0.0, 1.0, 3, a);
  for (float v : a) EXPECT_TRUE(v >= 0.0f && v < 1.0f);
  attacks::NonFinite(attacks::NonFiniteKind::kNaN, a);
  EXPECT_TRUE(std::isnan(a[0]) && std::isnan(a[999]));
  attacks::NonFinite(attacks::NonFiniteKind::kNegativeInfinity, a);
  EXPECT_TRUE(std::isinf(a[5]) && a[5] < 0);
}

}  // namespace
}  // namespace tributary::robust
