#include "gpu/cuda/chunk_pipeline.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gpu/cuda/cuda_status.h"
#include "gpu/cuda/host_registration.h"

namespace tributary::gpu::cuda {

Result<std::unique_ptr<ChunkPipeline>> ChunkPipeline::Create(std::size_t chunk_bytes) {
  std::unique_ptr<ChunkPipeline> pipeline(new ChunkPipeline(chunk_bytes));
  // Kernels take their scratch with cudaMallocAsync; keep freed memory in the pool instead of
  // returning it to the driver after every chunk.
  cudaMemPool_t pool = nullptr;
  int device = 0;
  TRIBUTARY_RETURN_IF_ERROR(CudaStatus(cudaGetDevice(&device), "cudaGetDevice"));
  TRIBUTARY_RETURN_IF_ERROR(
      CudaStatus(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool"));
  std::uint64_t keep_all = std::numeric_limits<std::uint64_t>::max();
  TRIBUTARY_RETURN_IF_ERROR(CudaStatus(
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all),
      "cudaMemPoolSetAttribute"));
  for (int slot = 0; slot < kSlots; ++slot) {
    TRIBUTARY_RETURN_IF_ERROR(CudaStatus(
        cudaStreamCreateWithFlags(&pipeline->streams_[slot], cudaStreamNonBlocking),
        "cudaStreamCreate"));
    TRIBUTARY_RETURN_IF_ERROR(CudaStatus(
        cudaMalloc(reinterpret_cast<void**>(&pipeline->buffers_[slot]), chunk_bytes),
        "cudaMalloc of a " + std::to_string(chunk_bytes >> 20) + " MiB chunk buffer"));
  }
  return pipeline;
}

ChunkPipeline::~ChunkPipeline() {
  for (int slot = 0; slot < kSlots; ++slot) {
    if (streams_[slot] != nullptr) {
      (void)cudaStreamSynchronize(streams_[slot]);
      (void)cudaStreamDestroy(streams_[slot]);
    }
    if (buffers_[slot] != nullptr) (void)cudaFree(buffers_[slot]);
  }
}

Status ChunkPipeline::Synchronize() {
  Status first;
  for (int slot = 0; slot < kSlots; ++slot) {
    Status s = CudaStatus(cudaStreamSynchronize(streams_[slot]), "cudaStreamSynchronize");
    if (first.ok()) first = std::move(s);
  }
  return first;
}

Status ChunkPipeline::Run(robust::UpdateViews updates, std::span<double> host_out,
                          const std::function<Status(const DeviceChunk&)>& compute) {
  const std::size_t n = updates.size();
  const std::size_t dim = updates[0].size();
  const std::size_t chunk = chunk_bytes_ / (n * sizeof(float)) / 4 * 4;
  if (chunk == 0) {
    return Status::ResourceExhausted("cuda: a chunk buffer of " + std::to_string(chunk_bytes_) +
                                     " bytes cannot hold 4 coordinates of " + std::to_string(n) +
                                     " updates");
  }
  std::vector<std::pair<const void*, std::size_t>> ranges;
  for (const robust::UpdateView& u : updates) ranges.emplace_back(u.data(), u.size_bytes());
  ranges.emplace_back(host_out.data(), host_out.size_bytes());
  const HostRegistration registration(ranges);

  Status status;
  for (std::size_t begin = 0, index = 0; begin < dim && status.ok(); begin += chunk, ++index) {
    const int slot = static_cast<int>(index % kSlots);
    const std::size_t len = std::min(chunk, dim - begin);
    DeviceChunk c{.rows = {.data = buffers_[slot], .stride = chunk, .rows = n, .len = len},
                  .begin = begin,
                  .slot = slot,
                  .stream = streams_[slot]};
    for (std::size_t i = 0; i < n && status.ok(); ++i) {
      status = CudaStatus(cudaMemcpyAsync(buffers_[slot] + i * chunk, updates[i].data() + begin,
                                          len * sizeof(float), cudaMemcpyHostToDevice,
                                          streams_[slot]),
                          "cudaMemcpyAsync of an update chunk");
    }
    if (status.ok()) status = compute(c);
  }
  Status synced = Synchronize();  // also before an error return: the host buffers are unpinned
  return status.ok() ? synced : status;
}

}  // namespace tributary::gpu::cuda
