#include "robust/attacks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tributary::robust::attacks {
namespace {

Status CheckHonest(std::string_view attack, UpdateViews honest, std::size_t min_count,
                   std::span<float> out) {
  if (honest.size() < min_count) {
    return Status::InvalidArgument(std::string(attack) + ": needs at least " +
                                   std::to_string(min_count) + " honest updates");
  }
  for (UpdateView h : honest) {
    if (h.size() != out.size()) {
      return Status::InvalidArgument(std::string(attack) +
                                     ": honest updates and output differ in size");
    }
  }
  return Status::Ok();
}

std::vector<double> Mean(UpdateViews honest, std::size_t dim) {
  std::vector<double> mean(dim, 0.0);
  for (UpdateView h : honest) {
    for (std::size_t k = 0; k < dim; ++k) mean[k] += h[k];
  }
  for (double& v : mean) v /= static_cast<double>(honest.size());
  return mean;
}

// Φ(x), the standard normal CDF.
double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

}  // namespace

Status SignFlip(UpdateViews honest, std::span<float> out) { return Ipm(honest, 1.0, out); }

Status Ipm(UpdateViews honest, double epsilon, std::span<float> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckHonest("ipm", honest, 1, out));
  const std::vector<double> mean = Mean(honest, out.size());
  for (std::size_t k = 0; k < out.size(); ++k) out[k] = static_cast<float>(-epsilon * mean[k]);
  return Status::Ok();
}

Status Alie(UpdateViews honest, double z, std::span<float> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckHonest("alie", honest, 2, out));
  const std::vector<double> mean = Mean(honest, out.size());
  std::vector<double> sq_dev(out.size(), 0.0);
  for (UpdateView h : honest) {
    for (std::size_t k = 0; k < out.size(); ++k) sq_dev[k] += (h[k] - mean[k]) * (h[k] - mean[k]);
  }
  const double dof = static_cast<double>(honest.size() - 1);
  for (std::size_t k = 0; k < out.size(); ++k) {
    out[k] = static_cast<float>(mean[k] + z * std::sqrt(sq_dev[k] / dof));
  }
  return Status::Ok();
}

Result<double> AlieDefaultZ(std::size_t n, std::size_t f) {
  const double s = std::floor(static_cast<double>(n) / 2.0 + 1.0) - static_cast<double>(f);
  const double q = (static_cast<double>(n) - s) / static_cast<double>(n);
  if (!(q > 0.0 && q < 1.0)) {
    return Status::InvalidArgument("alie: no default z for n=" + std::to_string(n) +
                                   ", f=" + std::to_string(f));
  }
  // Φ is increasing; bisection to double precision on [-40, 40].
  double lo = -40.0, hi = 40.0;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = 0.5 * (lo + hi);
    (NormalCdf(mid) < q ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

Status Mimic(UpdateViews honest, std::size_t index, std::span<float> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckHonest("mimic", honest, index + 1, out));
  std::copy(honest[index].begin(), honest[index].end(), out.begin());
  return Status::Ok();
}

void Gaussian(double sigma, std::uint64_t seed, std::span<float> out) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, sigma);
  for (float& v : out) v = static_cast<float>(normal(rng));
}

void UniformNoise(double low, double high, std::uint64_t seed, std::span<float> out) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(low, high);
  for (float& v : out) v = static_cast<float>(uniform(rng));
}

void NonFinite(NonFiniteKind kind, std::span<float> out) {
  float value = std::numeric_limits<float>::quiet_NaN();
  if (kind == NonFiniteKind::kPositiveInfinity) value = std::numeric_limits<float>::infinity();
  if (kind == NonFiniteKind::kNegativeInfinity) value = -std::numeric_limits<float>::infinity();
  std::fill(out.begin(), out.end(), value);
}

}  // namespace tributary::robust::attacks
