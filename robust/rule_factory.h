// CreateRule: the one factory for the rules of robust/, by name, from RuleOptions.
//
// Names: fedavg (weighted mean, associative), flag, krum, multikrum, bulyan, median,
// trimmed-mean, geomed, cclip, normclip, normalized-mean. The math lives in the free functions
// of the per-rule headers; the rules returned here hold the round's update views (valid until
// Finish(), per AggregationRule) and run that math at Finish(). cclip keeps its previous
// aggregate across rounds as its next starting point.
//
// Preconditions are checked as early as they can be: option values and options the rule does
// not use at creation; n-dependent ones (n >= 2f+3 for Krum, n >= 4f+3 for Bulyan, n > 2f for
// the trimmed mean, m < n for Flag) at Begin() when the round announces its expected number of
// updates, and always at Finish().
//
// Thread safety: CreateRule is thread-safe; each rule object is driven by one thread at a time.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "common/result.h"
#include "robust/robust_rule.h"
#include "robust/rule_options.h"

namespace tributary::robust {

// The rule names CreateRule accepts.
std::span<const std::string_view> RuleNames();

// The RuleOptions fields `rule` uses, by their CLI names ("f", "m", "lambda", "iters",
// "tolerance", "nu", "tau", "clip_norm"); empty for an unknown rule.
std::span<const std::string_view> ParameterNames(std::string_view rule);

// Errors: InvalidArgument for an unknown name, an out-of-range value, or a set option the rule
// does not use.
Result<std::unique_ptr<RobustRule>> CreateRule(std::string_view name, const RuleOptions& options);

}  // namespace tributary::robust
