// AggregationRule: how a round's updates become one aggregate.
//
// The plug-in surface for built-in rules (FedAvg), the robust rules of robust/, and user
// plug-ins. Sized like Flower's Strategy: a rule is told a round begins, is handed each update
// as a read-only view with its weight (the client's number of examples), and is asked for the
// result. Rules never see shared memory, sockets or processes.
//
// Lifetime of views: an update view passed to Add() stays valid until Finish() returns, so a
// non-associative rule may keep the spans instead of copying them. Associative rules fold the
// update eagerly and keep nothing.
//
// Thread safety: one rule object is driven by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tributary::aggregator {

// A job's rule parameters by name (robust rules: f, m, lambda, iters, tolerance, nu, tau,
// clip_norm; plug-ins: whatever they document).
using RuleParams = std::map<std::string, double>;

struct RoundInfo {
  uint64_t round = 0;             // 1-based round number
  std::size_t dim = 0;            // coordinates per update
  std::size_t expected_updates = 0;  // clients asked to report (0: unknown)
  // dim values lent for the round (empty: none), in memory the caller has set aside already
  // (the node: a slot of the job's pool). An associative rule may keep its running state there
  // instead of in a buffer of its own, so that a round costs no memory beyond the pool. Its
  // contents are the rule's until Finish() returns; Finish() may be asked to write into it.
  std::span<float> accumulator{};
};

class AggregationRule {
 public:
  virtual ~AggregationRule() = default;

  // A short stable name ("fedavg", "krum", ...).
  virtual std::string_view Name() const = 0;
  // True when Add() folds the update into a running state (sum-like rules), so updates may be
  // aggregated in any grouping (sharded, hierarchical) with the same result.
  virtual bool IsAssociative() const = 0;

  // Starts a round; discards the per-round state of a previous one (cross-round state such as
  // centered clipping's reference point is kept).
  virtual Status Begin(const RoundInfo& info) = 0;
  // Adds one update of info.dim coordinates. weight > 0.
  virtual Status Add(std::span<const float> update, double weight) = 0;
  // Writes the aggregate (info.dim coordinates) into `out`, which may be info.accumulator. Errors
  // when a precondition of the rule fails (too few updates for the declared number of
  // Byzantine clients, ...).
  virtual Status Finish(std::span<float> out) = 0;
};

}  // namespace tributary::aggregator
