// CreateRule with a device: robust/'s rules on the backend chosen at run time (device.h). The
// CPU rules are robust::CreateRule's; the CUDA rules (gpu/cuda/cuda_rule.h) compute the same
// aggregates, within 1e-5 relative for sums and the Gram-based rules (Krum, Multi-Krum, Bulyan,
// Flag) and exactly for the median and the trimmed mean. Both are robust::RobustRule objects,
// so callers (the aggregator worker, `tributary aggregate`) see one AggregationRule either way.
// The log says where each rule runs and why.
//
// Thread safety: thread-safe; each rule object is driven by one thread at a time.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "common/result.h"
#include "gpu/device.h"
#include "robust/robust_rule.h"
#include "robust/rule_options.h"

namespace tributary::gpu {

// The rules with a CUDA implementation: fedavg, krum, multikrum, bulyan, flag, median,
// trimmed-mean. (Others, e.g. geomed and cclip, iterate over the data; they run on the CPU.)
std::span<const std::string_view> CudaRuleNames();
bool HasCudaImplementation(std::string_view rule);

// Errors: robust::CreateRule's, and ResolveBackend's (--device cuda without a device).
Result<std::unique_ptr<robust::RobustRule>> CreateRule(std::string_view name,
                                                       const robust::RuleOptions& options,
                                                       DeviceChoice device);

}  // namespace tributary::gpu
