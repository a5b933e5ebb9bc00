#include "robust/flag_aggregator.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <Eigen/Eigenvalues>

#include "robust/gram.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {
namespace {

constexpr double kEpsilon = 1e-7;        // keeps the IRLS weights finite at a perfect fit
constexpr double kRankCutoff = 1e-12;    // eigenvalues below this · λ_max are numerical zeros
constexpr double kObjectiveFloor = 1e-10;  // J below this is a perfect fit: stop

// J = Σ_i √max(0, 1 − ‖Yᵀx_i‖²), from P = XᵀY·YᵀX.
double Objective(const Eigen::MatrixXd& proj) {
  double j = 0.0;
  for (Eigen::Index i = 0; i < proj.rows(); ++i) j += std::sqrt(std::max(0.0, 1.0 - proj(i, i)));
  return j;
}

double IrlsWeight(double ratio) { return std::pow(std::abs(1.0 - ratio) + kEpsilon, -0.25); }

// G with M = X G Xᵀ: diag(w_i²) plus, for λ > 0, c_ij²(e_i − e_j)(e_i − e_j)ᵀ per ordered pair.
Eigen::MatrixXd ScatterWeights(const Eigen::MatrixXd& proj, double lambda) {
  const Eigen::Index p = proj.rows();
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(p, p);
  for (Eigen::Index i = 0; i < p; ++i) g(i, i) = std::pow(IrlsWeight(proj(i, i)), 2);
  if (lambda == 0.0) return g;
  const double scale = lambda / static_cast<double>(p * (p - 1));
  for (Eigen::Index i = 0; i < p; ++i) {
    for (Eigen::Index j = 0; j < p; ++j) {
      if (i == j) continue;
      const double pair_ratio = proj(i, i) + proj(j, j) - 2.0 * proj(i, j);
      const double c2 = std::pow(IrlsWeight(pair_ratio) * scale, 2);
      g(i, i) += c2;
      g(j, j) += c2;
      g(i, j) -= c2;
      g(j, i) -= c2;
    }
  }
  return g;
}

// The symmetric square root of a PSD matrix.
Eigen::MatrixXd SqrtPsd(const Eigen::MatrixXd& a) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a);
  const Eigen::VectorXd roots = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * roots.asDiagonal() * es.eigenvectors().transpose();
}

}  // namespace

std::size_t FlagDefaultM(std::size_t p) {
  std::size_t m = 1;
  while (2 * m < p) m *= 2;
  return m;
}

Result<Eigen::VectorXd> FlagCoefficients(const Eigen::MatrixXd& gram, const FlagParams& params) {
  const Eigen::Index p = gram.rows();
  const std::size_t m = params.m.value_or(FlagDefaultM(p));
  if (m < 1 || m >= static_cast<std::size_t>(p)) {
    return Status::InvalidArgument("flag: m must be in [1, p-1] = [1, " + std::to_string(p - 1) +
                                   "] for p=" + std::to_string(p) + " updates, got " +
                                   std::to_string(m));
  }
  if (!(std::isfinite(params.lambda) && params.lambda >= 0.0) || params.max_iters < 1 ||
      !(params.tolerance >= 0.0)) {
    return Status::InvalidArgument("flag: needs lambda >= 0, iters >= 1, tolerance >= 0");
  }
  const Eigen::VectorXd sq_norms = gram.diagonal();
  TRIBUTARY_RETURN_IF_ERROR(
      CheckFiniteRows("flag", std::span<const double>(sq_norms.data(), sq_norms.size())));
  Eigen::VectorXd inv_norm(p);
  for (Eigen::Index i = 0; i < p; ++i) {
    inv_norm(i) = sq_norms(i) > 0.0 ? 1.0 / std::sqrt(sq_norms(i)) : 0.0;
  }
  // K of the normalized updates, with an exact unit diagonal.
  Eigen::MatrixXd k = inv_norm.asDiagonal() * gram * inv_norm.asDiagonal();
  for (Eigen::Index i = 0; i < p; ++i) k(i, i) = inv_norm(i) > 0.0 ? 1.0 : 0.0;

  Eigen::MatrixXd basis(p, 0);                       // Y = X·basis; Y₀ = 0
  Eigen::MatrixXd proj = Eigen::MatrixXd::Zero(p, p);  // P = XᵀY·YᵀX
  double objective = Objective(proj);
  for (int it = 0; it < params.max_iters && objective > kObjectiveFloor; ++it) {
    const Eigen::MatrixXd g_half = SqrtPsd(ScatterWeights(proj, params.lambda));
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(g_half * k * g_half);
    const Eigen::VectorXd& ev = es.eigenvalues();  // ascending
    const double cutoff = kRankCutoff * ev(p - 1);
    if (!(ev(p - 1) > 0.0)) break;  // every update is zero
    Eigen::Index r = 0;
    while (r < static_cast<Eigen::Index>(m) && ev(p - 1 - r) > cutoff) ++r;
    const Eigen::MatrixXd next = g_half * es.eigenvectors().rightCols(r) *
                                 ev.tail(r).cwiseSqrt().cwiseInverse().asDiagonal();
    const Eigen::MatrixXd kb = k * next;
    const Eigen::MatrixXd next_proj = kb * kb.transpose();
    const double next_objective = Objective(next_proj);
    const double decrease = objective - next_objective;
    if (decrease > 0.0) {
      basis = next;
      proj = next_proj;
      objective = next_objective;
    }
    if (!(decrease > params.tolerance)) break;
  }
  // (1/m)·Y·Yᵀ·Σ x_i = X·(basis·basisᵀ·K·1)/m, then back from x_i to g_i.
  const Eigen::VectorXd c =
      basis * (basis.transpose() * (k * Eigen::VectorXd::Ones(p))) / static_cast<double>(m);
  return Eigen::VectorXd(c.cwiseProduct(inv_norm));
}

Status FlagAggregate(UpdateViews updates, const FlagParams& params, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("flag", updates, 2, out));
  TRIBUTARY_ASSIGN_OR_RETURN(Eigen::VectorXd c, FlagCoefficients(Gram(updates), params));
  WeightedSum(updates, std::span<const double>(c.data(), c.size()), out);
  return Status::Ok();
}

}  // namespace tributary::robust
