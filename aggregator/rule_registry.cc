#include "aggregator/rule_registry.h"

#include <algorithm>
#include <cmath>

#include "aggregator/fedavg_rule.h"
#include "aggregator/plugin_rule.h"
#include "aggregator/python_rule.h"
#include "gpu/rule_factory.h"
#include "robust/rule_factory.h"

namespace tributary::aggregator {
namespace {

constexpr std::string_view kPluginPrefix = "plugin:";
constexpr std::string_view kPythonPrefix = "python:";

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
                                                    const RuleParams& params,
                                                    gpu::DeviceChoice device) {
  if (name.starts_with(kPluginPrefix)) {
    return CreatePluginRule(name.substr(kPluginPrefix.size()), params);
  }
  if (name.starts_with(kPythonPrefix)) {
    if (!params.empty()) {
      return Status::InvalidArgument("python rules take no parameters");
    }
    return CreatePythonRule(name.substr(kPythonPrefix.size()));
  }
  if (IsBuiltIn(name)) {
    if (!params.empty()) {
      return Status::InvalidArgument("rule '" + std::string(name) + "' takes no parameters");
    }
    if (name == "fedavg" && device != gpu::DeviceChoice::kCpu) {
      // The weighted mean on CUDA when there is a device; FedAvgRule's float folding otherwise.
      TRIBUTARY_ASSIGN_OR_RETURN(
          gpu::ResolvedBackend resolved,
          gpu::ResolveBackend(device, gpu::HasCudaImplementation(name), gpu::ProbeCudaDevice()));
      if (resolved.backend == gpu::Backend::kCuda) {
        TRIBUTARY_ASSIGN_OR_RETURN(auto rule, gpu::CreateRule(name, {}, device));
        return std::unique_ptr<AggregationRule>(std::move(rule));
      }
    }
    const auto output = name == "fedavg" ? FedAvgRule::Output::kMean : FedAvgRule::Output::kSum;
    return std::unique_ptr<AggregationRule>(new FedAvgRule(output));
  }
  const auto robust_names = robust::RuleNames();
  if (std::find(robust_names.begin(), robust_names.end(), name) == robust_names.end()) {
    std::string known;
    for (const auto& n : KnownRules()) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound("unknown aggregation rule '" + std::string(name) + "' (known: " +
                            known + "; user rules: plugin:NAME, python:module.func)");
  }
  TRIBUTARY_ASSIGN_OR_RETURN(auto options, ToOptions(name, params));
  TRIBUTARY_ASSIGN_OR_RETURN(auto rule, gpu::CreateRule(name, options, device));
  return std::unique_ptr<AggregationRule>(std::move(rule));
}

Status CheckRule(std::string_view name, const RuleParams& params, std::size_t min_updates) {
  if (name.starts_with(kPluginPrefix)) {
    return FindRulePlugin(name.substr(kPluginPrefix.size())).status();
  }
  if (name.starts_with(kPythonPrefix)) {
    if (!params.empty()) return Status::InvalidArgument("python rules take no parameters");
    return CheckPythonTarget(name.substr(kPythonPrefix.size()));
  }
  TRIBUTARY_ASSIGN_OR_RETURN(auto rule, CreateRule(name, params));
  // Preconditions that depend on the number of updates (Krum: n >= 2f+3, ...) are checked
  // against the fewest a round may close with.
  Status fits = rule->Begin({.round = 1, .dim = 1, .expected_updates = min_updates});
  if (!fits.ok()) {
    return Status::InvalidArgument("rule " + std::string(name) + " with rounds of " +
                                   std::to_string(min_updates) +
                                   " updates or more: " + fits.message());
  }
  return Status::Ok();
}

std::vector<std::string> KnownRules() {
  std::vector<std::string> names = {"fedavg", "weighted-sum"};
  for (auto n : robust::RuleNames()) {
    if (!IsBuiltIn(n)) names.emplace_back(n);
  }
  for (const auto& p : LoadedRulePlugins()) names.push_back(std::string(kPluginPrefix) + p.name);
  return names;
}

bool SplitsByCoordinate(std::string_view name) {
  return IsBuiltIn(name) || name == "median" || name == "trimmed-mean";
}

}  // namespace tributary::aggregator
