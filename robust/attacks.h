// Byzantine attack models for tests and benchmarks. Each writes one malicious update into
// `out` from what an omniscient attacker sees: the honest updates of the round (μ and σ are
// their coordinate-wise mean and sample standard deviation), or only a seed for the noise
// attacks. Several Byzantine clients sending the same vector is the usual setting; call once
// and reuse the vector.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/result.h"
#include "robust/update_views.h"

namespace tributary::robust::attacks {

// −μ (ByzFL's SignFlipping).
Status SignFlip(UpdateViews honest, std::span<float> out);

// Inner-product manipulation (Xie et al. 2020): −ε·μ. ε = 0.1 fools Krum and the median,
// ε = 100 breaks the mean.
Status Ipm(UpdateViews honest, double epsilon, std::span<float> out);

// "A little is enough" (Baruch et al. 2019): μ + z·σ per coordinate (σ with ddof = 1, as ByzFL;
// needs >= 2 honest updates).
Status Alie(UpdateViews honest, double z, std::span<float> out);

// Baruch et al.'s z for n clients of which f are Byzantine: s = ⌊n/2 + 1⌋ − f,
// z = Φ⁻¹((n − s)/n) (0.4307 for n = 15, f = 3). Errors when (n − s)/n is not in (0, 1).
Result<double> AlieDefaultZ(std::size_t n, std::size_t f);

// A copy of honest update `index` (Karimireddy et al. 2022).
Status Mimic(UpdateViews honest, std::size_t index, std::span<float> out);

// N(0, σ²) per coordinate (σ = 200 in the Krum/AggregaThor experiments).
void Gaussian(double sigma, std::uint64_t seed, std::span<float> out);

// U[low, high) per coordinate ([0, 1) is the Flag Aggregator paper's "random" attack).
void UniformNoise(double low, double high, std::uint64_t seed, std::span<float> out);

enum class NonFiniteKind { kPositiveInfinity, kNegativeInfinity, kNaN };
// Every coordinate +Inf, −Inf or NaN.
void NonFinite(NonFiniteKind kind, std::span<float> out);

}  // namespace tributary::robust::attacks
