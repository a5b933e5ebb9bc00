// Centered clipping (Karimireddy, He & Jaggi 2021):
//   v_{l+1} = v_l + (1/n) Σ_i (x_i − v_l) · min(1, τ / ‖x_i − v_l‖),   l = 0 .. L−1,
// starting from v_0 = the previous round's aggregate (the rule object keeps it across rounds;
// zero on the first round, as in the authors' code and ByzFL). Each iteration makes two passes
// over the updates (distances, then the clipped step). Updates holding Inf/NaN are an error.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <span>

#include "common/status.h"
#include "robust/update_views.h"

namespace tributary::robust {

struct CenteredClippingParams {
  double tau = 10.0;  // clipping radius τ > 0 (Karimireddy et al.'s code; ByzFL uses 100)
  int iters = 3;      // clipping iterations L >= 1 (Karimireddy et al.'s code; ByzFL uses 1)
};

// center: v_0, empty for the zero vector, else of the update dimension.
Status CenteredClipping(UpdateViews updates, std::span<const double> center,
                        const CenteredClippingParams& params, std::span<double> out);

}  // namespace tributary::robust
