#include "gpu/rule_factory.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "robust/rule_factory.h"
#ifdef TRIBUTARY_HAVE_CUDA
#include "gpu/cuda_backend_loader.h"
#endif

namespace tributary::gpu {
namespace {

constexpr std::string_view kCudaRules[] = {"fedavg",       "krum",     "multikrum",
                                           "bulyan",       "flag",     "median",
                                           "trimmed-mean", "normclip", "normalized-mean"};

}  // namespace

std::span<const std::string_view> CudaRuleNames() { return kCudaRules; }

bool HasCudaImplementation(std::string_view rule) {
  return std::find(std::begin(kCudaRules), std::end(kCudaRules), rule) != std::end(kCudaRules);
}

Result<std::unique_ptr<robust::RobustRule>> CreateRule(std::string_view name,
                                                       const robust::RuleOptions& options,
                                                       DeviceChoice device) {
  // --device cpu never probes: the probe loads the CUDA driver.
  TRIBUTARY_ASSIGN_OR_RETURN(
      ResolvedBackend resolved,
      ResolveBackend(device, HasCudaImplementation(name),
                     device == DeviceChoice::kCpu ? Result<std::string>(std::string())
                                                  : ProbeCudaDevice()));
#ifdef TRIBUTARY_HAVE_CUDA
  if (resolved.backend == Backend::kCuda) {
    TRIBUTARY_ASSIGN_OR_RETURN(const cuda::CudaBackend* backend, LoadCudaBackend());
    TRIBUTARY_ASSIGN_OR_RETURN(auto rule, backend->create_rule(name, options));
    spdlog::info("rule {}: runs on CUDA ({})", name, resolved.reason);
    return rule;
  }
#endif
  TRIBUTARY_ASSIGN_OR_RETURN(auto rule, robust::CreateRule(name, options));
  spdlog::info("rule {}: runs on the CPU ({})", name, resolved.reason);
  return rule;
}

}  // namespace tributary::gpu
