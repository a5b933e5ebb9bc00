#include "robust/update_views.h"

#include <cmath>
#include <string>

namespace tributary::robust {

Status CheckUpdates(std::string_view rule, UpdateViews updates, std::size_t min_count,
                    std::span<const double> out) {
  const std::string name(rule);
  if (updates.size() < min_count) {
    return Status::FailedPrecondition(name + ": needs at least " + std::to_string(min_count) +
                                      " updates, got " + std::to_string(updates.size()));
  }
  const std::size_t dim = updates[0].size();
  if (dim == 0) return Status::InvalidArgument(name + ": updates are empty (dimension 0)");
  for (std::size_t i = 1; i < updates.size(); ++i) {
    if (updates[i].size() != dim) {
      return Status::InvalidArgument(name + ": update " + std::to_string(i) + " has " +
                                     std::to_string(updates[i].size()) + " values, update 0 has " +
                                     std::to_string(dim));
    }
  }
  if (out.size() != dim) {
    return Status::InvalidArgument(name + ": output has " + std::to_string(out.size()) +
                                   " values, updates have " + std::to_string(dim));
  }
  return Status::Ok();
}

Status CheckFiniteRows(std::string_view rule, std::span<const double> squared_norms) {
  for (std::size_t i = 0; i < squared_norms.size(); ++i) {
    if (!std::isfinite(squared_norms[i])) {
      return Status::InvalidArgument(std::string(rule) + ": update " + std::to_string(i) +
                                     " has non-finite values (Inf/NaN), which this rule cannot "
                                     "take");
    }
  }
  return Status::Ok();
}

}  // namespace tributary::robust
