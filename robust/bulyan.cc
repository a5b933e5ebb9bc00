#include "robust/bulyan.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "robust/gram.h"
#include "robust/internal/bulyan_window.h"
#include "robust/internal/coordinate_loop.h"
#include "robust/krum.h"

namespace tributary::robust {

Result<std::vector<std::size_t>> BulyanSelect(const Eigen::MatrixXd& sq_dist, std::size_t f) {
  const std::size_t n = static_cast<std::size_t>(sq_dist.rows());
  if (n < 4 * f + 3) {
    return Status::FailedPrecondition("bulyan: needs n >= 4f+3 updates (n=" + std::to_string(n) +
                                      ", f=" + std::to_string(f) + ")");
  }
  std::vector<std::size_t> pool(n);
  std::iota(pool.begin(), pool.end(), 0);
  std::vector<std::size_t> selected;
  while (selected.size() < n - 2 * f) {
    std::size_t pick = pool[0];
    if (pool.size() > 1) {
      const std::ptrdiff_t size = static_cast<std::ptrdiff_t>(pool.size());
      const std::size_t neighbours =
          static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(size - static_cast<std::ptrdiff_t>(f) - 2, 1, size - 1));
      const std::vector<double> spread = KrumScores(sq_dist, pool, pool.size() - 1);
      TRIBUTARY_ASSIGN_OR_RETURN(
          std::vector<std::size_t> lowest,
          LowestScores(KrumScores(sq_dist, pool, neighbours), pool, 1, spread));
      pick = lowest[0];
    }
    selected.push_back(pick);
    pool.erase(std::find(pool.begin(), pool.end(), pick));
  }
  return selected;
}

Status Bulyan(UpdateViews updates, std::size_t f, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(CheckUpdates("bulyan", updates, 4 * f + 3, out));
  return BulyanFromGram(updates, Gram(updates), f, out);
}

Status BulyanFromGram(UpdateViews updates, const Eigen::MatrixXd& gram, std::size_t f,
                      std::span<double> out) {
  TRIBUTARY_ASSIGN_OR_RETURN(std::vector<std::size_t> selected,
                             BulyanSelect(SquaredDistancesFromGram(gram), f));
  std::vector<UpdateView> views;
  for (std::size_t i : selected) views.push_back(updates[i]);
  const std::size_t beta = selected.size() - 2 * f;
  internal::ForEachSortedCoordinate(
      views, out, [beta](const auto& v) { return internal::BulyanWindowMean(v, v.size(), beta); });
  return Status::Ok();
}

}  // namespace tributary::robust
