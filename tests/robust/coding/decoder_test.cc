// Decoding: exact recovery of the full gradient from every survivor set of n-s workers, the
// least-squares approximation beyond s stragglers and its error, and argument checks.
#include "robust/coding/decoder.h"

#include <gtest/gtest.h>

#include "robust/coding/fractional_repetition.h"
#include "robust/coding/gradient_code.h"
#include "robust/coding/straggler_patterns.h"
#include "tests/robust/coding/test_gradients.h"

namespace tributary::robust::coding {
namespace {

using testing::RandomGradients;
using testing::RelativeDecodeError;

TEST(DecoderTest, FractionalRepetitionExactOverAll220Patterns) {
  const GradientCode code =
      *GradientCode::Create({.scheme = Scheme::kFractionalRepetition, .n = 12, .s = 3});
  const Eigen::MatrixXd g = RandomGradients(12, 16, 42);
  const auto patterns = SurvivorSets(12, 3, 1000, 0);
  ASSERT_EQ(patterns.size(), 220u);
  for (const std::vector<int>& survivors : patterns) {
    const Result<Decoding> d = code.Decode(survivors);
    ASSERT_TRUE(d.has_value());
    EXPECT_TRUE(d->exact);
    EXPECT_LE(RelativeDecodeError(code.matrix(), d->coefficients, g), 1e-12);
    for (int w = 0; w < 12; ++w) {
      if (!std::binary_search(survivors.begin(), survivors.end(), w)) {
        EXPECT_EQ(d->coefficients(w), 0.0);
      }
    }
  }
}

TEST(DecoderTest, CyclicExactForSmallN) {
  for (const auto& [n, s] : {std::pair{3, 1}, {5, 2}, {7, 3}, {10, 3}, {11, 4}, {12, 3}, {12, 5}}) {
    const GradientCode code =
        *GradientCode::Create({.scheme = Scheme::kCyclicRepetition, .n = n, .s = s, .seed = 5});
    const Eigen::MatrixXd g = RandomGradients(n, 8, n * 100 + s);
    for (const std::vector<int>& survivors : SurvivorSets(n, s, 1000, 0)) {
      const Result<Decoding> d = code.Decode(survivors);
      ASSERT_TRUE(d.has_value());
      EXPECT_TRUE(d->exact) << n << "," << s;
      EXPECT_LE(RelativeDecodeError(code.matrix(), d->coefficients, g), 1e-9) << n << "," << s;
    }
  }
}

TEST(DecoderTest, TandonThreeWorkerExample) {
  // Tandon et al. 2017, n = 3, s = 1, with its decoding vectors.
  Eigen::MatrixXd b(3, 3);
  b << 0.5, 1, 0, 0, 1, -1, 0.5, 0, 1;
  const struct {
    std::vector<int> arrived;
    Eigen::Vector3d a;
  } cases[] = {{{0, 1}, {2, -1, 0}}, {{0, 2}, {1, 0, 1}}, {{1, 2}, {0, 1, 2}}};
  for (const auto& c : cases) {
    const Result<Decoding> d = Decode(b, c.arrived);
    ASSERT_TRUE(d.has_value());
    EXPECT_TRUE(d->exact);
    EXPECT_LE((d->coefficients - c.a).norm(), 1e-12);
    EXPECT_LE(d->residual, 1e-12);
  }
}

TEST(DecoderTest, ArrivalOrderDoesNotMatter) {
  const GradientCode code =
      *GradientCode::Create({.scheme = Scheme::kCyclicRepetition, .n = 8, .s = 2});
  const Decoding a = *code.Decode(std::vector<int>{0, 1, 2, 4, 6, 7});
  const Decoding b = *code.Decode(std::vector<int>{7, 4, 0, 6, 2, 1});
  EXPECT_LE((a.coefficients - b.coefficients).norm(), 1e-12);
}

// Unit, mutually orthogonal partition gradients (G = I): the decoded sum's squared error is
// exactly the squared residual, and for FRC's least-squares decoder it is (s+1) per lost group.
TEST(DecoderTest, FractionalRepetitionErrorBeyondSIsSPlusOnePerLostGroup) {
  const int n = 12, s = 3;
  const GradientCode code =
      *GradientCode::Create({.scheme = Scheme::kFractionalRepetition, .n = n, .s = s});
  const Eigen::MatrixXd g = Eigen::MatrixXd::Identity(n, n);
  for (int stragglers = s + 1; stragglers <= n - 1; ++stragglers) {
    for (const std::vector<int>& survivors : SurvivorSets(n, stragglers, 300, stragglers)) {
      int lost_groups = 0;
      for (int group = 0; group < n / (s + 1); ++group) {
        bool survives = false;
        for (const int w : survivors) survives |= FractionalRepetitionGroup(w, s) == group;
        lost_groups += !survives;
      }
      const Decoding d = *code.Decode(survivors);
      const Eigen::RowVectorXd error =
          d.coefficients.transpose() * (code.matrix() * g) - g.colwise().sum();
      EXPECT_NEAR(error.squaredNorm(), (s + 1.0) * lost_groups, 1e-9);
      EXPECT_NEAR(d.residual * d.residual, (s + 1.0) * lost_groups, 1e-9);
      EXPECT_EQ(d.exact, lost_groups == 0);
      EXPECT_LE(error.norm(), d.ErrorBound(std::sqrt(double(n))) + 1e-12);
    }
  }
}

TEST(DecoderTest, CyclicBeyondSIsApproximateWithBoundedError) {
  const int n = 12, s = 3;
  const GradientCode code =
      *GradientCode::Create({.scheme = Scheme::kCyclicRepetition, .n = n, .s = s});
  const Eigen::MatrixXd g = RandomGradients(n, 6, 11);
  const double g_norm = g.norm();  // sqrt(sum_j ||g_j||^2)
  for (const std::vector<int>& survivors : SurvivorSets(n, s + 2, 100, 1)) {
    const Decoding d = *code.Decode(survivors);
    EXPECT_FALSE(d.exact);
    EXPECT_GT(d.residual, 1e-3);
    const Eigen::RowVectorXd error =
        d.coefficients.transpose() * (code.matrix() * g) - g.colwise().sum();
    EXPECT_LE(error.norm(), d.ErrorBound(g_norm) * (1 + 1e-9));
  }
}

TEST(DecoderTest, RejectsBadWorkerIds) {
  const Eigen::MatrixXd b = *FractionalRepetitionMatrix(6, 1);
  EXPECT_EQ(Decode(b, std::vector<int>{0, 6}).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Decode(b, std::vector<int>{-1}).error().code(), StatusCode::kInvalidArgument);
  const Result<Decoding> repeated = Decode(b, std::vector<int>{0, 2, 2, 4});
  ASSERT_FALSE(repeated.has_value());
  EXPECT_NE(repeated.error().message().find("repeated"), std::string::npos);
  const Decoding none = *Decode(b, std::vector<int>{});
  EXPECT_FALSE(none.exact);
  EXPECT_NEAR(none.residual, std::sqrt(6.0), 1e-12);
}

}  // namespace
}  // namespace tributary::robust::coding
