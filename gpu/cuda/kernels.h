// The CUDA kernels behind gpu/'s rules, each behind a host launcher that enqueues it on a
// stream and returns the launch error (cudaSuccess when enqueued).
//
// Every kernel reads a chunk of the round's updates as a row-major matrix on the device:
// `rows` rows of `len` coordinates, row i starting at data + i * stride. REQUIRES: stride is a
// multiple of 4 and at least len rounded up to 4, data is 16-byte aligned (chunk_pipeline.h
// lays chunks out so): the kernels load four coordinates at a time (float4 for float, 8 bytes
// for half and bfloat16) and may read, never use, the padding past len. Element types: float,
// __half and __nv_bfloat16; products and sums are formed in double, as on the CPU
// (robust/gram.h, robust/weighted_sum.h), so results match it to rounding.
//
// Thread safety: launchers only enqueue; the caller orders the work with its streams.
#pragma once

#include <cstddef>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

namespace tributary::gpu::cuda {

// A device matrix of update coordinates, as described above.
template <typename T>
struct DeviceRows {
  const T* data = nullptr;
  std::size_t stride = 0;
  std::size_t rows = 0;
  std::size_t len = 0;
};

// The most updates the coordinate-wise selection kernels take (each thread sorts one
// coordinate's values in its own local array); rounds with more run on the CPU.
inline constexpr std::size_t kMaxSelectionRows = 256;

// out[k] = Σ_i coefficients[i] · x_i[k] for k < len: every update read once, in one pass;
// rows whose coefficient is 0 are not read at all (they may hold NaN).
// coefficients: `rows` doubles on the device; out: len doubles on the device.
template <typename T>
cudaError_t LaunchWeightedSum(DeviceRows<T> x, const double* coefficients, double* out,
                              cudaStream_t stream);

// out[i * len + k] = x_i[k] as double: the column-major len × rows operand of the Gram GEMM.
template <typename T>
cudaError_t LaunchWidenToDouble(DeviceRows<T> x, double* out, cudaStream_t stream);

// norms[i] += Σ_k x_i[k]² (double). Partial sums meet by atomicAdd, so the last bits may
// differ from run to run.
template <typename T>
cudaError_t LaunchAddSquaredNorms(DeviceRows<T> x, double* norms, cudaStream_t stream);

// Per coordinate, the median of the rows' values (mean of the two middle ones for an even
// count) or the mean of the values left after dropping the f smallest and f largest, into
// out[k] (double). NaN counts as +Inf, as robust/coordinate_wise.h specifies. The kept values
// are added in increasing order, the CPU adds them in std::nth_element's order: the results
// are bit-identical whenever that double sum is exact, which holds for the median always and
// for the trimmed mean when a coordinate's nonzero kept values span fewer than 2^21 in
// magnitude (53-bit sums of at most 256 24-bit floats); otherwise they may differ in the last
// bit.
// REQUIRES: 1 <= rows <= kMaxSelectionRows; 2f < rows.
cudaError_t LaunchCoordinateMedian(DeviceRows<float> x, double* out, cudaStream_t stream);
cudaError_t LaunchTrimmedMean(DeviceRows<float> x, std::size_t f, double* out,
                              cudaStream_t stream);
// Bulyan's second stage over the selected rows (robust/bulyan.h): per coordinate, the mean of
// the β values closest to their median; bit-identical to the CPU, which adds the window in
// increasing order too. REQUIRES: 1 <= beta <= rows <= kMaxSelectionRows.
cudaError_t LaunchBulyanMean(DeviceRows<float> x, std::size_t beta, double* out,
                             cudaStream_t stream);

}  // namespace tributary::gpu::cuda
