// Deterministic synthetic updates for simulated clients, load tests and benchmarks.
//
// Every value is a pure function of (seed, client, round, index), so a verifier can recompute
// any client's update instead of storing it, and check a published model against the exact
// weighted average computed independently in double precision. Thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace tributary::client {

// Fills `out` with values uniform in [-1, 1).
void SyntheticUpdate(uint64_t seed, uint64_t client, uint32_t round, std::span<float> out);
// A varied example count in [1, 100] (the update's weight).
uint64_t SyntheticExamples(uint64_t seed, uint64_t client, uint32_t round);

// Accumulates the weighted sum of the listed clients' updates into `sum` (double) and returns
// the total weight. REQUIRES: sum.size() is the model size; sum zeroed by the caller.
double AccumulateSyntheticAverage(uint64_t seed, std::span<const uint64_t> clients,
                                  uint32_t round, std::span<double> sum);

// max_i |model_i − reference_i| / max_i |reference_i| (the L∞ relative error).
double MaxRelativeError(std::span<const float> model, std::span<const double> reference);

}  // namespace tributary::client
