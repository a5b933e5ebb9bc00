// The aggregation rules a job may name, and the factory that builds them.
//
// Built in: "fedavg" (weighted mean) and "weighted-sum" (what coded jobs publish).
// Thread-safe (stateless).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/aggregation_rule.h"
#include "common/result.h"

namespace tributary::aggregator {

// A new rule object for `name`; NOT_FOUND (listing the known names) when there is none.
Result<std::unique_ptr<AggregationRule>> CreateRule(std::string_view name);

// The names CreateRule accepts.
std::vector<std::string> KnownRules();

}  // namespace tributary::aggregator
