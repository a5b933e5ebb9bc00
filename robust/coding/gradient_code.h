// GradientCode: a gradient code for n workers tolerating s stragglers, ready to hand out.
//
// Built once per job from (scheme, n, s, seed). The job's data is split into n equal partitions;
// worker i computes the gradients of the partitions in row i of the encoding matrix B and sends
// f_i = sum_j B(i,j) g_j (its WorkerTask: s+1 partitions with their coefficients). When a set of
// workers has arrived, Decode says whether the exact sum sum_j g_j is recoverable and returns the
// coefficients a with sum_i a_i f_i = sum_j g_j (or the least-squares approximation, with its
// residual, beyond s stragglers).
//
// Platform use: Create at job creation; Task(i) at worker join; Decode(arrived) on each arrival
// until Decoding::exact; publish sum_i a_i f_i.
//
// Cyclic codes are checked over the straggler patterns at construction (all of them when
// C(n, s) <= max_patterns, a sample otherwise) and H is redrawn until the worst condition number
// is below target_condition, keeping the best of max_draws draws; construction fails rather than
// return a code worse than max_condition. The condition number multiplies the relative error of
// the coded results: ~1e-16 * cond in double, ~1e-7 * cond when workers send float32.
// Immutable after Create: thread-safe for concurrent readers.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "robust/coding/conditioning.h"
#include "robust/coding/decoder.h"

namespace tributary::robust::coding {

enum class Scheme {
  kFractionalRepetition,  // exact 0/1 decoding; needs (s+1) | n
  kCyclicRepetition,      // any n > s; random real coefficients, conditioning checked
  kAuto,                  // fractional repetition when (s+1) | n, cyclic otherwise
};

// "frc", "cyclic" or "auto"; InvalidArgument otherwise.
Result<Scheme> ParseScheme(std::string_view name);
std::string_view SchemeName(Scheme scheme);

// Workers a code may have: its matrix B is n x n doubles (8 MiB at the limit).
inline constexpr int kMaxWorkers = 1024;

struct CodeOptions {
  Scheme scheme = Scheme::kAuto;
  int n = 0;                      // workers (= partitions); required, 1..kMaxWorkers
  int s = 0;                      // stragglers tolerated; required, 0 <= s < n
  uint64_t seed = 1;              // cyclic only: first draw of H
  double target_condition = 1e4;  // cyclic only: stop redrawing H below this worst cond(B_F)
  double max_condition = 1e8;     // cyclic only: worst cond(B_F) accepted at all
  int max_draws = 8;              // cyclic only: draws of H
  uint64_t max_patterns = 5000;   // cyclic only: exhaustive check up to this many patterns
};

// What one worker computes: sum_k coefficients[k] * gradient(partition partitions[k]).
struct WorkerTask {
  std::vector<int> partitions;
  std::vector<double> coefficients;
};

class GradientCode {
 public:
  // InvalidArgument for bad (n, s) or FRC without (s+1) | n; FailedPrecondition when no cyclic
  // draw reaches max_condition (the message gives the best condition number found).
  static Result<GradientCode> Create(const CodeOptions& options);

  int n() const { return static_cast<int>(b_.rows()); }
  int s() const { return s_; }
  Scheme scheme() const { return scheme_; }  // never kAuto
  // The n x n encoding matrix; row i = worker i, column j = partition j.
  const Eigen::MatrixXd& matrix() const { return b_; }
  // Cyclic: the check of the chosen B, and its 1-based draw of H. FRC: analytic
  // (worst = sqrt(s+1) when there are two groups or more, else 1), patterns = 0, draws = 0.
  const ConditionReport& condition() const { return condition_; }
  int draws() const { return draws_; }

  // REQUIRES: 0 <= worker < n().
  WorkerTask Task(int worker) const;
  // See decoder.h; the ids are validated.
  Result<Decoding> Decode(std::span<const int> arrived,
                          double tolerance = kDefaultDecodeTolerance) const {
    return coding::Decode(b_, arrived, tolerance);
  }

 private:
  GradientCode(Scheme scheme, int s, Eigen::MatrixXd b, ConditionReport condition, int draws)
      : scheme_(scheme), s_(s), b_(std::move(b)), condition_(condition), draws_(draws) {}

  Scheme scheme_;
  int s_;
  Eigen::MatrixXd b_;
  ConditionReport condition_;
  int draws_;
};

}  // namespace tributary::robust::coding
