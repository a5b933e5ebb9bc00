#include "aggregator/fedavg_kernel.h"

#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tributary::aggregator {
namespace {

// out[i] = s * in[i]. Large outputs are written with non-temporal stores: they are not read
// again before they would have left the cache anyway, and skipping the read-for-ownership of
// each destination line takes a third of the loop's memory traffic away. Below the threshold
// the output stays in cache for whoever reads it next (the next Add, the publish checksum).
void ScaleInto(float* out, const float* in, float s, std::size_t n) {
#if defined(__AVX2__)
  if (n * sizeof(float) >= kStreamingStoreBytes) {
    std::size_t i = 0;
    for (; i < n && (reinterpret_cast<uintptr_t>(out + i) & 31) != 0; ++i) out[i] = s * in[i];
    const __m256 scale = _mm256_set1_ps(s);
    for (; i + 32 <= n; i += 32) {
      for (std::size_t k = 0; k < 32; k += 8) {
        _mm256_stream_ps(out + i + k, _mm256_mul_ps(scale, _mm256_loadu_ps(in + i + k)));
      }
    }
    for (; i < n; ++i) out[i] = s * in[i];
    _mm_sfence();  // the streamed stores are visible before the result is handed on
    return;
  }
#endif
  for (std::size_t i = 0; i < n; ++i) out[i] = s * in[i];
}

}  // namespace

void WeightedCopy(float* __restrict acc, const float* __restrict x, float w, std::size_t n) {
  ScaleInto(acc, x, w, n);
}

void WeightedAccumulate(float* __restrict acc, const float* __restrict x, float w, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) acc[i] += w * x[i];
}

void Scale(float* out, const float* acc, float s, std::size_t n) { ScaleInto(out, acc, s, n); }

}  // namespace tributary::aggregator
