#include "gpu/cuda/backend.h"

#include <utility>

#include "gpu/cuda/cuda_rule.h"
#include "gpu/cuda/host_registration.h"

namespace tributary::gpu::cuda {
namespace {

class RegisteredHostMemory final : public PinnedHostMemory {
 public:
  explicit RegisteredHostMemory(std::span<const std::pair<const void*, std::size_t>> ranges)
      : pages_(ranges) {}
  std::size_t locked_bytes() const override { return pages_.locked_bytes(); }

 private:
  HostRegistration pages_;
};

Result<std::unique_ptr<robust::RobustRule>> CreateRuleWithDefaultChunks(
    std::string_view name, const robust::RuleOptions& options) {
  return CreateCudaRule(name, options);
}

std::unique_ptr<PinnedHostMemory> PinHostMemory(std::span<const std::byte> region) {
  const std::pair<const void*, std::size_t> range{region.data(), region.size()};
  return std::make_unique<RegisteredHostMemory>(std::span(&range, 1));
}

const CudaBackend kBackend{.create_rule = CreateRuleWithDefaultChunks,
                           .pin_host_memory = PinHostMemory};

}  // namespace
}  // namespace tributary::gpu::cuda

extern "C" const tributary::gpu::cuda::CudaBackend* tributary_gpu_cuda_backend() {
  return &tributary::gpu::cuda::kBackend;
}
