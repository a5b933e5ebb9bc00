// Helpers for the CUDA suites: skipping without a device, and update matrices whose
// per-coordinate double sums are exact (so the GPU's and the CPU's summation orders agree to
// the bit; see gpu/cuda/kernels.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

#include <gtest/gtest.h>

#include "gpu/device.h"
#include "tests/robust/test_util.h"

namespace tributary::gpu::testing {

// A fixture whose tests are skipped where no CUDA device is present.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Result<std::string> device = ProbeCudaDevice();
    if (!device.has_value()) GTEST_SKIP() << device.error().message();
  }
};

// n × d values N(0, sd²) rounded to multiples of 2^-16.
inline robust::testing::Updates QuantizedGaussian(std::size_t n, std::size_t d,
                                                  std::uint64_t seed, double sd = 1.0) {
  robust::testing::Updates u = robust::testing::Gaussian(n, d, seed, sd);
  for (auto& row : u.rows) {
    for (float& v : row) v = std::ldexp(std::round(std::ldexp(v, 16)), -16);
  }
  return u;
}

// max_k |a_k − b_k| / max(1, max_k |b_k|).
inline double RelativeError(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0.0, scale = 1.0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    diff = std::max(diff, std::abs(a[k] - b[k]));
    scale = std::max(scale, std::abs(b[k]));
  }
  return diff / scale;
}

}  // namespace tributary::gpu::testing
