#include "aggregator/rule_registry.h"

#include "aggregator/fedavg_rule.h"

namespace tributary::aggregator {

Result<std::unique_ptr<AggregationRule>> CreateRule(std::string_view name) {
  if (name == "fedavg") return std::unique_ptr<AggregationRule>(new FedAvgRule());
  if (name == "weighted-sum") {
    return std::unique_ptr<AggregationRule>(new FedAvgRule(FedAvgRule::Output::kSum));
  }
  std::string known;
  for (const auto& n : KnownRules()) known += (known.empty() ? "" : ", ") + n;
  return Status::NotFound("unknown aggregation rule '" + std::string(name) + "' (known: " +
                          known + ")");
}

std::vector<std::string> KnownRules() { return {"fedavg", "weighted-sum"}; }

}  // namespace tributary::aggregator
