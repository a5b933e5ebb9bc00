// RoundReference: the model a round of `tributary sim` must publish, recomputed from the
// synthetic updates of the clients the round accepted.
//
// How each rule is checked:
// - fedavg: recomputed independently, as the weighted mean in double precision.
// - the robust rules and weighted-sum: run here on the CPU, through the factory an aggregator
//   uses, over the regenerated updates. That checks the data path (every accepted update reached
//   the rule whole, and nothing else did), not the rule's math, which tests/robust checks against
//   the definitions.
// - user rules (plugin:NAME, python:module.func) run code this process does not have: their
//   rounds are pulled but not verified (unverified_reason() says so).
// Delta jobs publish previous + server-lr × aggregate; Expected() takes the previous model the
// caller pulled.
//
// Memory: fedavg streams one update at a time; the other rules hold the round's updates, as the
// aggregator does (clients × params floats).
//
// Thread safety: Expected() may be called from any thread, for the rounds in order; the
// aggregate of a round is computed once and shared, so that a rule carrying state from round to
// round (cclip's centre) sees each round once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "aggregator/aggregation_rule.h"
#include "common/result.h"
#include "tributary/v1/job.pb.h"

namespace tributary::cli {

class RoundReference {
 public:
  // The reference for rounds of the job `spec`, whose clients push SyntheticUpdate(seed, ...).
  // `first_round`: the first round the simulation takes part in. Errors: InvalidArgument for a
  // coded job (its clients push coded task results, not plain updates).
  static Result<std::unique_ptr<RoundReference>> ForJob(const v1::JobSpec& spec, uint64_t seed,
                                                        uint32_t first_round);

  // Why the rounds cannot be verified here; empty when they can.
  const std::string& unverified_reason() const { return unverified_reason_; }

  // The model `round` must publish when `clients` (indices of SyntheticUpdate) were accepted;
  // `previous` is the model before the round (read by delta jobs only). REQUIRES: the rounds
  // are verifiable; previous.size() is the model size for delta jobs.
  Result<std::vector<double>> Expected(uint32_t round, std::span<const uint64_t> clients,
                                       std::span<const float> previous);

 private:
  RoundReference(const v1::JobSpec& spec, uint64_t seed) : spec_(spec), seed_(seed) {}

  // The rule's aggregate of the round, computed at the first call for that round.
  Result<std::shared_ptr<const std::vector<double>>> Aggregate(uint32_t round,
                                                               std::span<const uint64_t> clients);

  const v1::JobSpec spec_;
  const uint64_t seed_;
  std::string unverified_reason_;
  std::unique_ptr<aggregator::AggregationRule> rule_;  // null for fedavg (computed in double)

  std::mutex mu_;
  uint32_t cached_round_ = 0;
  std::shared_ptr<const std::vector<double>> cached_;
};

}  // namespace tributary::cli
