// DeviceReductions: the CUDA counterparts of robust/'s one-pass kernels over a round's updates
// (robust/gram.h, robust/weighted_sum.h, robust/coordinate_wise.h), with the same signatures
// and the same answers: the Gram matrix (one cuBLAS DGEMM per chunk over the updates widened
// to double, as the CPU widens them), weighted sums, squared norms, the coordinate-wise median
// and trimmed mean. Updates stay in host memory and stream through the GPU in chunks
// (chunk_pipeline.h); the rules of robust/ run their small n×n parts on the CPU around them.
// The first passes of two-pass rules (Gram, SquaredNorms) keep the rows on the device when
// they fit, so that the weighted sum that follows over the same updates copies nothing; call
// Forget() once the update views may change.
//
// Thread safety: one call at a time per object (it owns two streams and two cuBLAS handles);
// reuse one object across rounds.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include <cublas_v2.h>
#include <Eigen/Core>

#include "common/result.h"
#include "gpu/cuda/chunk_pipeline.h"
#include "robust/update_views.h"

namespace tributary::gpu::cuda {

class DeviceReductions {
 public:
  // chunk_bytes: see ChunkPipeline::Create. Errors when CUDA or cuBLAS cannot start.
  static Result<std::unique_ptr<DeviceReductions>> Create(
      std::size_t chunk_bytes = ChunkPipeline::kDefaultChunkBytes);
  ~DeviceReductions();
  DeviceReductions(const DeviceReductions&) = delete;
  DeviceReductions& operator=(const DeviceReductions&) = delete;

  // Every function REQUIRES: robust::CheckUpdates passed for `updates` (and `out`).

  // K(i, j) = <updates[i], updates[j]>, as robust::Gram.
  Result<Eigen::MatrixXd> Gram(robust::UpdateViews updates);
  // out[k] = Σ_i coefficients[i] · updates[i][k], as robust::WeightedSum: updates whose
  // coefficient is zero are neither copied nor read.
  Status WeightedSum(robust::UpdateViews updates, std::span<const double> coefficients,
                     std::span<double> out);
  // ‖x_i‖², as robust::SquaredNorms.
  Result<std::vector<double>> SquaredNorms(robust::UpdateViews updates);
  // As robust::CoordinateMedian and robust::TrimmedMean (see kernels.h on exactness).
  // REQUIRES: updates.size() <= kMaxSelectionRows; TrimmedMean: 2f < updates.size().
  Status CoordinateMedian(robust::UpdateViews updates, std::span<double> out);
  Status TrimmedMean(robust::UpdateViews updates, std::size_t f, std::span<double> out);
  // Bulyan's second stage over its selected updates (robust::BulyanFromGram).
  // REQUIRES: 1 <= beta <= updates.size() <= kMaxSelectionRows.
  Status BulyanMean(robust::UpdateViews selected, std::size_t beta, std::span<double> out);

  // Starts copying an update of the round to the device as it arrives (ChunkPipeline::Stage):
  // the reductions over the round's updates then copy nothing.
  Status Stage(robust::UpdateView update) { return pipeline_->Stage(update); }
  // The views given so far may change: nothing kept on the device is reused after this.
  void Forget() { pipeline_->Forget(); }

 private:
  DeviceReductions() = default;
  // Runs `launch(chunk, device_out)` per chunk and copies device_out (chunk.rows.len doubles)
  // back into out at the chunk's offset.
  template <typename Launch>
  Status PerCoordinate(robust::UpdateViews updates, std::span<double> out, Launch launch);
  Status WeightedSumOnDevice(robust::UpdateViews updates, std::span<const double> coefficients,
                             std::span<double> out);

  std::unique_ptr<ChunkPipeline> pipeline_;
  cublasHandle_t blas_[ChunkPipeline::kSlots] = {};  // one per stream: cuBLAS workspaces
};

}  // namespace tributary::gpu::cuda
