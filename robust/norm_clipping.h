// Norm clipping: x_i ← x_i · min(1, c / ‖x_i‖), then the mean. c is static, or (unset) the
// median of this round's update norms (adaptive, scale-free). Updates holding Inf/NaN are an
// error.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <optional>
#include <span>

#include "common/status.h"
#include "robust/update_views.h"

namespace tributary::robust {

// clip_norm: c > 0, or unset for the median norm.
Status NormClipping(UpdateViews updates, std::optional<double> clip_norm, std::span<double> out);

}  // namespace tributary::robust
