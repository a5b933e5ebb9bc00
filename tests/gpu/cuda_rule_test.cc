// Every CUDA rule against its CPU twin through the AggregationRule interface: the same
// preconditions, the same answers (1e-5 relative for sums and Gram-based rules, bit-identical
// for the median and the trimmed mean), over several chunks and across rounds.
#include "gpu/cuda/cuda_rule.h"

#include <vector>

#include "gpu/host_pinning.h"
#include "gpu/rule_factory.h"
#include "tests/gpu/cuda_test_util.h"

namespace tributary::gpu::cuda {
namespace {

using CudaRules = testing::CudaTest;
using robust::RuleOptions;

constexpr std::size_t kDim = 30000 + 3;

Result<std::vector<double>> RunCuda(std::string_view rule, const RuleOptions& options,
                                    const robust::testing::Updates& u,
                                    const std::vector<double>& weights = {}) {
  // Chunks of 4096 coordinates: eight of them, the last one partial.
  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<robust::RobustRule> r,
                             CreateCudaRule(rule, options, u.rows.size() * 4096 * sizeof(float)));
  std::vector<double> out(u.dim());
  for (int round = 1; round <= 2; ++round) {  // the second round reuses streams and buffers
    TRIBUTARY_RETURN_IF_ERROR(r->Begin({.round = static_cast<uint64_t>(round), .dim = u.dim()}));
    for (std::size_t i = 0; i < u.rows.size(); ++i) {
      TRIBUTARY_RETURN_IF_ERROR(r->Add(u.rows[i], weights.empty() ? 1.0 : weights[i]));
    }
    TRIBUTARY_RETURN_IF_ERROR(r->FinishDouble(out));
  }
  return out;
}

struct Case {
  std::string_view rule;
  RuleOptions options;
  bool exact;
};

TEST_F(CudaRules, MatchTheCpuRules) {
  const std::vector<Case> cases = {
      {"fedavg", {}, false},
      {"krum", {.f = 2}, false},
      {"multikrum", {.f = 2}, false},
      {"multikrum", {.f = 1, .m = 3}, false},
      {"bulyan", {.f = 2}, false},
      {"flag", {}, false},
      {"flag", {.m = 2, .lambda = 0.5, .iters = 6}, false},
      {"normclip", {}, false},
      {"normclip", {.clip_norm = 2.0}, false},
      {"normalized-mean", {}, false},
      {"median", {}, true},
      {"trimmed-mean", {.f = 3}, true},
  };
  auto u = testing::QuantizedGaussian(15, kDim, 7);
  for (std::size_t i = 0; i < 3; ++i) {  // three outliers
    for (float& v : u.rows[i]) v = v * 8 + 5;
  }
  std::vector<double> weights(u.rows.size());
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = 1.0 + static_cast<double>(i);
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.rule));
    const std::vector<double>& w = c.rule == "fedavg" ? weights : std::vector<double>{};
    Result<std::vector<double>> cpu = robust::testing::RunRule(c.rule, c.options, u, w);
    Result<std::vector<double>> gpu = RunCuda(c.rule, c.options, u, w);
    ASSERT_TRUE(cpu.has_value()) << cpu.error();
    ASSERT_TRUE(gpu.has_value()) << gpu.error();
    if (c.exact) {
      EXPECT_EQ(*gpu, *cpu);
    } else {
      EXPECT_LT(testing::RelativeError(*gpu, *cpu), 1e-5);
    }
  }
}

TEST_F(CudaRules, KeepTheCpuPreconditions) {
  Result<std::unique_ptr<robust::RobustRule>> krum = CreateCudaRule("krum", {.f = 2});
  ASSERT_TRUE(krum.has_value()) << krum.error();
  const Status begun = (*krum)->Begin({.round = 1, .dim = 8, .expected_updates = 5});
  EXPECT_EQ(begun.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(begun.message().find("n >= 2f+3"), std::string::npos) << begun.message();
  ASSERT_TRUE((*krum)->Begin({.round = 1, .dim = 8}).ok());
  const std::vector<float> short_update(7, 1.0f);
  EXPECT_EQ((*krum)->Add(short_update, 1.0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCudaRule("geomed", {}).error().code(), StatusCode::kUnimplemented);
}

TEST_F(CudaRules, MedianBeyondTheKernelsCapacityRunsOnTheCpu) {
  const auto u = testing::QuantizedGaussian(kMaxSelectionRows + 1, 257, 9);
  Result<std::vector<double>> cpu = robust::testing::RunRule("median", {}, u);
  Result<std::vector<double>> gpu = RunCuda("median", {}, u);
  ASSERT_TRUE(cpu.has_value() && gpu.has_value());
  EXPECT_EQ(*gpu, *cpu);
}

TEST_F(CudaRules, CudaChoiceRunsRulesWithoutCudaImplementationOnTheCpu) {
  Result<std::unique_ptr<robust::RobustRule>> rule = CreateRule("geomed", {}, DeviceChoice::kCuda);
  ASSERT_TRUE(rule.has_value()) << rule.error();
  EXPECT_EQ((*rule)->Name(), "geomed");
}

// An aggregator pins its pool once; each round's pipeline then finds the memory locked already
// and leaves it so (no second registration, which CUDA would refuse).
TEST_F(CudaRules, RulesOverMemoryPinnedAcrossRoundsMatchTheCpu) {
  const auto u = testing::QuantizedGaussian(9, kDim, 11);
  std::vector<float> pool;  // the rows back to back, as slots of one pool
  for (const auto& row : u.rows) pool.insert(pool.end(), row.begin(), row.end());
  const std::unique_ptr<HostPinning> pinned =
      HostPinning::ForRule(DeviceChoice::kCuda, "krum", std::as_bytes(std::span(pool)));
  ASSERT_GE(pinned->locked_bytes(), pool.size() * sizeof(float));
  Result<std::unique_ptr<robust::RobustRule>> rule = CreateCudaRule("krum", {.f = 2});
  ASSERT_TRUE(rule.has_value()) << rule.error();
  // Round 1 as the offline CLI takes it (double), round 2 as an aggregator does (float, into
  // the rule's own page-locked scratch).
  std::vector<double> out(u.dim());
  std::vector<float> published(u.dim());
  for (int round = 1; round <= 2; ++round) {
    ASSERT_TRUE((*rule)->Begin({.round = static_cast<uint64_t>(round), .dim = u.dim()}).ok());
    for (std::size_t i = 0; i < u.rows.size(); ++i) {
      ASSERT_TRUE((*rule)->Add(std::span(pool).subspan(i * u.dim(), u.dim()), 1.0).ok());
    }
    ASSERT_TRUE(round == 1 ? (*rule)->FinishDouble(out).ok() : (*rule)->Finish(published).ok());
  }
  Result<std::vector<double>> cpu = robust::testing::RunRule("krum", {.f = 2}, u);
  ASSERT_TRUE(cpu.has_value()) << cpu.error();
  EXPECT_LT(testing::RelativeError(out, *cpu), 1e-5);
  EXPECT_LT(testing::RelativeError(std::vector<double>(published.begin(), published.end()), *cpu),
            1e-5);
}

}  // namespace
}  // namespace tributary::gpu::cuda
