// CudaBackend: what the CUDA backend, the shared library libtributary_gpu_cuda.so, offers the
// binary that loads it (gpu/cuda_backend_loader.h).
//
// The backend is loaded on first use rather than linked: cuBLAS's static initialisers cost every
// process that links it about half a second of CPU and 85 MB of private memory at its start,
// and most processes (the CLI, the gateway, every aggregator of a node without a GPU) never run
// a rule on a device. The loader and the library are built together; kAbiVersion catches a
// library left over from another build.
//
// Thread safety: the functions are thread-safe; the objects they return have one owner each.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "common/result.h"
#include "robust/robust_rule.h"
#include "robust/rule_options.h"

namespace tributary::gpu::cuda {

// Host memory held page-locked for the device while the object lives (host_registration.h).
class PinnedHostMemory {
 public:
  virtual ~PinnedHostMemory() = default;
  // Bytes page-locked (0 when CUDA refused them: they stay pageable and still work).
  virtual std::size_t locked_bytes() const = 0;
};

struct CudaBackend {
  static constexpr int kAbiVersion = 1;
  int abi_version = kAbiVersion;
  // CreateCudaRule (cuda_rule.h) with the default chunk size.
  Result<std::unique_ptr<robust::RobustRule>> (*create_rule)(std::string_view name,
                                                             const robust::RuleOptions& options);
  // Page-locks `region` (best effort). REQUIRES: `region` outlives the returned object.
  std::unique_ptr<PinnedHostMemory> (*pin_host_memory)(std::span<const std::byte> region);
};

}  // namespace tributary::gpu::cuda

// The library's one entry point, looked up by name.
extern "C" const tributary::gpu::cuda::CudaBackend* tributary_gpu_cuda_backend();
