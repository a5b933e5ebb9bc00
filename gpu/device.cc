#include "gpu/device.h"

#include <string>

#ifdef TRIBUTARY_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace tributary::gpu {
namespace {

Result<std::string> ProbeOnce() {
#ifdef TRIBUTARY_HAVE_CUDA
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    return Status::Unavailable(std::string("no CUDA device: cudaGetDeviceCount: ") +
                               cudaGetErrorString(error));
  }
  if (count == 0) return Status::Unavailable("no CUDA device: cudaGetDeviceCount found none");
  int device = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    return Status::Unavailable("no CUDA device: cannot read the properties of device 0");
  }
  return std::string(prop.name) + ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
         std::to_string(prop.totalGlobalMem >> 20) + " MiB";
#else
  return Status::Unavailable("no CUDA device: this build has no CUDA backend (TRIBUTARY_CUDA=OFF "
                             "or no CUDA toolkit at configure time)");
#endif
}

}  // namespace

Result<DeviceChoice> ParseDeviceChoice(std::string_view text) {
  if (text == "auto") return DeviceChoice::kAuto;
  if (text == "cpu") return DeviceChoice::kCpu;
  if (text == "cuda") return DeviceChoice::kCuda;
  return Status::InvalidArgument("unknown device '" + std::string(text) +
                                 "' (known: auto, cpu, cuda)");
}

std::string_view DeviceChoiceName(DeviceChoice choice) {
  switch (choice) {
    case DeviceChoice::kAuto: return "auto";
    case DeviceChoice::kCpu: return "cpu";
    case DeviceChoice::kCuda: return "cuda";
  }
  return "auto";
}

std::string_view BackendName(Backend backend) {
  return backend == Backend::kCuda ? "cuda" : "cpu";
}

Result<std::string> ProbeCudaDevice() {
  static const Result<std::string> probed = ProbeOnce();
  return probed;
}

Result<ResolvedBackend> ResolveBackend(DeviceChoice choice, bool rule_has_cuda_implementation,
                                       const Result<std::string>& cuda_device) {
  if (choice == DeviceChoice::kCpu) return ResolvedBackend{Backend::kCpu, "--device cpu"};
  if (!cuda_device.has_value()) {
    if (choice == DeviceChoice::kCuda) {
      return Status::FailedPrecondition("--device cuda: " + cuda_device.error().message());
    }
    return ResolvedBackend{Backend::kCpu, cuda_device.error().message()};
  }
  if (!rule_has_cuda_implementation) {
    return ResolvedBackend{Backend::kCpu, "the rule has no CUDA implementation"};
  }
  return ResolvedBackend{Backend::kCuda, cuda_device.value()};
}

}  // namespace tributary::gpu
