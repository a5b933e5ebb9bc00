// FedAvg kernels: the weighted sums at the heart of federated averaging.
//
// FedAvg is folded eagerly as S = Σ wᵢ·xᵢ and W = Σ wᵢ and divided once at the end, never as
// a running re-weighting (which over-weights early arrivals). These loops are memory-bound;
// they are written so that the compiler vectorises them (restrict pointers, unit stride) and
// are measured against a streaming baseline in bench/. Stateless and thread-safe.
#pragma once

#include <cstddef>

namespace tributary::aggregator {

// WeightedPairSum and Scale write outputs of at least this many bytes with non-temporal stores
// (where the CPU has AVX2 and FMA): larger than a core's share of the cache, they would be
// evicted before anyone read them again.
inline constexpr std::size_t kStreamingStoreBytes = 8u << 20;

// acc[i] = w1 * x1[i] + w2 * x2[i]   (a round's first two updates in one pass)
void WeightedPairSum(float* __restrict acc, const float* x1, float w1, const float* x2, float w2,
                     std::size_t n);
// acc[i] += w * x[i]
void WeightedAccumulate(float* __restrict acc, const float* __restrict x, float w, std::size_t n);
// out[i] = s * acc[i]   (out may equal acc)
void Scale(float* out, const float* acc, float s, std::size_t n);

}  // namespace tributary::aggregator
