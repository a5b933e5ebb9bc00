// Linear combinations of updates, the last step of most rules (Krum copies one update,
// Multi-Krum averages a subset, Flag and the geometric median weight every update), and the
// weighted mean behind FedAvg.
//
// Updates whose coefficient is exactly zero are not read at all, so a discarded update holding
// Inf/NaN cannot leak into the result (0·Inf would be NaN).
//
// Thread safety: pure functions; WeightedSum uses OpenMP threads internally.
#pragma once

#include <span>

#include "common/status.h"
#include "robust/update_views.h"

namespace tributary::robust {

// out[k] = Σ_i coefficients[i] · updates[i][k].
// REQUIRES: CheckUpdates passed; coefficients.size() == updates.size().
void WeightedSum(UpdateViews updates, std::span<const double> coefficients, std::span<double> out);

// acc[k] += weight · update[k]: one update folded into a running sum. REQUIRES: equal sizes.
void AddScaled(UpdateView update, double weight, std::span<double> acc);

// out = Σ w_i x_i / Σ w_i (FedAvg: w_i is client i's number of examples). Errors on a size
// mismatch or a weight that is not finite and > 0. Non-finite updates give a non-finite result.
Status WeightedMean(UpdateViews updates, std::span<const double> weights, std::span<double> out);

}  // namespace tributary::robust
