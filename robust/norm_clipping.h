// Norm clipping: x_i ← x_i · min(1, c / ‖x_i‖), then the mean. c is static, or (unset) the
// median of this round's update norms (adaptive, scale-free). Updates holding Inf/NaN are an
// error.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "robust/update_views.h"

namespace tributary::robust {

// clip_norm: c > 0, or unset for the median norm.
Status NormClipping(UpdateViews updates, std::optional<double> clip_norm, std::span<double> out);

// The rule as Σ c_i x_i: the coefficients from the updates' squared norms (gpu/ computes the
// norms and the sum on the device). Errors as NormClipping's.
Result<std::vector<double>> NormClippingCoefficients(std::span<const double> squared_norms,
                                                     std::optional<double> clip_norm);

}  // namespace tributary::robust
