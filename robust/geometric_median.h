// Geometric median by smoothed Weiszfeld iterations (Pillutla et al.'s RFA; ByzFL's
// GeometricMedian): z ← Σ β_i x_i / Σ β_i with β_i = 1 / max(ν, ‖z − x_i‖), from z = 0.
//
// Every iterate is a combination z = Σ a_i x_i of the updates, so after one Gram matrix
// (O(n²d)) the iterations run on n-vectors (‖z − x_i‖² = aᵀKa − 2(Ka)_i + K_ii) and the
// update data is read once more at the end: the cost does not grow with the iterations in d.
// Stops after max_iters iterations or when ‖z_new − z‖ ≤ tolerance·‖z_new‖. Translation
// equivariant once converged (the start z = 0 is not). Updates holding Inf/NaN are an error.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <span>

#include "common/status.h"
#include "robust/update_views.h"

namespace tributary::robust {

struct GeometricMedianParams {
  double nu = 0.1;           // smoothing ν > 0: distances below ν count as ν (ByzFL's default)
  int max_iters = 100;       // Weiszfeld iterations >= 1 (ByzFL uses 3, Blades 100)
  double tolerance = 1e-8;   // relative step size that ends the iterations early (>= 0)
};

Status GeometricMedian(UpdateViews updates, const GeometricMedianParams& params,
                       std::span<double> out);

}  // namespace tributary::robust
