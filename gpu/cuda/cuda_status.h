// CUDA runtime and cuBLAS errors as Status, converted where they arise (STYLE.md: no
// exception or raw error code leaves gpu/cuda/).
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "common/status.h"

namespace tributary::gpu::cuda {

// OK for cudaSuccess; otherwise Internal (ResourceExhausted for out-of-memory) naming `what`
// and the CUDA error.
Status CudaStatus(cudaError_t error, std::string_view what);
// OK for CUBLAS_STATUS_SUCCESS; otherwise Internal naming `what` and the cuBLAS status.
Status CublasStatus(cublasStatus_t status, std::string_view what);

}  // namespace tributary::gpu::cuda
