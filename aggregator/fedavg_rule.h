// FedAvgRule: the weighted mean of the updates (McMahan et al.), as an AggregationRule; and
// its un-normalised twin, the weighted sum, which coded jobs publish (Σ aᵢ·fᵢ with decoding
// coefficients aᵢ of either sign).
//
// Associative: Add() folds S += w·x in float32 and W += w; Finish() writes S / W (mean) or S
// (sum). The first update is not copied: its view stays valid until Finish() (see
// AggregationRule), so the second Add() writes S = w₁·x₁ + w₂·x₂ in one pass, and a round of
// one update is scaled straight from it into the output (its mean is the update, exactly).
// Either saves a pass over the model per round. S lives in RoundInfo::accumulator when Begin()
// is lent one (the node lends its shard of a pool slot: the round's output, or a tree node's
// partial, where S is then divided in place); otherwise in a buffer of the rule's own, kept
// across rounds, so that after the first round of two updates or more no page is faulted.
// Not thread-safe.
#pragma once

#include <span>
#include <vector>

#include "aggregator/aggregation_rule.h"

namespace tributary::aggregator {

class FedAvgRule final : public AggregationRule {
 public:
  enum class Output {
    kMean,  // "fedavg": S / W; weights must be > 0
    kSum,   // "weighted-sum": S; weights may be any finite value
  };
  explicit FedAvgRule(Output output = Output::kMean) : output_(output) {}

  std::string_view Name() const override {
    return output_ == Output::kMean ? "fedavg" : "weighted-sum";
  }
  bool IsAssociative() const override { return true; }
  Status Begin(const RoundInfo& info) override;
  Status Add(std::span<const float> update, double weight) override;
  Status Finish(std::span<float> out) override;

  // Updates folded since Begin().
  std::size_t count() const { return count_; }

 private:
  float* Sum() { return accumulator_.empty() ? sum_.data() : accumulator_.data(); }

  Output output_;
  std::size_t dim_ = 0;
  std::span<float> accumulator_;   // RoundInfo::accumulator, where S is kept when lent
  std::vector<float> sum_;         // S otherwise, from the second update on
  std::span<const float> first_;  // the first update, until the second comes
  double first_weight_ = 0;
  double total_weight_ = 0;
  std::size_t count_ = 0;
  bool begun_ = false;
};

}  // namespace tributary::aggregator
