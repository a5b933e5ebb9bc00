#include "robust/krum.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>

#include "robust/gram.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {

std::vector<double> KrumScores(const Eigen::MatrixXd& sq_dist, std::span<const std::size_t> pool,
                               std::size_t neighbours) {
  std::vector<double> scores(pool.size());
  std::vector<double> row;
  for (std::size_t a = 0; a < pool.size(); ++a) {
    row.clear();
    for (std::size_t b = 0; b < pool.size(); ++b) {
      if (b != a) row.push_back(sq_dist(pool[a], pool[b]));
    }
    std::partial_sort(row.begin(), row.begin() + neighbours, row.end());
    scores[a] = std::accumulate(row.begin(), row.begin() + neighbours, 0.0);
  }
  return scores;
}

Result<std::vector<std::size_t>> LowestScores(std::span<const double> scores,
                                              std::span<const std::size_t> pool,
                                              std::size_t count,
                                              std::span<const double> tie_break) {
  std::vector<std::size_t> order(pool.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (scores[a] != scores[b]) return scores[a] < scores[b];
    if (!tie_break.empty() && tie_break[a] != tie_break[b]) return tie_break[a] < tie_break[b];
    return pool[a] < pool[b];
  });
  std::vector<std::size_t> picked;
  for (std::size_t j = 0; j < count; ++j) {
    if (!std::isfinite(scores[order[j]])) {
      return Status::FailedPrecondition(
          "krum selection: fewer updates than needed have finite distances to their neighbours (more than f "
          "updates are non-finite)");
    }
    picked.push_back(pool[order[j]]);
  }
  return picked;
}

Result<std::vector<std::size_t>> MultiKrumSelect(const Eigen::MatrixXd& sq_dist, std::size_t f,
                                                 std::size_t m) {
  const std::size_t n = static_cast<std::size_t>(sq_dist.rows());
  if (n < 2 * f + 3) {
    return Status::FailedPrecondition("krum: needs n >= 2f+3 updates (n=" + std::to_string(n) +
                                      ", f=" + std::to_string(f) + ")");
  }
  if (m < 1 || m > n - f) {
    return Status::InvalidArgument("multikrum: m must be in [1, n-f] = [1, " +
                                   std::to_string(n - f) + "], got " + std::to_string(m));
  }
  std::vector<std::size_t> pool(n);
  std::iota(pool.begin(), pool.end(), 0);
  return LowestScores(KrumScores(sq_dist, pool, n - f - 2), pool, m);
}

Result<std::vector<double>> MultiKrumCoefficients(const Eigen::MatrixXd& gram, std::size_t f,
                                                  std::optional<std::size_t> m) {
  const std::size_t n = static_cast<std::size_t>(gram.rows());
  const std::size_t count = m.value_or(n >= f ? n - f : 0);
  TRIBUTARY_ASSIGN_OR_RETURN(std::vector<std::size_t> picked,
                             MultiKrumSelect(SquaredDistancesFromGram(gram), f, count));
  std::vector<double> coefficients(n, 0.0);
  for (std::size_t i : picked) coefficients[i] = 1.0 / static_cast<double>(picked.size());
  return coefficients;
}

namespace {

// Krum (m = 1) and Multi-Krum; `rule` names the caller in errors.
Status KrumFamily(std::string_view rule, UpdateViews updates, std::size_t f,
                  std::optional<std::size_t> m, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates(rule, updates, 2 * f + 3, out));
  TRIBUTARY_ASSIGN_OR_RETURN(std::vector<double> coefficients,
                             MultiKrumCoefficients(Gram(updates), f, m));
  WeightedSum(updates, coefficients, out);
  return Status::Ok();
}

}  // namespace

Status Krum(UpdateViews updates, std::size_t f, std::span<double> out) {
  return KrumFamily("krum", updates, f, 1, out);
}

Status MultiKrum(UpdateViews updates, std::size_t f, std::optional<std::size_t> m,
                 std::span<double> out) {
  return KrumFamily("multikrum", updates, f, m, out);
}

}  // namespace tributary::robust
