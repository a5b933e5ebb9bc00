#include "clients/cpp/synthetic_update.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tributary::client {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t StreamKey(uint64_t seed, uint64_t client, uint32_t round) {
  return Mix(Mix(Mix(seed) ^ client) ^ round);
}

}  // namespace

void SyntheticUpdate(uint64_t seed, uint64_t client, uint32_t round, std::span<float> out) {
  const uint64_t key = StreamKey(seed, client, round);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const uint64_t r = Mix(key + i);
    out[i] = static_cast<float>(static_cast<double>(r >> 40) * 0x1.0p-23 - 1.0);
  }
}

uint64_t SyntheticExamples(uint64_t seed, uint64_t client, uint32_t round) {
  return 1 + Mix(StreamKey(seed, client, round) ^ 0x5EEDull) % 100;
}

double AccumulateSyntheticAverage(uint64_t seed, std::span<const uint64_t> clients,
                                  uint32_t round, std::span<double> sum) {
  std::vector<float> update(sum.size());
  double total = 0;
  for (uint64_t c : clients) {
    SyntheticUpdate(seed, c, round, update);
    const double w = static_cast<double>(SyntheticExamples(seed, c, round));
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += w * update[i];
    total += w;
  }
  return total;
}

double MaxRelativeError(std::span<const float> model, std::span<const double> reference) {
  double max_ref = 0, max_diff = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(reference[i]));
    const double d = std::abs(double(model[i]) - reference[i]);
    max_diff = std::isnan(d) ? INFINITY : std::max(max_diff, d);
  }
  return max_diff / std::max(max_ref, 1e-30);
}

}  // namespace tributary::client
