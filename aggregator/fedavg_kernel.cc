#include "aggregator/fedavg_kernel.h"

namespace tributary::aggregator {

void WeightedCopy(float* __restrict acc, const float* __restrict x, float w, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) acc[i] = w * x[i];
}

void WeightedAccumulate(float* __restrict acc, const float* __restrict x, float w,
                        std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) acc[i] += w * x[i];
}

void Scale(float* out, const float* acc, float s, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = s * acc[i];
}

}  // namespace tributary::aggregator
