#include "gpu/host_pinning.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "gpu/rule_factory.h"
#ifdef TRIBUTARY_HAVE_CUDA
#include "gpu/cuda_backend_loader.h"
#endif

namespace tributary::gpu {

#ifdef TRIBUTARY_HAVE_CUDA
struct HostPinning::Registration {
  std::unique_ptr<cuda::PinnedHostMemory> pages;
};
#else
struct HostPinning::Registration {};
#endif

HostPinning::HostPinning(std::unique_ptr<Registration> registration)
    : registration_(std::move(registration)) {}

HostPinning::~HostPinning() = default;

std::unique_ptr<HostPinning> HostPinning::ForRule(DeviceChoice choice, std::string_view rule,
                                                  std::span<const std::byte> region) {
  std::unique_ptr<Registration> registration;
#ifdef TRIBUTARY_HAVE_CUDA
  if (choice != DeviceChoice::kCpu && !region.empty() && HasCudaImplementation(rule) &&
      ProbeCudaDevice().has_value()) {
    Result<const cuda::CudaBackend*> backend = LoadCudaBackend();
    if (!backend) {  // best effort, as the pinning itself: the rule's creation reports it
      spdlog::warn("cuda: {} bytes of host memory stay pageable for rule {}: {}", region.size(),
                   rule, backend.error().message());
    } else {
      registration.reset(new Registration{(*backend)->pin_host_memory(region)});
      spdlog::info("cuda: pinned {} of {} bytes of host memory for rule {}",
                   registration->pages->locked_bytes(), region.size(), rule);
    }
  }
#endif
  return std::unique_ptr<HostPinning>(new HostPinning(std::move(registration)));
}

std::size_t HostPinning::locked_bytes() const {
#ifdef TRIBUTARY_HAVE_CUDA
  if (registration_) return registration_->pages->locked_bytes();
#endif
  return 0;
}

}  // namespace tributary::gpu
