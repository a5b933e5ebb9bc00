// The aggregation rules a job may name, and the factory that builds them.
//
// Built in: "fedavg" (weighted mean, folded eagerly) and "weighted-sum" (what coded jobs
// publish). Every rule of robust/ (krum, multikrum, bulyan, median, trimmed-mean, geomed, flag,
// cclip, normclip, normalized-mean) is available with its parameters by name. User rules:
// "plugin:NAME" (a loaded C ABI plug-in, plugin_rule.h) and "python:module.func" (a numpy
// function run by the embedded interpreter, python_rule.h). fedavg and the robust rules run
// on the device the node chose (gpu/device.h): on CUDA where gpu/ has a kernel for them and a
// device is present, on the CPU otherwise. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/aggregation_rule.h"
#include "common/result.h"
#include "gpu/device.h"

namespace tributary::aggregator {

// A new rule object for `name`; NOT_FOUND (listing the known names) when there is none,
// INVALID_ARGUMENT for a parameter the rule does not take or an out-of-range value,
// FAILED_PRECONDITION for DeviceChoice::kCuda without a CUDA device.
Result<std::unique_ptr<AggregationRule>> CreateRule(
    std::string_view name, const RuleParams& params = {},
    gpu::DeviceChoice device = gpu::DeviceChoice::kCpu);

// Checks, in the gateway, that a job may use `name` with `params` in rounds of at least
// `min_updates` updates, without running user code: built-in and robust rules are created and
// begun once; a plug-in must be loaded; a Python target must be well formed and this build
// must embed Python (its import is checked by the first aggregator that runs it).
Status CheckRule(std::string_view name, const RuleParams& params, std::size_t min_updates);

// The names CreateRule accepts (loaded plug-ins included).
std::vector<std::string> KnownRules();

// True when the rule treats every coordinate on its own (sums, coordinate-wise median and
// trimmed mean), so a model may be split into shards aggregated apart. Rules that compare
// whole updates (Krum, Flag, ...) see the whole model in one shard.
bool SplitsByCoordinate(std::string_view name);

}  // namespace tributary::aggregator
