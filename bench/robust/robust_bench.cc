// Time per aggregation of every robust rule, through the AggregationRule interface the platform
// drives (Begin, Add each update view, Finish), for n ∈ {15, 50} updates of d ∈ {1M, 11.2M}
// floats (11.2M: a ResNet-18), with f = (n − 3)/4 declared Byzantine (the most Bulyan allows).
// Beside it, in the same run: Eigen's float GEMM XᵀX on the same machine (GFLOP/s), the ceiling
// the Gram-based rules (Krum, Multi-Krum, Bulyan, Flag, geometric median) are measured against.
//
//   robust_bench [--benchmark_filter=...]
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include "robust/rule_factory.h"

namespace tributary::robust {
namespace {

constexpr std::size_t kSmallDim = 1'000'000;
constexpr std::size_t kResNet18Dim = 11'200'000;
constexpr std::size_t kMaxUpdates = 50;

// kMaxUpdates honest-looking updates of `dim` floats (a shared signal plus as much noise), built
// once per dimension and kept (2.4 GB for both); smaller n use the first rows.
const std::vector<std::vector<float>>& Updates(std::size_t dim) {
  static std::map<std::size_t, std::vector<std::vector<float>>> cache;
  auto& rows = cache[dim];
  if (rows.empty()) {
    std::uint64_t state = 88172645463325252ull;
    auto next = [&state] {  // xorshift64: uniform in [-0.5, 0.5)
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      return static_cast<float>(state >> 40) / 16777216.0f - 0.5f;
    };
    std::vector<float> signal(dim);
    for (float& v : signal) v = next();
    rows.resize(kMaxUpdates);
    for (auto& row : rows) {
      row.resize(dim);
      for (std::size_t k = 0; k < dim; ++k) row[k] = signal[k] + next();
    }
  }
  return rows;
}

RuleOptions OptionsFor(const std::string& rule, int n) {
  const int f = (n - 3) / 4;
  if (rule == "krum" || rule == "multikrum" || rule == "bulyan" || rule == "trimmed-mean") {
    return {.f = f};
  }
  return {};
}

void BM_Rule(benchmark::State& state, std::string rule) {
  const int n = static_cast<int>(state.range(0));
  const std::size_t dim = static_cast<std::size_t>(state.range(1));
  const auto& rows = Updates(dim);
  auto created = CreateRule(rule, OptionsFor(rule, n));
  if (!created.has_value()) {
    state.SkipWithError(created.error().ToString().c_str());
    return;
  }
  std::unique_ptr<RobustRule> r = std::move(created).value();
  std::vector<float> out(dim);
  std::uint64_t round = 0;
  for (auto _ : state) {
    Status s = r->Begin({.round = ++round, .dim = dim, .expected_updates = std::size_t(n)});
    for (int i = 0; i < n && s.ok(); ++i) s = r->Add(rows[i], 1.0);
    if (s.ok()) s = r->Finish(out);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s_input"] = benchmark::Counter(
      static_cast<double>(n) * dim * sizeof(float), benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
}

// The reference: Eigen's float GEMM XᵀX on an n×d matrix, 2n²d flops per iteration, on
// range(2) threads (1, or 2 through Eigen's OpenMP GEMM, which stalls badly when the shared
// cores are busy; the 1-thread figure is the stable one).
void BM_EigenGemm(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const Eigen::Index dim = state.range(1);
  const Eigen::MatrixXf x = Eigen::MatrixXf::Random(dim, n);
  Eigen::MatrixXf gram(n, n);
  Eigen::setNbThreads(static_cast<int>(state.range(2)));
  for (auto _ : state) {
    gram.noalias() = x.transpose() * x;
    benchmark::DoNotOptimize(gram.data());
  }
  Eigen::setNbThreads(0);  // back to the default
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * n * n * dim, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void Register() {
  benchmark::RegisterBenchmark("EigenGemm_XtX", BM_EigenGemm)
      ->Args({50, static_cast<int64_t>(kSmallDim), 1})
      ->Args({50, static_cast<int64_t>(kSmallDim), 2})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0)
      ->MeasureProcessCPUTime();
  for (std::string_view name : RuleNames()) {
    const std::string rule(name);
    auto* b = benchmark::RegisterBenchmark(("Rule/" + rule).c_str(), BM_Rule, rule);
    for (std::size_t dim : {kSmallDim, kResNet18Dim}) {
      for (int n : {15, 50}) b->Args({n, static_cast<int64_t>(dim)});
    }
    b->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()->Iterations(2);
  }
}

}  // namespace
}  // namespace tributary::robust

int main(int argc, char** argv) {
  tributary::robust::Register();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
