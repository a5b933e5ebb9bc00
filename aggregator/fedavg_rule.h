// FedAvgRule: the weighted mean of the updates (McMahan et al.), as an AggregationRule.
//
// Associative: Add() folds S += w·x in float32 and W += w; Finish() writes S / W. The sum
// buffer is kept across rounds, so after the first round no page is faulted. Not thread-safe.
#pragma once

#include <vector>

#include "aggregator/aggregation_rule.h"

namespace tributary::aggregator {

class FedAvgRule final : public AggregationRule {
 public:
  std::string_view Name() const override { return "fedavg"; }
  bool IsAssociative() const override { return true; }
  Status Begin(const RoundInfo& info) override;
  Status Add(std::span<const float> update, double weight) override;
  Status Finish(std::span<float> out) override;

  // Updates folded since Begin().
  std::size_t count() const { return count_; }

 private:
  std::vector<float> sum_;
  double total_weight_ = 0;
  std::size_t count_ = 0;
  bool begun_ = false;
};

}  // namespace tributary::aggregator
