#include "robust/coding/gradient_code.h"

#include <cmath>
#include <sstream>
#include <string>

#include "robust/coding/cyclic_repetition.h"
#include "robust/coding/fractional_repetition.h"

namespace tributary::robust::coding {
namespace {

// Successive draws of H use well-separated seeds (splitmix64 increment).
constexpr uint64_t kSeedStride = 0x9e3779b97f4a7c15ULL;

}  // namespace

Result<Scheme> ParseScheme(std::string_view name) {
  if (name == "frc") return Scheme::kFractionalRepetition;
  if (name == "cyclic") return Scheme::kCyclicRepetition;
  if (name == "auto") return Scheme::kAuto;
  return Status::InvalidArgument("unknown coding scheme '" + std::string(name) +
                                 "' (expected frc, cyclic or auto)");
}

std::string_view SchemeName(Scheme scheme) {
  switch (scheme) {
    case Scheme::kFractionalRepetition:
      return "frc";
    case Scheme::kCyclicRepetition:
      return "cyclic";
    case Scheme::kAuto:
      return "auto";
  }
  return "?";
}

Result<GradientCode> GradientCode::Create(const CodeOptions& o) {
  if (o.n < 1 || o.s < 0 || o.s >= o.n) {
    return Status::InvalidArgument("a gradient code needs n >= 1 and 0 <= s < n (got n=" +
                                   std::to_string(o.n) + ", s=" + std::to_string(o.s) + ")");
  }
  if (o.n > kMaxWorkers) {  // B is n x n doubles
    return Status::InvalidArgument("a gradient code takes at most " +
                                   std::to_string(kMaxWorkers) + " workers (got n=" +
                                   std::to_string(o.n) + ")");
  }
  Scheme scheme = o.scheme;
  if (scheme == Scheme::kAuto) {
    scheme = o.n % (o.s + 1) == 0 ? Scheme::kFractionalRepetition : Scheme::kCyclicRepetition;
  }
  if (scheme == Scheme::kCyclicRepetition) {
    if (o.max_draws < 1 || o.max_patterns < 1) {
      return Status::InvalidArgument("cyclic code needs max_draws >= 1 and max_patterns >= 1");
    }
    // Keep the best draw seen; stop at the first that reaches the target.
    ConditionReport best{.worst = INFINITY};
    int best_draw = 0;
    Eigen::MatrixXd best_b;
    for (int draw = 1; draw <= o.max_draws; ++draw) {
      const uint64_t seed = o.seed + (draw - 1) * kSeedStride;
      Result<Eigen::MatrixXd> b = CyclicRepetitionMatrix(o.n, o.s, seed);
      if (!b.has_value()) continue;  // singular block of H: draw again
      // A draw is abandoned as soon as it is worse than the best so far.
      const ConditionReport report =
          WorstSurvivorCondition(*b, o.s, o.max_patterns, seed, best.worst);
      if (report.worst < best.worst) {
        best = report;
        best_draw = draw;
        best_b = std::move(*b);
      }
      if (best.worst <= o.target_condition) break;
    }
    if (best.worst <= o.max_condition) {
      return GradientCode(scheme, o.s, std::move(best_b), best, best_draw);
    }
    std::ostringstream msg;
    msg << "cyclic code n=" << o.n << " s=" << o.s << ": best worst-case condition number "
        << best.worst << " over " << o.max_draws << " draws exceeds " << o.max_condition
        << "; use fractional repetition ((s+1) | n) or a smaller n";
    return Status::FailedPrecondition(msg.str());
  }
  TRIBUTARY_ASSIGN_OR_RETURN(Eigen::MatrixXd b, FractionalRepetitionMatrix(o.n, o.s));
  // Each group of k survivors is a k x (s+1) block of ones, singular value sqrt(k (s+1)), so the
  // worst ratio is sqrt((s+1)/1) once a second group can keep all of its members.
  const ConditionReport analytic{.worst = o.n > o.s + 1 ? std::sqrt(o.s + 1.0) : 1.0};
  return GradientCode(scheme, o.s, std::move(b), analytic, 0);
}

WorkerTask GradientCode::Task(int worker) const {
  WorkerTask task;
  for (int j = 0; j < n(); ++j) {
    if (b_(worker, j) != 0.0) {
      task.partitions.push_back(j);
      task.coefficients.push_back(b_(worker, j));
    }
  }
  return task;
}

}  // namespace tributary::robust::coding
