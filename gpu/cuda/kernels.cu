// The CUDA kernels of gpu/ (see kernels.h): fused weighted sums, widening for the Gram GEMM,
// squared norms and per-coordinate selection (median, trimmed mean, Bulyan's window).
#include "gpu/cuda/kernels.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "robust/internal/bulyan_window.h"

namespace tributary::gpu::cuda {
namespace {

constexpr int kThreads = 256;

// Four consecutive coordinates of one row, widened to double. p is 16-byte (float) or 8-byte
// (half, bfloat16) aligned: the caller's stride and chunk layout guarantee it.
__device__ inline void Load4(const float* p, double v[4]) {
  const float4 q = *reinterpret_cast<const float4*>(p);
  v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
}

__device__ inline void Load4(const __half* p, double v[4]) {
  const uint2 q = *reinterpret_cast<const uint2*>(p);
  const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&q.x));
  const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&q.y));
  v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
}

__device__ inline void Load4(const __nv_bfloat16* p, double v[4]) {
  const uint2 q = *reinterpret_cast<const uint2*>(p);
  const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&q.x));
  const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&q.y));
  v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
}

std::size_t GroupsOfFour(std::size_t len) { return (len + 3) / 4; }

unsigned BlocksFor(std::size_t items) {
  return static_cast<unsigned>((items + kThreads - 1) / kThreads);
}

template <typename T>
__global__ void WeightedSumKernel(DeviceRows<T> x, const double* coefficients, double* out) {
  const std::size_t k = (blockIdx.x * std::size_t{blockDim.x} + threadIdx.x) * 4;
  if (k >= x.len) return;
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  for (std::size_t i = 0; i < x.rows; ++i) {
    const double c = coefficients[i];
    if (c == 0.0) continue;  // never read: the row may hold anything, NaN included
    double v[4];
    Load4(x.data + i * x.stride + k, v);
    for (int j = 0; j < 4; ++j) acc[j] += c * v[j];
  }
  for (int j = 0; j < 4 && k + j < x.len; ++j) out[k + j] = acc[j];
}

template <typename T>
__global__ void WidenKernel(DeviceRows<T> x, double* out) {
  const std::size_t k = (blockIdx.x * std::size_t{blockDim.x} + threadIdx.x) * 4;
  const std::size_t i = blockIdx.y;
  if (k >= x.len) return;
  double v[4];
  Load4(x.data + i * x.stride + k, v);
  for (int j = 0; j < 4 && k + j < x.len; ++j) out[i * x.len + k + j] = v[j];
}

// One row per blockIdx.y; each block sums the squares of its slice and adds it to norms[row].
template <typename T>
__global__ void SquaredNormsKernel(DeviceRows<T> x, double* norms) {
  const std::size_t i = blockIdx.y;
  double s = 0.0;
  for (std::size_t k = (blockIdx.x * std::size_t{blockDim.x} + threadIdx.x) * 4; k < x.len;
       k += std::size_t{gridDim.x} * blockDim.x * 4) {
    double v[4];
    Load4(x.data + i * x.stride + k, v);
    for (int j = 0; j < 4 && k + j < x.len; ++j) s += v[j] * v[j];
  }
  for (int offset = 16; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
  __shared__ double warp_sums[kThreads / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double block = 0.0;
    for (int w = 0; w < kThreads / 32; ++w) block += warp_sums[w];
    atomicAdd(&norms[i], block);
  }
}

// Gathers coordinate k of every row into v (NaN as +Inf) and sorts it ascending.
template <int kCapacity>
__device__ void SortedColumn(const DeviceRows<float>& x, std::size_t k, float (&v)[kCapacity]) {
  const int n = static_cast<int>(x.rows);
  for (int i = 0; i < n; ++i) {
    const float value = x.data[i * x.stride + k];
    float key = isnan(value) ? INFINITY : value;
    int j = i;
    for (; j > 0 && v[j - 1] > key; --j) v[j] = v[j - 1];  // insertion: stable, n <= capacity
    v[j] = key;
  }
}

template <int kCapacity>
__global__ void CoordinateMedianKernel(DeviceRows<float> x, double* out) {
  const std::size_t k = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x;
  if (k >= x.len) return;
  float v[kCapacity];
  SortedColumn(x, k, v);
  const std::size_t n = x.rows;
  const double upper = v[n / 2];
  out[k] = n % 2 == 1 ? upper : 0.5 * (double{v[n / 2 - 1]} + upper);
}

template <int kCapacity>
__global__ void TrimmedMeanKernel(DeviceRows<float> x, std::size_t f, double* out) {
  const std::size_t k = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x;
  if (k >= x.len) return;
  float v[kCapacity];
  SortedColumn(x, k, v);
  double sum = 0.0;
  for (std::size_t j = f; j < x.rows - f; ++j) sum += v[j];
  out[k] = sum / static_cast<double>(x.rows - 2 * f);
}

// Bulyan's second stage (robust/bulyan.h) over the selected rows.
template <int kCapacity>
__global__ void BulyanMeanKernel(DeviceRows<float> x, std::size_t beta, double* out) {
  const std::size_t k = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x;
  if (k >= x.len) return;
  float v[kCapacity];
  SortedColumn(x, k, v);
  out[k] = robust::internal::BulyanWindowMean(v, x.rows, beta);
}

// Runs `launch` with the smallest local-array capacity that holds `rows` values.
template <typename Launch>
cudaError_t WithCapacity(std::size_t rows, Launch launch) {
  if (rows <= 16) return launch(std::integral_constant<int, 16>{});
  if (rows <= 64) return launch(std::integral_constant<int, 64>{});
  return launch(std::integral_constant<int, kMaxSelectionRows>{});
}

}  // namespace

template <typename T>
cudaError_t LaunchWeightedSum(DeviceRows<T> x, const double* coefficients, double* out,
                              cudaStream_t stream) {
  if (x.len == 0) return cudaSuccess;
  WeightedSumKernel<<<BlocksFor(GroupsOfFour(x.len)), kThreads, 0, stream>>>(x, coefficients,
                                                                             out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchWidenToDouble(DeviceRows<T> x, double* out, cudaStream_t stream) {
  if (x.len == 0 || x.rows == 0) return cudaSuccess;
  const dim3 grid(BlocksFor(GroupsOfFour(x.len)), static_cast<unsigned>(x.rows));
  WidenKernel<<<grid, kThreads, 0, stream>>>(x, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchAddSquaredNorms(DeviceRows<T> x, double* norms, cudaStream_t stream) {
  if (x.len == 0 || x.rows == 0) return cudaSuccess;
  // Enough blocks per row to fill the device a few times over; each loops over its slice.
  const unsigned per_row = std::min<unsigned>(BlocksFor(GroupsOfFour(x.len)), 256);
  const dim3 grid(per_row, static_cast<unsigned>(x.rows));
  SquaredNormsKernel<<<grid, kThreads, 0, stream>>>(x, norms);
  return cudaGetLastError();
}

cudaError_t LaunchCoordinateMedian(DeviceRows<float> x, double* out, cudaStream_t stream) {
  if (x.len == 0) return cudaSuccess;
  return WithCapacity(x.rows, [&](auto capacity) {
    CoordinateMedianKernel<decltype(capacity)::value>
        <<<BlocksFor(x.len), kThreads, 0, stream>>>(x, out);
    return cudaGetLastError();
  });
}

cudaError_t LaunchTrimmedMean(DeviceRows<float> x, std::size_t f, double* out,
                              cudaStream_t stream) {
  if (x.len == 0) return cudaSuccess;
  return WithCapacity(x.rows, [&](auto capacity) {
    TrimmedMeanKernel<decltype(capacity)::value>
        <<<BlocksFor(x.len), kThreads, 0, stream>>>(x, f, out);
    return cudaGetLastError();
  });
}

cudaError_t LaunchBulyanMean(DeviceRows<float> x, std::size_t beta, double* out,
                             cudaStream_t stream) {
  if (x.len == 0) return cudaSuccess;
  return WithCapacity(x.rows, [&](auto capacity) {
    BulyanMeanKernel<decltype(capacity)::value>
        <<<BlocksFor(x.len), kThreads, 0, stream>>>(x, beta, out);
    return cudaGetLastError();
  });
}

#define TRIBUTARY_INSTANTIATE(T)                                                            \
  template cudaError_t LaunchWeightedSum<T>(DeviceRows<T>, const double*, double*,          \
                                            cudaStream_t);                                  \
  template cudaError_t LaunchWidenToDouble<T>(DeviceRows<T>, double*, cudaStream_t);        \
  template cudaError_t LaunchAddSquaredNorms<T>(DeviceRows<T>, double*, cudaStream_t);
TRIBUTARY_INSTANTIATE(float)
TRIBUTARY_INSTANTIATE(__half)
TRIBUTARY_INSTANTIATE(__nv_bfloat16)
#undef TRIBUTARY_INSTANTIATE

}  // namespace tributary::gpu::cuda
