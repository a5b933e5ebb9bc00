#include "robust/robust_rule.h"

#include <cmath>
#include <string>

namespace tributary::robust {

Status RobustRule::FinishDouble(std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(Compute(out));
  for (double v : out) {
    if (!std::isfinite(v)) {
      return Status::FailedPrecondition(
          std::string(Name()) +
          ": the aggregate is not finite (more non-finite updates than the rule can discard)");
    }
  }
  return Status::Ok();
}

Status RobustRule::Finish(std::span<float> out) {
  scratch_.resize(out.size());
  TRIBUTARY_RETURN_IF_ERROR(FinishDouble(scratch_));
  for (std::size_t k = 0; k < out.size(); ++k) {
    out[k] = static_cast<float>(scratch_[k]);
    if (!std::isfinite(out[k])) {
      return Status::OutOfRange(std::string(Name()) + ": the aggregate exceeds the float range");
    }
  }
  return Status::Ok();
}

}  // namespace tributary::robust
