// RobustRule: the AggregationRule that every rule of robust/ implements.
//
// It adds FinishDouble(), the aggregate in double precision (the offline CLI writes it out
// as float64), and makes Finish() round that to float. Both refuse to return a non-finite
// aggregate: when more updates are non-finite than a rule can discard, the round fails with
// an error instead of publishing Inf/NaN.
//
// Robust rules treat every update alike: the weight passed to Add() (a client's example
// count) is checked but not used, except by fedavg.
//
// Thread safety: one rule object is driven by one thread at a time (the math inside uses
// OpenMP threads).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "aggregator/aggregation_rule.h"
#include "common/status.h"

namespace tributary::robust {

class RobustRule : public aggregator::AggregationRule {
 public:
  // The aggregate of the round's updates in double precision; `out` has info.dim values.
  Status FinishDouble(std::span<double> out);
  // FinishDouble() rounded to float.
  Status Finish(std::span<float> out) final;

 protected:
  // Computes the aggregate; the caller then checks that it is finite.
  virtual Status Compute(std::span<double> out) = 0;
  // Where Finish() has Compute() put the double-precision aggregate: n values, reused across
  // rounds (a CUDA rule gives page-locked memory, which its device copies need).
  virtual std::span<double> FinishScratch(std::size_t n);

 private:
  std::vector<double> scratch_;  // Finish()'s double-precision result, reused across rounds
};

}  // namespace tributary::robust
