// Where the robust rules run: the operator's choice (--device auto|cpu|cuda), what this machine
// offers, and the resolution of the two into one backend per rule.
//
// `auto` runs a rule on CUDA when this build has the CUDA backend, a device is present
// (cudaGetDeviceCount > 0) and the rule has a CUDA implementation; otherwise on the CPU.
// `cuda` insists on a device: without one it is an error, so a node that was meant to
// aggregate on its GPU does not quietly fall back to its cores. Rules that have no CUDA
// implementation run on the CPU under every choice (the log says so).
//
// Thread safety: every function is thread-safe; the device probe runs once per process.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace tributary::gpu {

enum class DeviceChoice { kAuto, kCpu, kCuda };
enum class Backend { kCpu, kCuda };

// "auto", "cpu" or "cuda"; InvalidArgument otherwise.
Result<DeviceChoice> ParseDeviceChoice(std::string_view text);
std::string_view DeviceChoiceName(DeviceChoice choice);
std::string_view BackendName(Backend backend);

// What the probe found: OK with the device's name ("NVIDIA H100 80GB HBM3, 132 SMs, 3352 GB/s"),
// or Unavailable saying why there is none (no CUDA in this build, no driver, no device).
Result<std::string> ProbeCudaDevice();

// Where one rule runs, and why (for the log): the device's name, "--device cpu", "no CUDA
// implementation", or the probe's reason for having no device.
struct ResolvedBackend {
  Backend backend = Backend::kCpu;
  std::string reason;
};

// The backend for one rule. `cuda_device` is ProbeCudaDevice()'s answer. Errors only for
// kCuda without a device (FailedPrecondition, with the probe's reason).
Result<ResolvedBackend> ResolveBackend(DeviceChoice choice, bool rule_has_cuda_implementation,
                                       const Result<std::string>& cuda_device);

}  // namespace tributary::gpu
