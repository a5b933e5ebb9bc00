// Aggregation rules from shared-object plug-ins (the C ABI of aggregator/rule_plugin.h).
//
// LoadRulePlugin() opens a plug-in once per process and registers its rule under its name;
// CreatePluginRule() wraps a fresh plug-in state as an AggregationRule. The gateway loads
// plug-ins only to know their names (it never calls a rule function); aggregator processes
// load the same files and run the rules, so a crashing plug-in costs one aggregator process.
//
// Loaded libraries stay loaded until the process exits. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/aggregation_rule.h"
#include "common/result.h"

namespace tributary::aggregator {

struct PluginInfo {
  std::string name;   // the rule is `plugin:<name>`
  std::string path;   // the shared object it came from
  bool associative = false;
};

// Loads the plug-in at `path` and registers its rule. INVALID_ARGUMENT when the file cannot be
// loaded or is not a plug-in of this ABI (entry point, version, name, functions are checked);
// ALREADY_EXISTS when another file registered the same name. Loading a file twice is a no-op.
Result<PluginInfo> LoadRulePlugin(const std::string& path);

// The plug-in registered as `name`; NOT_FOUND (listing the loaded ones) otherwise.
Result<PluginInfo> FindRulePlugin(std::string_view name);

// Every loaded plug-in, by name.
std::vector<PluginInfo> LoadedRulePlugins();

// A new rule object of plug-in `name`; runs the plug-in's create() with `params`.
Result<std::unique_ptr<AggregationRule>> CreatePluginRule(std::string_view name,
                                                          const RuleParams& params);

}  // namespace tributary::aggregator
