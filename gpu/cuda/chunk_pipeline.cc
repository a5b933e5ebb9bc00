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
  if (kept_matrix_ != nullptr) (void)cudaFree(kept_matrix_);
}

bool ChunkPipeline::Holds(robust::UpdateViews updates) const {
  return !kept_.empty() && std::equal(updates.begin(), updates.end(), kept_.begin(), kept_.end(),
                                      [](const robust::UpdateView& a, const robust::UpdateView& b) {
                                        return a.data() == b.data() && a.size() == b.size();
                                      });
}

Result<bool> ChunkPipeline::ReserveKept(std::size_t rows, std::size_t stride,
                                        std::size_t preserved) {
  const std::size_t floats = rows * stride;
  if (floats <= kept_capacity_) {
    kept_stride_ = stride;
    return true;
  }
  std::size_t free_bytes = 0, total_bytes = 0;
  TRIBUTARY_RETURN_IF_ERROR(
      CudaStatus(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo"));
  const bool preserve = preserved > 0 && kept_matrix_ != nullptr;
  const std::size_t available = free_bytes + (preserve ? 0 : kept_capacity_ * sizeof(float));
  if (floats * sizeof(float) > available / 2) return false;
  TRIBUTARY_RETURN_IF_ERROR(Synchronize());  // the old matrix may still be read or written
  if (!preserve && kept_matrix_ != nullptr) {
    (void)cudaFree(kept_matrix_);
    kept_matrix_ = nullptr;
    kept_capacity_ = 0;
  }
  float* matrix = nullptr;
  TRIBUTARY_RETURN_IF_ERROR(CudaStatus(
      cudaMalloc(reinterpret_cast<void**>(&matrix), floats * sizeof(float)),
      "cudaMalloc of the kept rows"));
  if (preserve) {
    const Status copied = CudaStatus(
        cudaMemcpy(matrix, kept_matrix_, preserved * kept_stride_ * sizeof(float),
                   cudaMemcpyDeviceToDevice),
        "cudaMemcpy of the kept rows");
    (void)cudaFree(kept_matrix_);
    kept_matrix_ = nullptr;
    kept_capacity_ = 0;
    if (!copied.ok()) {
      kept_.clear();
      (void)cudaFree(matrix);
      return copied;
    }
  }
  kept_matrix_ = matrix;
  kept_capacity_ = floats;
  kept_stride_ = stride;
  return true;
}

Status ChunkPipeline::Stage(robust::UpdateView update) {
  const std::size_t stride = (update.size() + 3) / 4 * 4, row = kept_.size();
  if (staging_stopped_ || update.empty()) return Status::Ok();
  // Pageable memory would be copied synchronously at a fraction of the bus's speed, inside
  // Add(): leave it to the run, which page-locks the round's rows and copies them by DMA.
  if (!IsPageLocked(update.data(), update.size_bytes())) return Status::Ok();
  if (row > 0 && stride != kept_stride_) {
    staging_stopped_ = true;  // rows of another length: later runs copy from the host
    return Status::Ok();
  }
  // Room for twice the rows so far (at least 8): few reallocations as a round grows.
  if (row == 0 || (row + 1) * stride > kept_capacity_) {
    TRIBUTARY_ASSIGN_OR_RETURN(bool fits,
                               ReserveKept(std::max<std::size_t>(8, 2 * row), stride, row));
    if (!fits) {
      staging_stopped_ = true;
      return Status::Ok();
    }
  }
  TRIBUTARY_RETURN_IF_ERROR(CudaStatus(
      cudaMemcpyAsync(kept_matrix_ + row * stride, update.data(), update.size_bytes(),
                      cudaMemcpyHostToDevice, streams_[0]),
      "cudaMemcpyAsync of a staged update"));
  kept_.push_back(update);
  return Status::Ok();
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
                          const std::function<Status(const DeviceChunk&)>& compute, bool keep) {
  const std::size_t n = updates.size();
  const std::size_t dim = updates[0].size();
  const std::size_t chunk = chunk_bytes_ / (n * sizeof(float)) / 4 * 4;
  if (chunk == 0) {
    return Status::ResourceExhausted("cuda: a chunk buffer of " + std::to_string(chunk_bytes_) +
                                     " bytes cannot hold 4 coordinates of " + std::to_string(n) +
                                     " updates");
  }
  TRIBUTARY_RETURN_IF_ERROR(Synchronize());  // staged rows are copied on stream 0
  // Where the rows come from and go: all of them already on the device (reuse), or each row
  // from the kept matrix when it is there (a device-to-device copy) and from the host
  // otherwise; into the kept matrix (keep, when it fits) or through the chunk buffers.
  const bool reuse = Holds(updates);
  bool into_kept = false;
  if (!reuse && keep) {
    kept_.clear();
    TRIBUTARY_ASSIGN_OR_RETURN(into_kept, ReserveKept(n, (dim + 3) / 4 * 4));
  }
  std::vector<const float*> device_rows(n, nullptr);  // the kept copy of row i, if any
  std::vector<std::pair<const void*, std::size_t>> ranges;
  for (std::size_t i = 0; i < n && !reuse; ++i) {
    for (std::size_t j = 0; j < kept_.size(); ++j) {
      if (kept_[j].data() == updates[i].data() && kept_[j].size() == updates[i].size()) {
        device_rows[i] = kept_matrix_ + j * kept_stride_;
      }
    }
    if (device_rows[i] == nullptr) ranges.emplace_back(updates[i].data(), updates[i].size_bytes());
  }
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
    if (reuse || into_kept) c.rows = {kept_matrix_ + begin, kept_stride_, n, len};
    for (std::size_t i = 0; i < n && status.ok() && !reuse; ++i) {
      float* to = const_cast<float*>(c.rows.data) + i * c.rows.stride;
      status = device_rows[i] != nullptr
                   ? CudaStatus(cudaMemcpyAsync(to, device_rows[i] + begin, len * sizeof(float),
                                                cudaMemcpyDeviceToDevice, streams_[slot]),
                                "cudaMemcpyAsync of a kept chunk")
                   : CudaStatus(cudaMemcpyAsync(to, updates[i].data() + begin,
                                                len * sizeof(float), cudaMemcpyHostToDevice,
                                                streams_[slot]),
                                "cudaMemcpyAsync of an update chunk");
    }
    if (status.ok()) status = compute(c);
  }
  Status synced = Synchronize();  // also before an error return: the host buffers are unpinned
  if (status.ok() && synced.ok() && into_kept) kept_.assign(updates.begin(), updates.end());
  return status.ok() ? synced : status;
}

}  // namespace tributary::gpu::cuda
