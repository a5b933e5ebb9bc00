// The aggregation rules a job may name, and the factory that builds them.
//
// Built in: "fedavg" (weighted mean, folded eagerly) and "weighted-sum" (what coded jobs
// publish). Every rule of robust/ (krum, multikrum, bulyan, median, trimmed-mean, geomed, flag,
// cclip, normclip, normalized-mean) is available with its parameters by name. Thread-safe
// (stateless).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/aggregation_rule.h"
#include "common/result.h"

namespace tributary::aggregator {

// Rule parameters by name (f, m, lambda, iters, tolerance, nu, tau, clip_norm).
using RuleParams = std::map<std::string, double>;

// A new rule object for `name`; NOT_FOUND (listing the known names) when there is none,
// INVALID_ARGUMENT for a parameter the rule does not take or an out-of-range value.
Result<std::unique_ptr<AggregationRule>> CreateRule(std::string_view name,
                                                    const RuleParams& params = {});

// The names CreateRule accepts.
std::vector<std::string> KnownRules();

// True when the rule treats every coordinate on its own (sums, coordinate-wise median and
// trimmed mean), so a model may be split into shards aggregated apart. Rules that compare
// whole updates (Krum, Flag, ...) see the whole model in one shard.
bool SplitsByCoordinate(std::string_view name);

}  // namespace tributary::aggregator
