#include "robust/robust_rule.h"

#include <cmath>
#include <cstddef>
#include <string>

namespace tributary::robust {
namespace {

// Loops over a whole model run on every core; small ones on the caller's thread.
constexpr std::ptrdiff_t kParallelFrom = std::ptrdiff_t{1} << 16;

Status NotFinite(std::string_view rule) {
  return Status::FailedPrecondition(
      std::string(rule) +
      ": the aggregate is not finite (more non-finite updates than the rule can discard)");
}

}  // namespace

Status RobustRule::FinishDouble(std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(Compute(out));
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(out.size());
  int finite = 1;
#pragma omp parallel for reduction(& : finite) schedule(static) if (n >= kParallelFrom)
  for (std::ptrdiff_t k = 0; k < n; ++k) finite &= std::isfinite(out[k]) ? 1 : 0;
  return finite ? Status::Ok() : NotFinite(Name());
}

Status RobustRule::Finish(std::span<float> out) {
  const std::span<double> aggregate = FinishScratch(out.size());
  TRIBUTARY_RETURN_IF_ERROR(Compute(aggregate));
  // One pass: the double aggregate must be finite, and so must its rounding to float.
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(out.size());
  int finite = 1, fits = 1;
#pragma omp parallel for reduction(& : finite, fits) schedule(static) if (n >= kParallelFrom)
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    finite &= std::isfinite(aggregate[k]) ? 1 : 0;
    out[k] = static_cast<float>(aggregate[k]);
    fits &= std::isfinite(out[k]) ? 1 : 0;
  }
  if (!finite) return NotFinite(Name());
  if (!fits) return Status::OutOfRange(std::string(Name()) + ": the aggregate exceeds the float range");
  return Status::Ok();
}

std::span<double> RobustRule::FinishScratch(std::size_t n) {
  scratch_.resize(n);
  return scratch_;
}

}  // namespace tributary::robust
