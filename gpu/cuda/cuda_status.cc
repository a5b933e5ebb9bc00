#include "gpu/cuda/cuda_status.h"

#include <string>

namespace tributary::gpu::cuda {

Status CudaStatus(cudaError_t error, std::string_view what) {
  if (error == cudaSuccess) return Status::Ok();
  const std::string message = std::string(what) + ": " + cudaGetErrorName(error) + " (" +
                              cudaGetErrorString(error) + ")";
  if (error == cudaErrorMemoryAllocation) return Status::ResourceExhausted(message);
  return Status::Internal(message);
}

Status CublasStatus(cublasStatus_t status, std::string_view what) {
  if (status == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Status::Internal(std::string(what) + ": " + cublasGetStatusName(status) + " (" +
                          cublasGetStatusString(status) + ")");
}

}  // namespace tributary::gpu::cuda
