#include "robust/coding/conditioning.h"

#include <Eigen/SVD>
#include <algorithm>
#include <limits>
#include <vector>

#include "robust/coding/straggler_patterns.h"

namespace tributary::robust::coding {

ConditionReport WorstSurvivorCondition(const Eigen::MatrixXd& b, int s, uint64_t max_patterns,
                                       uint64_t seed, double stop_above) {
  const int n = static_cast<int>(b.rows());
  const Eigen::Index rank = Eigen::BDCSVD<Eigen::MatrixXd>(b).rank();
  const double eps = std::numeric_limits<double>::epsilon() * n;

  ConditionReport report;
  report.exhaustive = BinomialCoefficient(n, s) <= max_patterns;
  Eigen::MatrixXd bf(n - s, b.cols());
  for (const std::vector<int>& survivors : SurvivorSets(n, s, max_patterns, seed)) {
    for (int k = 0; k < n - s; ++k) bf.row(k) = b.row(survivors[k]);
    const Eigen::VectorXd sigma = Eigen::BDCSVD<Eigen::MatrixXd>(bf).singularValues();
    double cond = std::numeric_limits<double>::infinity();
    if (rank >= 1 && rank <= sigma.size() && sigma(rank - 1) > eps * sigma(0)) {
      cond = sigma(0) / sigma(rank - 1);
    }
    report.worst = std::max(report.worst, cond);
    ++report.patterns;
    if (report.worst > stop_above) {
      report.exhaustive = false;
      break;
    }
  }
  return report;
}

}  // namespace tributary::robust::coding
