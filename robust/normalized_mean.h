// Mean of normalized updates: (1/n) Σ x_i / ‖x_i‖ (a zero update has no direction and adds
// nothing). The baseline next to the Flag Aggregator: per-update normalization is where most
// of FA's robustness to magnitude attacks comes from (research/robust.md §1.6). Updates holding
// Inf/NaN are an error.
//
// Thread safety: pure function; it uses OpenMP threads internally.
#pragma once

#include <span>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "robust/update_views.h"

namespace tributary::robust {

Status NormalizedMean(UpdateViews updates, std::span<double> out);

// The rule as Σ c_i x_i: the coefficients from the updates' squared norms (gpu/ computes the
// norms and the sum on the device). Errors as NormalizedMean's.
Result<std::vector<double>> NormalizedMeanCoefficients(std::span<const double> squared_norms);

}  // namespace tributary::robust
