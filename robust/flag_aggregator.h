// The Flag Aggregator (Almasi et al., ICLR 2024), in Gram form.
//
// Each update is normalized, x_i = g_i/‖g_i‖ (a zero update has no direction and is left at 0).
// A subspace Y (d×m, orthonormal columns) is fitted by iteratively reweighted least squares on
// the flag-median objective J(Y) = Σ_i √(1 − ‖Yᵀx_i‖²) (the surrogate of the Beta-density MLE
// over reconstruction ratios): each step takes the top-m eigenvectors of
//   M = Σ_i w_i² x_i x_iᵀ + Σ_{i≠j} c_ij² (x_i − x_j)(x_i − x_j)ᵀ,
//   w_i = (|1 − ‖Yᵀx_i‖²| + ε)^(−1/4),  c_ij = (|1 − ‖Yᵀ(x_i−x_j)‖²| + ε)^(−1/4) · λ/(p(p−1)),
// over ordered pairs, ε = 1e-7 (FlagIRLS, as in the authors' code). A step is accepted only
// when it decreases J; iterations stop after max_iters or when J decreases by no more than
// `tolerance`. The start is deterministic: Y₀ = 0, i.e. equal first-pass weights. The output
// is (1/m)·Y·Yᵀ·Σ_i x_i, so identical inputs g give (p/m)·g/‖g‖ and m ≥ rank gives
// (1/m)·Σ_i x_i.
//
// Gram form: with K = XᵀX (one SYRK over the data, O(d·p²)), M = X G Xᵀ for a p×p weight matrix
// G (diagonal plus a weighted Laplacian for λ), and the eigenvectors of M are X G^½ V Λ^(−½)
// for the eigenpairs (Λ, V) of G^½ K G^½. Every iteration therefore works on p×p matrices, in
// double precision, and the data is read once more for the output Σ c_i g_i: the cost grows
// neither with λ nor with the iterations in d. Eigenvalues below 1e-12·λ_max are dropped (the
// rank-deficient case). The result is invariant to the order and positive scale of the inputs
// and rotates with them. Updates holding Inf/NaN are an error.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include <Eigen/Core>

#include "common/result.h"
#include "robust/update_views.h"

namespace tributary::robust {

struct FlagParams {
  // Subspace dimension, 1 <= m < p. Unset: the smallest power of two >= p/2, the value the
  // authors' experiment scripts use for every p (7→4, 15→8, 30→16, 60→32).
  std::optional<std::size_t> m{};
  double lambda = 0.0;        // weight λ >= 0 of the pairwise regularizer (authors' default 0)
  int max_iters = 4;          // IRLS iterations >= 1 (the authors' first release used 4)
  double tolerance = 1e-10;   // stop when J decreases by no more than this (>= 0)
};

// The default m for p updates: the smallest power of two >= p/2.
std::size_t FlagDefaultM(std::size_t p);

// Coefficients c with aggregate = Σ_i c_i g_i, from the Gram matrix of the raw updates g_i.
Result<Eigen::VectorXd> FlagCoefficients(const Eigen::MatrixXd& gram, const FlagParams& params);

Status FlagAggregate(UpdateViews updates, const FlagParams& params, std::span<double> out);

}  // namespace tributary::robust
