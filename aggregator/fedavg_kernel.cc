#include "aggregator/fedavg_kernel.h"

#include <cmath>
#include <cstdint>

// The streamed path needs AVX2 (and FMA, which every AVX2 CPU of x86-64-v3 has).
#if defined(__AVX2__) && defined(__FMA__)
#define TRIBUTARY_STREAMED_STORES 1
#include <immintrin.h>
#endif

namespace tributary::aggregator {
namespace {

// out[i] = value(i) over [0, n). Large outputs are written with non-temporal stores: they are
// not read again before they would have left the cache anyway, and skipping the
// read-for-ownership of each destination line takes a third of the loop's memory traffic away.
// Below the threshold the output stays in cache for whoever reads it next (the next Add, the
// publish checksum). `value(i)` gives one float, `vector(i)` the eight from i on.
template <typename Value, typename Vector>
void WriteOut(float* out, std::size_t n, Value value, [[maybe_unused]] Vector vector) {
#if defined(TRIBUTARY_STREAMED_STORES)
  if (n * sizeof(float) >= kStreamingStoreBytes) {
    std::size_t i = 0;
    for (; i < n && (reinterpret_cast<uintptr_t>(out + i) & 31) != 0; ++i) out[i] = value(i);
    for (; i + 32 <= n; i += 32) {
      for (std::size_t k = 0; k < 32; k += 8) _mm256_stream_ps(out + i + k, vector(i + k));
    }
    for (; i < n; ++i) out[i] = value(i);
    _mm_sfence();  // the streamed stores are visible before the result is handed on
    return;
  }
#endif
  for (std::size_t i = 0; i < n; ++i) out[i] = value(i);
}

}  // namespace

void WeightedPairSum(float* __restrict acc, const float* x1, float w1, const float* x2, float w2,
                     std::size_t n) {
#if defined(TRIBUTARY_STREAMED_STORES)
  // The head and tail are fused as the vector body is, so every element rounds alike.
  auto value = [&](std::size_t i) { return std::fma(w2, x2[i], w1 * x1[i]); };
  const __m256 v1 = _mm256_set1_ps(w1), v2 = _mm256_set1_ps(w2);
  auto vector = [&](std::size_t i) {
    return _mm256_fmadd_ps(v2, _mm256_loadu_ps(x2 + i), _mm256_mul_ps(v1, _mm256_loadu_ps(x1 + i)));
  };
#else
  auto value = [&](std::size_t i) { return w1 * x1[i] + w2 * x2[i]; };
  auto vector = nullptr;
#endif
  WriteOut(acc, n, value, vector);
}

void WeightedAccumulate(float* __restrict acc, const float* __restrict x, float w, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) acc[i] += w * x[i];
}

void Scale(float* out, const float* acc, float s, std::size_t n) {
#if defined(TRIBUTARY_STREAMED_STORES)
  const __m256 scale = _mm256_set1_ps(s);
  auto vector = [&](std::size_t i) { return _mm256_mul_ps(scale, _mm256_loadu_ps(acc + i)); };
#else
  auto vector = nullptr;
#endif
  WriteOut(
      out, n, [&](std::size_t i) { return s * acc[i]; }, vector);
}

}  // namespace tributary::aggregator
