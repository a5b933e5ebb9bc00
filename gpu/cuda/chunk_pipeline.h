// ChunkPipeline: streams a round's updates from host memory through the GPU in chunks of
// coordinates, so that models larger than device memory aggregate too.
//
// Two chunks are in flight, each on its own stream with its own device buffer (a "slot"):
// while the kernels of chunk c run on one stream, the rows of chunk c+1 are copied on the
// other. The caller's host buffers are page-locked for the run (host_registration.h), so the
// copies are asynchronous DMA. Per-chunk work is the caller's: a callback enqueues it on the
// chunk's stream and may keep per-slot accumulators (the two slots run concurrently).
//
// Thread safety: one Run at a time per object; the object may be reused across rounds (its
// streams and buffers are kept).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include <cuda_runtime_api.h>

#include "common/result.h"
#include "gpu/cuda/kernels.h"
#include "robust/update_views.h"

namespace tributary::gpu::cuda {

struct DeviceChunk {
  DeviceRows<float> rows;  // the updates' coordinates [begin, begin + rows.len), on the device
  std::size_t begin = 0;
  int slot = 0;            // 0 or 1: which of the two in-flight chunks
  cudaStream_t stream = nullptr;
};

class ChunkPipeline {
 public:
  static constexpr int kSlots = 2;
  // Device bytes per slot for the rows of one chunk: 256 MiB (1.3M coordinates of 50 updates).
  static constexpr std::size_t kDefaultChunkBytes = std::size_t{256} << 20;

  // chunk_bytes: device memory per slot for rows (the chunk length follows from the number of
  // updates, a multiple of 4 coordinates). Errors when the device memory cannot be allocated.
  static Result<std::unique_ptr<ChunkPipeline>> Create(
      std::size_t chunk_bytes = kDefaultChunkBytes);
  ~ChunkPipeline();
  ChunkPipeline(const ChunkPipeline&) = delete;
  ChunkPipeline& operator=(const ChunkPipeline&) = delete;

  cudaStream_t stream(int slot) const { return streams_[slot]; }

  // For each chunk of the updates' coordinates: copies it to the device, then calls
  // compute(chunk) to enqueue work on chunk.stream (results copied back into `host_out`, which
  // is page-locked along with the updates; it may be empty). Returns once all of it is done,
  // or with the first error. REQUIRES: CheckUpdates passed for `updates`.
  Status Run(robust::UpdateViews updates, std::span<double> host_out,
             const std::function<Status(const DeviceChunk&)>& compute);

 private:
  explicit ChunkPipeline(std::size_t chunk_bytes) : chunk_bytes_(chunk_bytes) {}
  Status Synchronize();

  const std::size_t chunk_bytes_;
  cudaStream_t streams_[kSlots] = {};
  float* buffers_[kSlots] = {};
};

}  // namespace tributary::gpu::cuda
