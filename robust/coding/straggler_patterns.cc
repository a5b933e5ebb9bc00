#include "robust/coding/straggler_patterns.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <numeric>
#include <random>

namespace tributary::robust::coding {
namespace {

// The workers not in the sorted straggler list.
std::vector<int> Complement(int n, const std::vector<int>& stragglers) {
  std::vector<int> survivors;
  survivors.reserve(n - stragglers.size());
  size_t next = 0;
  for (int w = 0; w < n; ++w) {
    if (next < stragglers.size() && stragglers[next] == w) {
      ++next;
    } else {
      survivors.push_back(w);
    }
  }
  return survivors;
}

}  // namespace

uint64_t BinomialCoefficient(int n, int k) {
  assert(0 <= k && k <= n);
  k = std::min(k, n - k);
  uint64_t c = 1;
  for (int i = 1; i <= k; ++i) {
    // c * (n-k+i) / i is exact at every step; detect overflow of the product first.
    const uint64_t factor = static_cast<uint64_t>(n - k + i);
    if (c > std::numeric_limits<uint64_t>::max() / factor)
      return std::numeric_limits<uint64_t>::max();
    c = c * factor / i;
  }
  return c;
}

std::vector<std::vector<int>> SurvivorSets(int n, int s, uint64_t max_sets, uint64_t seed) {
  assert(0 <= s && s < n && max_sets >= 1);
  std::vector<std::vector<int>> sets;
  if (BinomialCoefficient(n, s) <= max_sets) {
    // Enumerate the straggler combinations in lexicographic order.
    std::vector<int> stragglers(s);
    std::iota(stragglers.begin(), stragglers.end(), 0);
    while (true) {
      sets.push_back(Complement(n, stragglers));
      int i = s - 1;
      while (i >= 0 && stragglers[i] == n - s + i) --i;
      if (i < 0) break;
      ++stragglers[i];
      for (int j = i + 1; j < s; ++j) stragglers[j] = stragglers[j - 1] + 1;
    }
    return sets;
  }
  std::mt19937_64 rng(seed);
  std::vector<int> workers(n);
  sets.reserve(max_sets);
  for (uint64_t k = 0; k < max_sets; ++k) {
    std::iota(workers.begin(), workers.end(), 0);
    // Partial Fisher-Yates: the first s entries become a uniform s-subset.
    for (int i = 0; i < s; ++i) {
      std::uniform_int_distribution<int> pick(i, n - 1);
      std::swap(workers[i], workers[pick(rng)]);
    }
    std::vector<int> stragglers(workers.begin(), workers.begin() + s);
    std::sort(stragglers.begin(), stragglers.end());
    sets.push_back(Complement(n, stragglers));
  }
  return sets;
}

}  // namespace tributary::robust::coding
