// UpdateViews: how the robust math sees one round's updates.
//
// A rule is handed n read-only views of d floats each (in shared memory when run by the
// platform); the math never copies them whole. The free functions of robust/ take the views as
// a span of spans and write the aggregate, in double precision, into a caller-owned span.
// Thread safety: the views are only read; callers keep the memory alive and unchanged for the
// duration of a call.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "common/status.h"

namespace tributary::robust {

using UpdateView = std::span<const float>;
using UpdateViews = std::span<const UpdateView>;

// OK when there are at least `min_count` (>= 1) updates, all of the same nonzero length, and
// `out` has that length. `rule` prefixes the error messages.
Status CheckUpdates(std::string_view rule, UpdateViews updates, std::size_t min_count,
                    std::span<const double> out);

// For rules whose math cannot take Inf/NaN (the platform's gateway already rejects them; the
// offline CLI does not): given one double-precision squared norm (or squared distance) per
// update, which is non-finite exactly when the update holds a non-finite value, returns an
// error naming the first such update.
Status CheckFiniteRows(std::string_view rule, std::span<const double> squared_norms);

}  // namespace tributary::robust
