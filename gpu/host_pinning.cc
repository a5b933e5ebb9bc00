#include "gpu/host_pinning.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "gpu/rule_factory.h"
#ifdef TRIBUTARY_HAVE_CUDA
#include "gpu/cuda/host_registration.h"
#endif

namespace tributary::gpu {

#ifdef TRIBUTARY_HAVE_CUDA
struct HostPinning::Registration {
  cuda::HostRegistration pages;
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
    const std::pair<const void*, std::size_t> range{region.data(), region.size()};
    registration.reset(new Registration{cuda::HostRegistration({&range, 1})});
    spdlog::info("cuda: pinned {} of {} bytes of host memory for rule {}",
                 registration->pages.locked_bytes(), region.size(), rule);
  }
#endif
  return std::unique_ptr<HostPinning>(new HostPinning(std::move(registration)));
}

std::size_t HostPinning::locked_bytes() const {
#ifdef TRIBUTARY_HAVE_CUDA
  if (registration_) return registration_->pages.locked_bytes();
#endif
  return 0;
}

}  // namespace tributary::gpu
