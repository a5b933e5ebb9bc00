// Benchmarks of gpu/: each kernel on device-resident updates (GB/s, and the fraction of the
// card's memory bandwidth from its memory clock and bus width; GFLOP/s for the Gram matrix),
// the cost of page-locking a round's updates, and the rules end to end from host memory: CUDA
// with the updates pinned across rounds (as an aggregator pins its pool), CUDA pinning them
// per round, and the CPU.
//
// n ∈ {15, 50} updates of d = 11.2M coordinates (ResNet-18). Without a CUDA device every
// benchmark reports an error and is skipped.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "gpu/cuda/kernels.h"
#include "gpu/cuda/reductions.h"
#include "gpu/device.h"
#include "gpu/host_pinning.h"
#include "gpu/rule_factory.h"

namespace tributary::gpu::cuda {
namespace {

constexpr std::size_t kDim = 11'200'000;
constexpr std::size_t kMaxUpdates = 50;
constexpr std::size_t kGramChunk = 1 << 20;  // coordinates widened to double per DGEMM

// Host updates: kMaxUpdates rows of kDim floats, uniform in [-1, 1) (xorshift, fast to make).
const std::vector<float>& HostUpdates() {
  static const std::vector<float> values = [] {
    std::vector<float> v(kMaxUpdates * kDim);
    std::uint64_t s = 0x9e3779b97f4a7c15ull;
    for (float& x : v) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      x = static_cast<float>(static_cast<double>(s >> 11) * 0x1.0p-52 - 1.0);
    }
    return v;
  }();
  return values;
}

std::vector<robust::UpdateView> Views(std::size_t n) {
  std::vector<robust::UpdateView> views;
  for (std::size_t i = 0; i < n; ++i) views.emplace_back(HostUpdates().data() + i * kDim, kDim);
  return views;
}

// Peak DRAM bandwidth in GB/s: 2 transfers per clock × memory clock × bus width.
double PeakGBps() {
  int clock_khz = 0, bus_bits = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, 0);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0);
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
}

bool SkipWithoutDevice(benchmark::State& state) {
  const Result<std::string> device = ProbeCudaDevice();
  if (device.has_value()) return false;
  state.SkipWithError(device.error().message().c_str());
  return true;
}

// The first n host rows on the device, as type T, with stride kDim (a multiple of 4).
template <typename T>
T* DeviceUpdates(std::size_t n) {
  std::vector<T> host(n * kDim);
  for (std::size_t k = 0; k < host.size(); ++k) host[k] = static_cast<T>(HostUpdates()[k]);
  T* device = nullptr;
  cudaMalloc(&device, host.size() * sizeof(T));
  cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  return device;
}

// Times `launch()` with CUDA events over the benchmark's iterations; sets GB/s counters for
// `bytes` moved per iteration.
template <typename Launch>
void TimeKernel(benchmark::State& state, double bytes, Launch launch) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  launch();  // warm-up
  for (auto _ : state) {
    cudaEventRecord(start);
    launch();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  state.counters["GB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.counters["peak_GB/s"] = PeakGBps();
}

template <typename T>
void BM_WeightedSum(benchmark::State& state) {
  if (SkipWithoutDevice(state)) return;
  const std::size_t n = state.range(0);
  T* rows = DeviceUpdates<T>(n);
  double *coefficients = nullptr, *out = nullptr;
  const std::vector<double> host_coefficients(n, 1.0 / n);
  cudaMalloc(&coefficients, n * sizeof(double));
  cudaMemcpy(coefficients, host_coefficients.data(), n * sizeof(double), cudaMemcpyHostToDevice);
  cudaMalloc(&out, kDim * sizeof(double));
  TimeKernel(state, n * kDim * sizeof(T) + kDim * sizeof(double), [&] {
    LaunchWeightedSum(DeviceRows<T>{rows, kDim, n, kDim}, coefficients, out, nullptr);
  });
  cudaFree(rows);
  cudaFree(coefficients);
  cudaFree(out);
}

void BM_SquaredNorms(benchmark::State& state) {
  if (SkipWithoutDevice(state)) return;
  const std::size_t n = state.range(0);
  float* rows = DeviceUpdates<float>(n);
  double* norms = nullptr;
  cudaMalloc(&norms, n * sizeof(double));
  TimeKernel(state, n * kDim * sizeof(float), [&] {
    cudaMemsetAsync(norms, 0, n * sizeof(double));
    LaunchAddSquaredNorms(DeviceRows<float>{rows, kDim, n, kDim}, norms, nullptr);
  });
  cudaFree(rows);
  cudaFree(norms);
}

void BM_Selection(benchmark::State& state, bool median) {
  if (SkipWithoutDevice(state)) return;
  const std::size_t n = state.range(0);
  float* rows = DeviceUpdates<float>(n);
  double* out = nullptr;
  cudaMalloc(&out, kDim * sizeof(double));
  const DeviceRows<float> x{rows, kDim, n, kDim};
  TimeKernel(state, n * kDim * sizeof(float) + kDim * sizeof(double), [&] {
    if (median) {
      LaunchCoordinateMedian(x, out, nullptr);
    } else {
      LaunchTrimmedMean(x, n / 5, out, nullptr);
    }
  });
  cudaFree(rows);
  cudaFree(out);
}

// The Gram matrix of device-resident updates: widen a chunk to double, DGEMM into K.
void BM_Gram(benchmark::State& state) {
  if (SkipWithoutDevice(state)) return;
  const std::size_t n = state.range(0);
  float* rows = DeviceUpdates<float>(n);
  double *wide = nullptr, *gram = nullptr;
  cudaMalloc(&wide, n * kGramChunk * sizeof(double));
  cudaMalloc(&gram, n * n * sizeof(double));
  cublasHandle_t blas;
  cublasCreate(&blas);
  const double one = 1.0;
  TimeKernel(state, n * kDim * sizeof(float), [&] {
    cudaMemsetAsync(gram, 0, n * n * sizeof(double));
    for (std::size_t begin = 0; begin < kDim; begin += kGramChunk) {
      const std::size_t len = std::min(kGramChunk, kDim - begin);
      LaunchWidenToDouble(DeviceRows<float>{rows + begin, kDim, n, len}, wide, nullptr);
      cublasDgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, n, len, &one, wide, len, wide, len, &one,
                  gram, n);
    }
  });
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * n * n * kDim, benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
  cublasDestroy(blas);
  cudaFree(rows);
  cudaFree(wide);
  cudaFree(gram);
}

// Page-locking n host updates (cudaHostRegister) and releasing them: what a round pays when
// its updates were not pinned before (ChunkPipeline pins them for the round).
void BM_HostRegister(benchmark::State& state) {
  if (SkipWithoutDevice(state)) return;
  const std::size_t n = state.range(0);
  void* data = const_cast<float*>(HostUpdates().data());
  for (auto _ : state) {
    if (cudaError_t e = cudaHostRegister(data, n * kDim * sizeof(float), cudaHostRegisterDefault);
        e != cudaSuccess) {
      state.SkipWithError(cudaGetErrorString(e));
      return;
    }
    cudaHostUnregister(data);
  }
  state.counters["GB/s"] = benchmark::Counter(
      n * kDim * sizeof(float), benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
}

// The ceiling of every rule that reads its updates from host memory: n pinned updates copied
// to the device (cudaMemcpyAsync, one stream).
void BM_HostToDevice(benchmark::State& state) {
  if (SkipWithoutDevice(state)) return;
  const std::size_t n = state.range(0), bytes = n * kDim * sizeof(float);
  void* data = const_cast<float*>(HostUpdates().data());
  float* device = nullptr;
  if (cudaHostRegister(data, bytes, cudaHostRegisterDefault) != cudaSuccess ||
      cudaMalloc(&device, bytes) != cudaSuccess) {
    state.SkipWithError("cannot pin the updates or allocate their device copy");
    return;
  }
  TimeKernel(state, static_cast<double>(bytes), [&] {
    cudaMemcpyAsync(device, data, bytes, cudaMemcpyHostToDevice, nullptr);
  });
  cudaFree(device);
  cudaHostUnregister(data);
}

// One round of `rule` from host memory, through the AggregationRule interface. pinned: the
// updates stay page-locked across rounds (HostPinning, as an aggregator pins its pool), so a
// round pays only for the copies and the kernels; otherwise each round pins them.
void BM_Rule(benchmark::State& state, std::string rule, DeviceChoice device, bool pinned) {
  if (device == DeviceChoice::kCuda && SkipWithoutDevice(state)) return;
  const std::size_t n = state.range(0);
  Result<std::unique_ptr<robust::RobustRule>> r =
      CreateRule(rule,
                 rule == "krum" || rule == "trimmed-mean" ? robust::RuleOptions{.f = 5}
                 : rule == "bulyan"                       ? robust::RuleOptions{.f = 2}
                                                          : robust::RuleOptions{},
                 device);
  if (!r.has_value()) {
    state.SkipWithError(r.error().message().c_str());
    return;
  }
  const std::vector<robust::UpdateView> views = Views(n);
  std::vector<float> out(kDim);  // what an aggregator publishes
  std::unique_ptr<HostPinning> pinning;
  if (pinned) {
    pinning = HostPinning::ForRule(
        device, rule, std::as_bytes(std::span(HostUpdates().data(), n * kDim)));
    if (pinning->locked_bytes() == 0) {
      state.SkipWithError("the updates could not be page-locked");
      return;
    }
  }
  // A round: Begin and Add every update, then, once the device has copied what Add staged,
  // Finish. In a platform round the updates arrive over the network, far slower than PCIe, so
  // the copies are done when the last update arrives; finish_ms is the round's latency from
  // then on, the real time all of it.
  double finish_seconds = 0;
  auto round = [&]() -> Status {
    TRIBUTARY_RETURN_IF_ERROR((*r)->Begin({.round = 1, .dim = kDim}));
    for (const auto& v : views) TRIBUTARY_RETURN_IF_ERROR((*r)->Add(v, 1.0));
    if (device == DeviceChoice::kCuda) cudaDeviceSynchronize();
    const auto start = std::chrono::steady_clock::now();
    Status finished = (*r)->Finish(out);
    finish_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return finished;
  };
  // One untimed round first: an aggregator reuses its rule round after round, and the first
  // one allocates (device buffers, cuBLAS workspaces).
  if (Status s = round(); !s.ok()) {
    state.SkipWithError(s.message().c_str());
    return;
  }
  finish_seconds = 0;
  for (auto _ : state) {
    if (Status s = round(); !s.ok()) {
      state.SkipWithError(s.message().c_str());
      return;
    }
  }
  state.counters["finish_ms"] = 1e3 * finish_seconds / static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(
      n * kDim * sizeof(float), benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
}

void Register() {
  auto kernel = [](benchmark::internal::Benchmark* b) {
    b->Arg(15)->Arg(50)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
  };
  kernel(benchmark::RegisterBenchmark("Kernel/WeightedSum/f32", BM_WeightedSum<float>));
  kernel(benchmark::RegisterBenchmark("Kernel/WeightedSum/f16", BM_WeightedSum<__half>));
  kernel(benchmark::RegisterBenchmark("Kernel/WeightedSum/bf16", BM_WeightedSum<__nv_bfloat16>));
  kernel(benchmark::RegisterBenchmark("Kernel/SquaredNorms", BM_SquaredNorms));
  kernel(benchmark::RegisterBenchmark("Kernel/Median", BM_Selection, true));
  kernel(benchmark::RegisterBenchmark("Kernel/TrimmedMean", BM_Selection, false));
  kernel(benchmark::RegisterBenchmark("Kernel/Gram", BM_Gram));
  benchmark::RegisterBenchmark("Host/CopyToDevice", BM_HostToDevice)
      ->Arg(50)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(5);
  benchmark::RegisterBenchmark("Host/Register", BM_HostRegister)
      ->Arg(50)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(3);
  struct Variant {
    const char* name;
    DeviceChoice device;
    bool pinned;
  };
  for (const char* rule :
       {"krum", "flag", "bulyan", "normclip", "median", "trimmed-mean", "fedavg"}) {
    for (const Variant& v : {Variant{"cuda-pinned", DeviceChoice::kCuda, true},
                             Variant{"cuda", DeviceChoice::kCuda, false},
                             Variant{"cpu", DeviceChoice::kCpu, false}}) {
      const std::string name = std::string("Rule/") + rule + "/" + v.name;
      benchmark::RegisterBenchmark(name.c_str(), BM_Rule, rule, v.device, v.pinned)
          ->Arg(15)
          ->Arg(50)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(2);
    }
  }
}

}  // namespace
}  // namespace tributary::gpu::cuda

int main(int argc, char** argv) {
  tributary::gpu::cuda::Register();
  const tributary::Result<std::string> device = tributary::gpu::ProbeCudaDevice();
  benchmark::AddCustomContext("cuda_device",
                              device.has_value() ? *device : device.error().message());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
