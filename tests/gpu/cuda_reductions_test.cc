// The CUDA reductions against robust/'s CPU kernels: the Gram matrix, weighted sums, squared
// norms, the coordinate-wise median and trimmed mean, Bulyan's window, over several chunks
// (small chunk buffers), with a partial last chunk and a length that is not a multiple of 4;
// rows kept on the device between passes; and the weighted-sum kernel on half and bfloat16
// inputs.
#include "gpu/cuda/reductions.h"

#include <cuda_runtime.h>

#include <limits>
#include <vector>

#include "gpu/cuda/host_registration.h"
#include "gpu/cuda/kernels.h"
#include "robust/bulyan.h"
#include "robust/coordinate_wise.h"
#include "robust/gram.h"
#include "robust/weighted_sum.h"
#include "tests/gpu/cuda_test_util.h"

namespace tributary::gpu::cuda {
namespace {

using CudaReductions = testing::CudaTest;

constexpr std::size_t kDim = 20000 + 13;
constexpr std::size_t kSmallChunk = 7 * 4096 * sizeof(float);  // several chunks of 7 updates

// out == expected to the bit (NaN matching NaN), for the exact kernels.
::testing::AssertionResult BitIdentical(const std::vector<double>& out,
                                        const std::vector<double>& expected) {
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (!(out[k] == expected[k] || (std::isnan(out[k]) && std::isnan(expected[k])))) {
      return ::testing::AssertionFailure()
             << "k=" << k << ": " << out[k] << " vs " << expected[k];
    }
  }
  return ::testing::AssertionSuccess();
}

std::unique_ptr<DeviceReductions> Make(std::size_t chunk_bytes = kSmallChunk) {
  Result<std::unique_ptr<DeviceReductions>> r = DeviceReductions::Create(chunk_bytes);
  EXPECT_TRUE(r.has_value()) << r.error();
  return r.has_value() ? std::move(*r) : nullptr;
}

TEST_F(CudaReductions, GramMatchesTheCpu) {
  const auto u = robust::testing::Gaussian(7, kDim, 1);
  const auto views = u.Views();
  auto device = Make();
  ASSERT_TRUE(device);
  Result<Eigen::MatrixXd> gram = device->Gram(views);
  ASSERT_TRUE(gram.has_value()) << gram.error();
  const Eigen::MatrixXd expected = robust::Gram(views);
  for (int i = 0; i < 7; ++i) {
    for (int j = 0; j < 7; ++j) {
      EXPECT_NEAR((*gram)(i, j), expected(i, j), 1e-10 * expected(i, i));
      EXPECT_EQ((*gram)(i, j), (*gram)(j, i));
    }
  }
}

TEST_F(CudaReductions, WeightedSumMatchesTheCpuAndSkipsZeroCoefficients) {
  auto u = robust::testing::Gaussian(5, kDim, 2);
  u.rows[3][17] = std::numeric_limits<float>::quiet_NaN();  // never read: coefficient 0
  const auto views = u.Views();
  const std::vector<double> coefficients = {0.5, -1.25, 2.0, 0.0, 1e-3};
  std::vector<double> expected(kDim), out(kDim);
  robust::WeightedSum(views, coefficients, expected);
  auto device = Make();
  ASSERT_TRUE(device);
  ASSERT_TRUE(device->WeightedSum(views, coefficients, out).ok());
  EXPECT_LT(testing::RelativeError(out, expected), 1e-12);
  EXPECT_TRUE(std::isfinite(out[17]));
}

TEST_F(CudaReductions, SquaredNormsMatchTheCpu) {
  const auto u = robust::testing::Gaussian(6, kDim, 3);
  const auto views = u.Views();
  auto device = Make();
  ASSERT_TRUE(device);
  Result<std::vector<double>> norms = device->SquaredNorms(views);
  ASSERT_TRUE(norms.has_value()) << norms.error();
  const std::vector<double> expected = robust::SquaredNorms(views);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR((*norms)[i], expected[i], 1e-12 * expected[i]);
  }
}

// Median and trimmed mean for odd and even n and every local-array capacity, with NaN and Inf.
TEST_F(CudaReductions, CoordinateWiseRulesAreBitIdenticalToTheCpu) {
  for (std::size_t n : {1u, 4u, 15u, 50u, 255u}) {
    auto u = testing::QuantizedGaussian(n, 3001, 10 + n);
    u.rows[0][5] = std::numeric_limits<float>::quiet_NaN();
    u.rows[n - 1][6] = std::numeric_limits<float>::infinity();
    u.rows[n / 2][7] = -std::numeric_limits<float>::infinity();
    const auto views = u.Views();
    auto device = Make(n * 1024 * sizeof(float));
    ASSERT_TRUE(device);
    std::vector<double> expected(3001), out(3001);
    ASSERT_TRUE(robust::CoordinateMedian(views, expected).ok());
    ASSERT_TRUE(device->CoordinateMedian(views, out).ok());
    ASSERT_TRUE(BitIdentical(out, expected)) << "median n=" << n;
    const std::size_t f = (n - 1) / 4;
    ASSERT_TRUE(robust::TrimmedMean(views, f, expected).ok());
    ASSERT_TRUE(device->TrimmedMean(views, f, out).ok());
    ASSERT_TRUE(BitIdentical(out, expected)) << "trimmed mean n=" << n << " f=" << f;
  }
}

// Bulyan's window over the updates its selection keeps (an update holding NaN and Inf is
// among those it leaves out), for odd and even θ.
TEST_F(CudaReductions, BulyanWindowIsBitIdenticalToTheCpu) {
  for (std::size_t f : {1u, 2u, 3u}) {
    auto u = testing::QuantizedGaussian(4 * f + 3 + f, 3001, 20 + f);
    u.rows[1][5] = std::numeric_limits<float>::quiet_NaN();
    u.rows[1][6] = std::numeric_limits<float>::infinity();
    const auto views = u.Views();
    const Eigen::MatrixXd gram = robust::Gram(views);
    std::vector<double> expected(3001), out(3001);
    ASSERT_TRUE(robust::BulyanFromGram(views, gram, f, expected).ok());
    Result<std::vector<std::size_t>> selected =
        robust::BulyanSelect(robust::SquaredDistancesFromGram(gram), f);
    ASSERT_TRUE(selected.has_value()) << selected.error();
    std::vector<robust::UpdateView> chosen;
    for (std::size_t i : *selected) chosen.push_back(views[i]);
    auto device = Make(views.size() * 1024 * sizeof(float));
    ASSERT_TRUE(device);
    ASSERT_TRUE(device->BulyanMean(chosen, chosen.size() - 2 * f, out).ok());
    ASSERT_TRUE(BitIdentical(out, expected)) << "f=" << f;
  }
}

// After a pass that keeps the rows (Gram), later passes over them read the device copy until
// Forget(): a change to the host rows in between shows which copy was read.
TEST_F(CudaReductions, KeptRowsServeLaterPassesUntilForgotten) {
  auto u = robust::testing::Gaussian(6, kDim, 5);
  const auto views = u.Views();
  const auto before = u;
  auto device = Make();
  ASSERT_TRUE(device);
  ASSERT_TRUE(device->Gram(views).has_value());
  for (auto& row : u.rows) {
    for (float& v : row) v += 1.0f;
  }
  u.rows[4][9] = std::numeric_limits<float>::quiet_NaN();  // coefficient 0: never read
  const std::vector<double> coefficients = {0.5, -1.0, 0.25, 2.0, 0.0, 1.0};
  std::vector<double> expected(kDim), out(kDim);

  robust::WeightedSum(before.Views(), coefficients, expected);  // all rows, from the device
  ASSERT_TRUE(device->WeightedSum(views, coefficients, out).ok());
  EXPECT_LT(testing::RelativeError(out, expected), 1e-12);
  EXPECT_TRUE(std::isfinite(out[9]));

  const std::vector<robust::UpdateView> some = {views[3], views[0], views[5]};
  const auto before_views = before.Views();
  const std::vector<robust::UpdateView> some_before = {before_views[3], before_views[0],
                                                       before_views[5]};
  ASSERT_TRUE(robust::CoordinateMedian(some_before, expected).ok());  // some rows, on device
  ASSERT_TRUE(device->BulyanMean(some, 1, out).ok());
  EXPECT_EQ(out, expected);

  device->Forget();  // now the host rows are read again
  u.rows[4][9] = 0.0f;
  robust::WeightedSum(views, coefficients, expected);
  ASSERT_TRUE(device->WeightedSum(views, coefficients, out).ok());
  EXPECT_LT(testing::RelativeError(out, expected), 1e-12);
}

// Page-locked updates staged as they arrive (more than the first allocation holds, so the
// kept matrix grows and moves) are what later passes read, until Forget(); a row of another
// length stops staging: the rows staged before it are read from the device, the others from
// the host. Pageable updates are not staged.
TEST_F(CudaReductions, StagedUpdatesServeThePassesOfTheRound) {
  auto u = robust::testing::Gaussian(11, kDim, 6);
  const auto views = u.Views();
  const auto before = u;
  const std::vector<float> shorter(kDim - 4, 1.0f);
  std::vector<std::pair<const void*, std::size_t>> ranges;  // only page-locked rows are staged
  for (const auto& view : views) ranges.emplace_back(view.data(), view.size_bytes());
  ranges.emplace_back(shorter.data(), shorter.size() * sizeof(float));
  auto pinned = std::make_unique<HostRegistration>(ranges);
  ASSERT_TRUE(IsPageLocked(views[3].data(), views[3].size_bytes()));
  auto device = Make();
  ASSERT_TRUE(device);
  for (const auto& view : views) ASSERT_TRUE(device->Stage(view).ok());
  // Staging copies page-locked rows asynchronously: let them land before the rows change
  // (the contract says they don't; the test changes them to see which copy a pass reads).
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  for (auto& row : u.rows) row.assign(row.size(), 7.0f);
  std::vector<double> coefficients(views.size());
  for (std::size_t i = 0; i < coefficients.size(); ++i) coefficients[i] = 0.5 + i;
  std::vector<double> expected(kDim), out(kDim);
  robust::WeightedSum(before.Views(), coefficients, expected);
  ASSERT_TRUE(device->WeightedSum(views, coefficients, out).ok());
  EXPECT_LT(testing::RelativeError(out, expected), 1e-12);
  Result<Eigen::MatrixXd> gram = device->Gram(views);
  ASSERT_TRUE(gram.has_value()) << gram.error();
  EXPECT_NEAR((*gram)(3, 5), robust::Gram(before.Views())(3, 5),
              1e-10 * robust::Gram(before.Views())(3, 3));

  device->Forget();  // the rows now hold 7: five staged, then a shorter row stops staging
  for (std::size_t i = 0; i < 5; ++i) ASSERT_TRUE(device->Stage(views[i]).ok());
  ASSERT_TRUE(device->Stage(shorter).ok());
  for (std::size_t i = 5; i < views.size(); ++i) ASSERT_TRUE(device->Stage(views[i]).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto mixed = u;  // what the passes read: the staged rows from the device, the rest from host
  for (auto& row : u.rows) row.assign(row.size(), 3.0f);
  for (std::size_t i = 5; i < views.size(); ++i) mixed.rows[i] = u.rows[i];
  robust::WeightedSum(mixed.Views(), coefficients, expected);
  ASSERT_TRUE(device->WeightedSum(views, coefficients, out).ok());
  EXPECT_LT(testing::RelativeError(out, expected), 1e-12);

  device->Forget();
  pinned.reset();  // (a run pinning rows that share a page with locked ones would fail to)
  auto pageable = before;  // not page-locked: staging leaves it to the passes
  const auto pageable_views = pageable.Views();
  for (const auto& view : pageable_views) ASSERT_TRUE(device->Stage(view).ok());
  for (auto& row : pageable.rows) row.assign(row.size(), 2.0f);
  robust::WeightedSum(pageable_views, coefficients, expected);
  ASSERT_TRUE(device->WeightedSum(pageable_views, coefficients, out).ok());
  EXPECT_LT(testing::RelativeError(out, expected), 1e-12);
}

// The weighted-sum kernel on 16-bit inputs, against the same sum over the widened values.
template <typename T>
void CheckHalfPrecisionWeightedSum(float (*to_float)(T), T (*from_float)(float)) {
  constexpr std::size_t kRows = 3, kLen = 1001, kStride = 1004;
  const auto u = robust::testing::Gaussian(kRows, kStride, 4);
  std::vector<T> host(kRows * kStride);
  for (std::size_t i = 0; i < kRows; ++i) {
    for (std::size_t k = 0; k < kStride; ++k) host[i * kStride + k] = from_float(u.rows[i][k]);
  }
  const double coefficients[kRows] = {0.25, -2.0, 1.5};
  T* rows = nullptr;
  double *device_coefficients = nullptr, *device_out = nullptr;
  ASSERT_EQ(cudaMalloc(&rows, host.size() * sizeof(T)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&device_coefficients, sizeof coefficients), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&device_out, kLen * sizeof(double)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(rows, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device_coefficients, coefficients, sizeof coefficients,
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(LaunchWeightedSum(DeviceRows<T>{rows, kStride, kRows, kLen}, device_coefficients,
                              device_out, nullptr),
            cudaSuccess);
  std::vector<double> out(kLen);
  ASSERT_EQ(cudaMemcpy(out.data(), device_out, kLen * sizeof(double), cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (std::size_t k = 0; k < kLen; ++k) {
    double expected = 0.0;
    for (std::size_t i = 0; i < kRows; ++i) {
      expected += coefficients[i] * to_float(host[i * kStride + k]);
    }
    ASSERT_NEAR(out[k], expected, 1e-12 * (1.0 + std::abs(expected))) << "k=" << k;
  }
  cudaFree(rows);
  cudaFree(device_coefficients);
  cudaFree(device_out);
}

TEST_F(CudaReductions, WeightedSumKernelTakesHalfAndBfloat16) {
  CheckHalfPrecisionWeightedSum<__half>([](__half v) { return __half2float(v); },
                                        [](float v) { return __float2half(v); });
  CheckHalfPrecisionWeightedSum<__nv_bfloat16>(
      [](__nv_bfloat16 v) { return __bfloat162float(v); },
      [](float v) { return __float2bfloat16(v); });
}

}  // namespace
}  // namespace tributary::gpu::cuda
