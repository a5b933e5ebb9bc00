// Coordinate-wise rules (Yin et al. 2018): the median and the trimmed mean of each coordinate.
//
// Median: for even n, the mean of the two middle values (numpy's convention, not torch's lower
// middle). Trimmed mean: per coordinate, drop the f largest and the f smallest values and
// average the n − 2f others (f = 0 is the mean); requires n > 2f.
// Non-finite values: NaN is ordered as +Inf, so up to f (trimmed mean) or fewer than half
// (median) non-finite values per coordinate are discarded; beyond that the result is
// non-finite, which the rule wrapper reports as an error.
//
// Thread safety: pure functions; they use OpenMP threads internally.
#pragma once

#include <cstddef>
#include <span>

#include "common/status.h"
#include "robust/update_views.h"

namespace tributary::robust {

Status CoordinateMedian(UpdateViews updates, std::span<double> out);
Status TrimmedMean(UpdateViews updates, std::size_t f, std::span<double> out);

// The median of `values` (mean of the two middle ones for an even count); reorders them.
// REQUIRES: !values.empty().
double MedianInPlace(std::span<double> values);

}  // namespace tributary::robust
