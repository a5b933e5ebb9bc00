// ChunkPipeline: streams a round's updates from host memory through the GPU in chunks of
// coordinates, so that models larger than device memory aggregate too.
//
// Two chunks are in flight, each on its own stream with its own device buffer (a "slot"):
// while the kernels of chunk c run on one stream, the rows of chunk c+1 are copied on the
// other. The caller's host buffers are page-locked for the run (host_registration.h), so the
// copies are asynchronous DMA. Per-chunk work is the caller's: a callback enqueues it on the
// chunk's stream and may keep per-slot accumulators (the two slots run concurrently).
//
// Rows can also be kept on the device, in one matrix of every row, when they fit in half the
// free device memory: staged one by one as the round's updates arrive (Stage), so that the
// copies overlap the round instead of delaying its end, or copied by a first pass that asks to
// keep them (the Gram matrix before a weighted sum). A run over exactly the kept updates copies
// nothing; a run over some of them copies their rows on the device. Host-to-device bandwidth
// (tens of GB/s) is what bounds a round from host memory, so this is where the time goes. The
// caller says when the views become invalid (Forget); the matrix stays allocated for the next
// round, so it holds the device memory of the largest round seen.
//
// Thread safety: one Run at a time per object; the object may be reused across rounds (its
// streams and buffers are kept).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

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
  // or with the first error. keep: keep the rows on the device for later runs, when they fit.
  // A run over exactly the kept updates copies nothing. REQUIRES: CheckUpdates passed.
  Status Run(robust::UpdateViews updates, std::span<double> host_out,
             const std::function<Status(const DeviceChunk&)>& compute, bool keep = false);

  // Starts copying `update` to the device as the next kept row, while the round's other
  // updates still arrive, so that a later Run over the staged updates copies nothing. Only
  // page-locked updates are staged (others are copied by the run); staging stops for the round
  // when the rows no longer fit or their lengths differ. REQUIRES: `update` stays valid and
  // unchanged until Forget().
  Status Stage(robust::UpdateView update);
  // Whether the rows of exactly these updates are on the device, kept by a run or staged.
  bool Holds(robust::UpdateViews updates) const;
  // The kept rows' host memory may change from now on: the next run copies again, and staging
  // starts afresh.
  void Forget() {
    kept_.clear();
    staging_stopped_ = false;
  }

 private:
  explicit ChunkPipeline(std::size_t chunk_bytes) : chunk_bytes_(chunk_bytes) {}
  Status Synchronize();
  // Makes `kept_matrix_` hold `rows` rows of `stride` floats, keeping its first `preserved`
  // rows (of the same stride), if that fits in half the free device memory; false otherwise.
  Result<bool> ReserveKept(std::size_t rows, std::size_t stride, std::size_t preserved = 0);

  const std::size_t chunk_bytes_;
  cudaStream_t streams_[kSlots] = {};
  float* buffers_[kSlots] = {};
  float* kept_matrix_ = nullptr;  // row i at kept_matrix_ + i * kept_stride_
  std::size_t kept_capacity_ = 0;  // floats
  std::size_t kept_stride_ = 0;
  std::vector<robust::UpdateView> kept_;  // empty when nothing is held
  bool staging_stopped_ = false;
};

}  // namespace tributary::gpu::cuda
