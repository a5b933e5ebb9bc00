// The run-time device choice: parsing --device, resolving it per rule against what the probe
// found, the factory's errors, and the CUDA backend loaded only on demand, all without needing
// a GPU.
#include "gpu/device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>

#ifdef TRIBUTARY_HAVE_CUDA
#include "gpu/cuda_backend_loader.h"
#endif
#include "gpu/host_pinning.h"
#include "gpu/rule_factory.h"
#include "robust/rule_factory.h"

namespace tributary::gpu {
namespace {

const Result<std::string> kNoDevice =
    Status::Unavailable("no CUDA device: cudaGetDeviceCount found none");
const Result<std::string> kDevice = std::string("NVIDIA H100 80GB HBM3, 132 SMs, 81079 MiB");

TEST(GpuDevice, ParsesTheThreeChoicesAndRejectsOthers) {
  for (DeviceChoice choice : {DeviceChoice::kAuto, DeviceChoice::kCpu, DeviceChoice::kCuda}) {
    Result<DeviceChoice> parsed = ParseDeviceChoice(DeviceChoiceName(choice));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, choice);
  }
  Result<DeviceChoice> bad = ParseDeviceChoice("gpu");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("auto, cpu, cuda"), std::string::npos);
}

TEST(GpuDevice, AutoWithoutDeviceRunsOnCpuAndSaysWhy) {
  Result<ResolvedBackend> r = ResolveBackend(DeviceChoice::kAuto, true, kNoDevice);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend, Backend::kCpu);
  EXPECT_EQ(r->reason, "no CUDA device: cudaGetDeviceCount found none");
}

TEST(GpuDevice, CudaWithoutDeviceIsAnError) {
  Result<ResolvedBackend> r = ResolveBackend(DeviceChoice::kCuda, true, kNoDevice);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.error().message(), "--device cuda: no CUDA device: cudaGetDeviceCount found none");
}

TEST(GpuDevice, RuleWithoutCudaImplementationRunsOnCpu) {
  for (DeviceChoice choice : {DeviceChoice::kAuto, DeviceChoice::kCuda}) {
    Result<ResolvedBackend> r = ResolveBackend(choice, false, kDevice);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->backend, Backend::kCpu);
    EXPECT_EQ(r->reason, "the rule has no CUDA implementation");
  }
}

TEST(GpuDevice, AutoAndCudaWithDevicePickCuda) {
  for (DeviceChoice choice : {DeviceChoice::kAuto, DeviceChoice::kCuda}) {
    Result<ResolvedBackend> r = ResolveBackend(choice, true, kDevice);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->backend, Backend::kCuda);
    EXPECT_EQ(r->reason, *kDevice);
  }
}

TEST(GpuDevice, CpuIsAlwaysCpu) {
  Result<ResolvedBackend> r = ResolveBackend(DeviceChoice::kCpu, true, kDevice);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend, Backend::kCpu);
}

TEST(GpuRuleFactory, CudaRulesAreRobustRules) {
  const auto robust = robust::RuleNames();
  for (std::string_view name : CudaRuleNames()) {
    EXPECT_NE(std::find(robust.begin(), robust.end(), name), robust.end()) << name;
    EXPECT_TRUE(HasCudaImplementation(name));
  }
  EXPECT_FALSE(HasCudaImplementation("geomed"));
  EXPECT_FALSE(HasCudaImplementation("no-such-rule"));
}

TEST(GpuRuleFactory, CpuChoiceGivesTheCpuRule) {
  Result<std::unique_ptr<robust::RobustRule>> rule =
      CreateRule("krum", {.f = 1}, DeviceChoice::kCpu);
  ASSERT_TRUE(rule.has_value()) << rule.error();
  EXPECT_EQ((*rule)->Name(), "krum");
  ASSERT_TRUE((*rule)->Begin({.round = 1, .dim = 2, .expected_updates = 0}).ok());
  const std::vector<std::vector<float>> rows = {{0, 0}, {1, 0}, {0, 1}, {1, 1}, {90, 90}};
  for (const auto& row : rows) ASSERT_TRUE((*rule)->Add(row, 1.0).ok());
  std::vector<double> out(2);
  ASSERT_TRUE((*rule)->FinishDouble(out).ok());
  EXPECT_NE(out[0], 90.0);  // Krum never picks the outlier
}

TEST(GpuRuleFactory, ForwardsRuleErrors) {
  Result<std::unique_ptr<robust::RobustRule>> unknown =
      CreateRule("no-such-rule", {}, DeviceChoice::kAuto);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), StatusCode::kInvalidArgument);
  Result<std::unique_ptr<robust::RobustRule>> misplaced =
      CreateRule("median", {.f = 1}, DeviceChoice::kAuto);
  ASSERT_FALSE(misplaced.has_value());
  EXPECT_NE(misplaced.error().message().find("does not use parameter 'f'"), std::string::npos);
}

TEST(GpuRuleFactory, AutoWithoutDeviceGivesACpuRule) {
  if (ProbeCudaDevice().has_value()) GTEST_SKIP() << "a CUDA device is present";
  Result<std::unique_ptr<robust::RobustRule>> rule =
      CreateRule("median", {}, DeviceChoice::kAuto);
  ASSERT_TRUE(rule.has_value()) << rule.error();
  EXPECT_EQ((*rule)->Name(), "median");
}

TEST(GpuRuleFactory, CudaWithoutDeviceIsAClearError) {
  if (ProbeCudaDevice().has_value()) GTEST_SKIP() << "a CUDA device is present";
  Result<std::unique_ptr<robust::RobustRule>> rule =
      CreateRule("median", {}, DeviceChoice::kCuda);
  ASSERT_FALSE(rule.has_value());
  EXPECT_EQ(rule.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(rule.error().message().starts_with("--device cuda: no CUDA device"))
      << rule.error().message();
}

TEST(GpuHostPinning, PinsNothingForTheCpuOrARuleWithoutCudaImplementation) {
  std::vector<std::byte> region(1 << 20);
  EXPECT_EQ(HostPinning::ForRule(DeviceChoice::kCpu, "krum", region)->locked_bytes(), 0u);
  EXPECT_EQ(HostPinning::ForRule(DeviceChoice::kAuto, "geomed", region)->locked_bytes(), 0u);
  EXPECT_EQ(HostPinning::ForRule(DeviceChoice::kAuto, "krum", {})->locked_bytes(), 0u);
}

TEST(GpuHostPinning, PinsForACudaRuleExactlyWhenADeviceIsPresent) {
  std::vector<std::byte> region(1 << 20);
  const std::size_t locked =
      HostPinning::ForRule(DeviceChoice::kAuto, "krum", region)->locked_bytes();
  if (ProbeCudaDevice().has_value()) {
    EXPECT_GE(locked, region.size());  // whole pages around the region
  } else {
    EXPECT_EQ(locked, 0u) << "no device: " << ProbeCudaDevice().error().message();
  }
}

// Whether cuBLAS is mapped into this process.
bool CublasLoaded() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("libcublas") != std::string::npos) return true;
  }
  return false;
}

TEST(GpuCudaBackend, LoadedOnlyWhenAskedFor) {
  // The probe and a rule on the CPU leave cuBLAS, and its start-up, out of the process.
  (void)ProbeCudaDevice();
  ASSERT_TRUE(CreateRule("krum", {.f = 1}, DeviceChoice::kCpu).has_value());
  EXPECT_FALSE(CublasLoaded());
#ifdef TRIBUTARY_HAVE_CUDA
  Result<const cuda::CudaBackend*> backend = LoadCudaBackend();
  ASSERT_TRUE(backend.has_value()) << backend.error();
  EXPECT_TRUE(CublasLoaded());
  EXPECT_EQ(*LoadCudaBackend(), *backend);  // once per process

  // Rule errors and rules cross the library's boundary as they are.
  Result<std::unique_ptr<robust::RobustRule>> misplaced =
      (*backend)->create_rule("median", {.f = 1});
  ASSERT_FALSE(misplaced.has_value());
  EXPECT_NE(misplaced.error().message().find("does not use parameter 'f'"), std::string::npos);
  Result<std::unique_ptr<robust::RobustRule>> rule = (*backend)->create_rule("krum", {.f = 1});
  if (ProbeCudaDevice().has_value()) {
    ASSERT_TRUE(rule.has_value()) << rule.error();
    EXPECT_EQ((*rule)->Name(), "krum");
  } else {
    ASSERT_FALSE(rule.has_value());  // CUDA's own error, as a Status
    EXPECT_FALSE(rule.error().message().empty());
  }
#endif
}

}  // namespace
}  // namespace tributary::gpu
