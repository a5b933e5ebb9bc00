// Mean of normalized updates: (1/n) Σ x_i / ‖x_i‖ (a zero update has no direction and adds
// nothing). The baseline next to the Flag Aggregator: per-update normalization is where most
// of FA's robustness to magnitude attacks comes from (research/robust.md §1.6). Updates holding
// Inf/NaN are an error.
//
// Thread safety: pure function; it uses OpenMP threads internally.
#pragma once

#include <span>

#include "common/status.h"
#include "robust/update_views.h"

namespace tributary::robust {

Status NormalizedMean(UpdateViews updates, std::span<double> out);

}  // namespace tributary::robust
