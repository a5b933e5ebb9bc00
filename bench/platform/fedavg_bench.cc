// FedAvg kernel bandwidth beside same-run streaming baselines.
//
// All kernels run over the same ResNet-18-sized vectors (11.2M float32, 44.8 MB each). The
// baselines are the memory-bound loops: `read` (a sum: 1 read stream), `copy` (1 read + 1
// write stream) and `add` (a[i] += b[i]: 2 reads + 1 write, exactly the traffic of
// acc += w·x). Bytes are counted as all streams moved, so the figures compare directly.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "aggregator/fedavg_kernel.h"
#include "aggregator/fedavg_rule.h"

namespace {

constexpr std::size_t kParams = 11'200'000;

struct Buffers {
  std::vector<float> acc = std::vector<float>(kParams, 1.0f);
  std::vector<float> x = std::vector<float>(kParams, 0.5f);
  std::vector<float> y = std::vector<float>(kParams, 0.25f);
};

Buffers& Data() {
  static Buffers b;  // pre-faulted once, shared by every benchmark
  return b;
}

void SetBytes(benchmark::State& state, std::size_t streams) {
  state.counters["GB/s"] = benchmark::Counter(
      double(state.iterations()) * kParams * sizeof(float) * streams,
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_BaselineRead(benchmark::State& state) {
  auto& d = Data();
  const float* __restrict x = d.x.data();
  for (auto _ : state) {
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::size_t i = 0; i < kParams; ++i) sum += x[i];
    benchmark::DoNotOptimize(sum);
  }
  SetBytes(state, 1);
}

void BM_BaselineCopy(benchmark::State& state) {
  auto& d = Data();
  for (auto _ : state) {
    std::memcpy(d.acc.data(), d.x.data(), kParams * sizeof(float));
    benchmark::ClobberMemory();
  }
  SetBytes(state, 2);
}

void BM_BaselineAdd(benchmark::State& state) {
  auto& d = Data();
  float* __restrict a = d.acc.data();
  const float* __restrict b = d.x.data();
  for (auto _ : state) {
    for (std::size_t i = 0; i < kParams; ++i) a[i] += b[i];
    benchmark::ClobberMemory();
  }
  SetBytes(state, 3);
}

// A kernel out = f(acc, x, w) over the shared vectors, counting `streams` per element.
void RunKernel(benchmark::State& state, void (*kernel)(float*, const float*, float, std::size_t),
               float w, std::size_t streams) {
  auto& d = Data();
  for (auto _ : state) {
    kernel(d.acc.data(), d.x.data(), w, kParams);
    benchmark::ClobberMemory();
  }
  SetBytes(state, streams);
}

void BM_WeightedAccumulate(benchmark::State& state) {
  RunKernel(state, tributary::aggregator::WeightedAccumulate, 0.25f, 3);
}

// A round's first two updates (acc = w₁·x₁ + w₂·x₂): two reads and one streamed write, the
// traffic of the add baseline without the read of the destination.
void BM_WeightedPairSum(benchmark::State& state) {
  auto& d = Data();
  for (auto _ : state) {
    tributary::aggregator::WeightedPairSum(d.acc.data(), d.x.data(), 0.25f, d.y.data(), 0.5f,
                                           kParams);
    benchmark::ClobberMemory();
  }
  SetBytes(state, 3);
}

// The final division (out = s·acc), or a round of one update scaled into the output: one read
// and one write stream, so its ceiling is the copy baseline.
void BM_Scale(benchmark::State& state) { RunKernel(state, tributary::aggregator::Scale, 0.5f, 2); }

void BM_FedAvgRuleAdd(benchmark::State& state) {
  auto& d = Data();
  tributary::aggregator::FedAvgRule rule;
  (void)rule.Begin({.round = 1, .dim = kParams});
  (void)rule.Add(d.x, 1.0);  // the first two Adds initialise; measure the steady state
  (void)rule.Add(d.y, 2.0);
  for (auto _ : state) {
    (void)rule.Add(d.x, 3.0);
    benchmark::ClobberMemory();
  }
  SetBytes(state, 3);
}

}  // namespace

BENCHMARK(BM_BaselineRead)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_BaselineCopy)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_BaselineAdd)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_WeightedAccumulate)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_WeightedPairSum)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_Scale)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_FedAvgRuleAdd)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK_MAIN();
