#include "gpu/cuda/reductions.h"

#include <algorithm>
#include <string>
#include <utility>

#include <cublas_v2.h>

#include "gpu/cuda/cuda_status.h"
#include "gpu/cuda/kernels.h"

namespace tributary::gpu::cuda {
namespace {

// Device memory for `count` values of T taken from the stream-ordered pool, returned to it on
// the same stream when the object goes.
template <typename T>
class StreamBuffer {
 public:
  StreamBuffer(std::size_t count, cudaStream_t stream) : stream_(stream) {
    status_ = CudaStatus(cudaMallocAsync(reinterpret_cast<void**>(&data_), count * sizeof(T),
                                         stream),
                         "cudaMallocAsync");
  }
  ~StreamBuffer() {
    if (data_ != nullptr) (void)cudaFreeAsync(data_, stream_);
  }
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;

  const Status& status() const { return status_; }
  T* get() const { return data_; }

 private:
  cudaStream_t stream_;
  T* data_ = nullptr;
  Status status_;
};

// One zeroed accumulator of `count` doubles per slot, summed on the host after the run.
class SlotAccumulators {
 public:
  SlotAccumulators(const ChunkPipeline& pipeline, std::size_t count) : count_(count) {
    for (int slot = 0; slot < ChunkPipeline::kSlots; ++slot) {
      buffers_[slot] = std::make_unique<StreamBuffer<double>>(count, pipeline.stream(slot));
      if (!buffers_[slot]->status().ok()) {
        status_ = buffers_[slot]->status();
        return;
      }
      status_ = CudaStatus(cudaMemsetAsync(buffers_[slot]->get(), 0, count * sizeof(double),
                                           pipeline.stream(slot)),
                           "cudaMemsetAsync");
      if (!status_.ok()) return;
    }
  }

  const Status& status() const { return status_; }
  double* get(int slot) const { return buffers_[slot]->get(); }

  // Σ over slots, in slot order. REQUIRES: the pipeline's streams are idle.
  Result<std::vector<double>> Sum() const {
    std::vector<double> total(count_, 0.0), part(count_);
    for (const auto& buffer : buffers_) {
      TRIBUTARY_RETURN_IF_ERROR(CudaStatus(
          cudaMemcpy(part.data(), buffer->get(), count_ * sizeof(double), cudaMemcpyDeviceToHost),
          "cudaMemcpy of an accumulator"));
      for (std::size_t i = 0; i < count_; ++i) total[i] += part[i];
    }
    return total;
  }

 private:
  std::size_t count_;
  std::unique_ptr<StreamBuffer<double>> buffers_[ChunkPipeline::kSlots];
  Status status_;
};

}  // namespace

Result<std::unique_ptr<DeviceReductions>> DeviceReductions::Create(std::size_t chunk_bytes) {
  std::unique_ptr<DeviceReductions> reductions(new DeviceReductions());
  TRIBUTARY_ASSIGN_OR_RETURN(reductions->pipeline_, ChunkPipeline::Create(chunk_bytes));
  for (int slot = 0; slot < ChunkPipeline::kSlots; ++slot) {
    TRIBUTARY_RETURN_IF_ERROR(CublasStatus(cublasCreate(&reductions->blas_[slot]), "cublasCreate"));
    TRIBUTARY_RETURN_IF_ERROR(CublasStatus(
        cublasSetStream(reductions->blas_[slot], reductions->pipeline_->stream(slot)),
        "cublasSetStream"));
  }
  return reductions;
}

DeviceReductions::~DeviceReductions() {
  pipeline_.reset();  // waits for the streams before the handles go
  for (cublasHandle_t handle : blas_) {
    if (handle != nullptr) (void)cublasDestroy(handle);
  }
}

Result<Eigen::MatrixXd> DeviceReductions::Gram(robust::UpdateViews updates) {
  const std::size_t n = updates.size();
  SlotAccumulators gram(*pipeline_, n * n);
  TRIBUTARY_RETURN_IF_ERROR(gram.status());
  TRIBUTARY_RETURN_IF_ERROR(pipeline_->Run(updates, {}, [&](const DeviceChunk& c) -> Status {
    const std::size_t len = c.rows.len;
    StreamBuffer<double> wide(n * len, c.stream);
    TRIBUTARY_RETURN_IF_ERROR(wide.status());
    TRIBUTARY_RETURN_IF_ERROR(
        CudaStatus(LaunchWidenToDouble(c.rows, wide.get(), c.stream), "widen kernel"));
    // K += AᵀA for the column-major len × n matrix A of this chunk.
    const double one = 1.0;
    const int rows = static_cast<int>(n), depth = static_cast<int>(len);
    return CublasStatus(cublasDgemm(blas_[c.slot], CUBLAS_OP_T, CUBLAS_OP_N, rows, rows, depth,
                                    &one, wide.get(), depth, wide.get(), depth, &one,
                                    gram.get(c.slot), rows),
                        "cublasDgemm (Gram)");
  }, /*keep=*/true));
  TRIBUTARY_ASSIGN_OR_RETURN(std::vector<double> sum, gram.Sum());
  const Eigen::MatrixXd k = Eigen::Map<const Eigen::MatrixXd>(sum.data(), n, n);
  return Eigen::MatrixXd(k.selfadjointView<Eigen::Lower>());  // exactly symmetric, as the CPU's
}

template <typename Launch>
Status DeviceReductions::PerCoordinate(robust::UpdateViews updates, std::span<double> out,
                                       Launch launch) {
  return pipeline_->Run(updates, out, [&](const DeviceChunk& c) -> Status {
    StreamBuffer<double> result(c.rows.len, c.stream);
    TRIBUTARY_RETURN_IF_ERROR(result.status());
    TRIBUTARY_RETURN_IF_ERROR(CudaStatus(launch(c, result.get()), "kernel launch"));
    return CudaStatus(cudaMemcpyAsync(out.data() + c.begin, result.get(),
                                      c.rows.len * sizeof(double), cudaMemcpyDeviceToHost,
                                      c.stream),
                      "cudaMemcpyAsync of a result chunk");
  });
}

Status DeviceReductions::WeightedSum(robust::UpdateViews updates,
                                     std::span<const double> coefficients,
                                     std::span<double> out) {
  // Rows already on the device are all passed (the kernel skips zero coefficients); rows to
  // copy are only those that count.
  if (pipeline_->Holds(updates)) return WeightedSumOnDevice(updates, coefficients, out);
  std::vector<robust::UpdateView> used;
  std::vector<double> used_coefficients;
  for (std::size_t i = 0; i < updates.size(); ++i) {
    if (coefficients[i] == 0.0) continue;
    used.push_back(updates[i]);
    used_coefficients.push_back(coefficients[i]);
  }
  if (used.empty()) {
    std::fill(out.begin(), out.end(), 0.0);
    return Status::Ok();
  }
  return WeightedSumOnDevice(used, used_coefficients, out);
}

Status DeviceReductions::WeightedSumOnDevice(robust::UpdateViews updates,
                                             std::span<const double> coefficients,
                                             std::span<double> out) {
  double* device_coefficients = nullptr;
  const std::size_t bytes = coefficients.size() * sizeof(double);
  TRIBUTARY_RETURN_IF_ERROR(
      CudaStatus(cudaMalloc(reinterpret_cast<void**>(&device_coefficients), bytes), "cudaMalloc"));
  Status status = CudaStatus(cudaMemcpy(device_coefficients, coefficients.data(), bytes,
                                        cudaMemcpyHostToDevice),
                             "cudaMemcpy of coefficients");
  if (status.ok()) {
    status = PerCoordinate(updates, out, [&](const DeviceChunk& c, double* result) {
      return LaunchWeightedSum(c.rows, device_coefficients, result, c.stream);
    });
  }
  (void)cudaFree(device_coefficients);
  return status;
}

Result<std::vector<double>> DeviceReductions::SquaredNorms(robust::UpdateViews updates) {
  SlotAccumulators norms(*pipeline_, updates.size());
  TRIBUTARY_RETURN_IF_ERROR(norms.status());
  TRIBUTARY_RETURN_IF_ERROR(pipeline_->Run(updates, {}, [&](const DeviceChunk& c) {
    return CudaStatus(LaunchAddSquaredNorms(c.rows, norms.get(c.slot), c.stream),
                      "squared-norms kernel");
  }, /*keep=*/true));
  return norms.Sum();
}

Status DeviceReductions::CoordinateMedian(robust::UpdateViews updates, std::span<double> out) {
  return PerCoordinate(updates, out, [](const DeviceChunk& c, double* result) {
    return LaunchCoordinateMedian(c.rows, result, c.stream);
  });
}

Status DeviceReductions::TrimmedMean(robust::UpdateViews updates, std::size_t f,
                                     std::span<double> out) {
  return PerCoordinate(updates, out, [f](const DeviceChunk& c, double* result) {
    return LaunchTrimmedMean(c.rows, f, result, c.stream);
  });
}

Status DeviceReductions::BulyanMean(robust::UpdateViews selected, std::size_t beta,
                                    std::span<double> out) {
  return PerCoordinate(selected, out, [beta](const DeviceChunk& c, double* result) {
    return LaunchBulyanMean(c.rows, beta, result, c.stream);
  });
}

}  // namespace tributary::gpu::cuda
