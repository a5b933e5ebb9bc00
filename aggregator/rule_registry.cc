#include "aggregator/rule_registry.h"

#include <algorithm>
#include <cmath>

#include "aggregator/fedavg_rule.h"
#include "robust/rule_factory.h"

namespace tributary::aggregator {
namespace {

bool IsBuiltIn(std::string_view name) { return name == "fedavg" || name == "weighted-sum"; }

Result<int> WholeNumber(const std::string& name, double v) {
  if (!std::isfinite(v) || v != std::floor(v) || std::abs(v) > 1e9) {
    return Status::InvalidArgument("rule parameter " + name + " must be a whole number");
  }
  return static_cast<int>(v);
}

Result<robust::RuleOptions> ToOptions(std::string_view rule, const RuleParams& params) {
  robust::RuleOptions o;
  const auto uses = robust::ParameterNames(rule);
  for (const auto& [name, value] : params) {
    if (std::find(uses.begin(), uses.end(), name) == uses.end()) {
      std::string list;
      for (auto u : uses) list += (list.empty() ? "" : ", ") + std::string(u);
      return Status::InvalidArgument("rule '" + std::string(rule) + "' does not take parameter '" +
                                     name + "' (it takes: " + (list.empty() ? "none" : list) +
                                     ")");
    }
    if (name == "f") {
      TRIBUTARY_ASSIGN_OR_RETURN(o.f, WholeNumber(name, value));
    } else if (name == "m") {
      TRIBUTARY_ASSIGN_OR_RETURN(o.m, WholeNumber(name, value));
    } else if (name == "iters") {
      TRIBUTARY_ASSIGN_OR_RETURN(o.iters, WholeNumber(name, value));
    } else if (name == "lambda") {
      o.lambda = value;
    } else if (name == "tolerance") {
      o.tolerance = value;
    } else if (name == "nu") {
      o.nu = value;
    } else if (name == "tau") {
      o.tau = value;
    } else if (name == "clip_norm") {
      o.clip_norm = value;
    }
  }
  return o;
}

}  // namespace

Result<std::unique_ptr<AggregationRule>> CreateRule(std::string_view name,
                                                    const RuleParams& params) {
  if (IsBuiltIn(name)) {
    if (!params.empty()) {
      return Status::InvalidArgument("rule '" + std::string(name) + "' takes no parameters");
    }
    const auto output = name == "fedavg" ? FedAvgRule::Output::kMean : FedAvgRule::Output::kSum;
    return std::unique_ptr<AggregationRule>(new FedAvgRule(output));
  }
  const auto robust_names = robust::RuleNames();
  if (std::find(robust_names.begin(), robust_names.end(), name) == robust_names.end()) {
    std::string known;
    for (const auto& n : KnownRules()) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound("unknown aggregation rule '" + std::string(name) + "' (known: " +
                            known + ")");
  }
  TRIBUTARY_ASSIGN_OR_RETURN(auto options, ToOptions(name, params));
  TRIBUTARY_ASSIGN_OR_RETURN(auto rule, robust::CreateRule(name, options));
  return std::unique_ptr<AggregationRule>(std::move(rule));
}

std::vector<std::string> KnownRules() {
  std::vector<std::string> names = {"fedavg", "weighted-sum"};
  for (auto n : robust::RuleNames()) {
    if (!IsBuiltIn(n)) names.emplace_back(n);
  }
  return names;
}

bool SplitsByCoordinate(std::string_view name) {
  return IsBuiltIn(name) || name == "median" || name == "trimmed-mean";
}

}  // namespace tributary::aggregator
