// LoadCudaBackend: the CUDA backend (gpu/cuda/backend.h), loaded into this process the first
// time it is asked for and kept for the process's life.
//
// The library is looked for beside the running executable, then where the dynamic linker looks
// (LD_LIBRARY_PATH, the system's directories), then where the build wrote it.
// Only a process that runs a rule on a device, or pins memory for one, asks for it
// (rule_factory.h, host_pinning.h), and only once the device probe has found a device.
//
// Thread safety: thread-safe; the library is loaded at most once.
#pragma once

#include "common/result.h"
#include "gpu/cuda/backend.h"

namespace tributary::gpu {

// Errors: Unavailable naming each place looked in and why the library did not load there;
// FailedPrecondition for a library of another ABI version.
Result<const cuda::CudaBackend*> LoadCudaBackend();

}  // namespace tributary::gpu
