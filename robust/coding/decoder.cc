#include "robust/coding/decoder.h"

#include <Eigen/Dense>
#include <cmath>
#include <string>
#include <vector>

namespace tributary::robust::coding {

Result<std::vector<bool>> ArrivalMask(int n, std::span<const int> arrived) {
  std::vector<bool> mask(n, false);
  for (const int w : arrived) {
    if (w < 0 || w >= n) {
      return Status::InvalidArgument("worker id " + std::to_string(w) + " is out of range [0, " +
                                     std::to_string(n) + ")");
    }
    if (mask[w]) return Status::InvalidArgument("worker id " + std::to_string(w) + " is repeated");
    mask[w] = true;
  }
  return mask;
}

Result<Decoding> Decode(const Eigen::MatrixXd& b, std::span<const int> arrived, double tolerance) {
  const int n = static_cast<int>(b.rows());
  TRIBUTARY_ASSIGN_OR_RETURN(const std::vector<bool> mask, ArrivalMask(n, arrived));
  std::vector<int> rows;
  for (int w = 0; w < n; ++w) {
    if (mask[w]) rows.push_back(w);
  }

  Decoding d;
  d.coefficients = Eigen::VectorXd::Zero(n);
  const Eigen::VectorXd ones = Eigen::VectorXd::Ones(b.cols());
  if (!rows.empty()) {
    // B_F^T: n x |F|, one column per arrived worker.
    Eigen::MatrixXd bft(b.cols(), static_cast<Eigen::Index>(rows.size()));
    for (size_t k = 0; k < rows.size(); ++k) bft.col(k) = b.row(rows[k]).transpose();
    const Eigen::VectorXd a = bft.completeOrthogonalDecomposition().solve(ones);
    for (size_t k = 0; k < rows.size(); ++k) d.coefficients(rows[k]) = a(k);
  }
  d.residual = (b.transpose() * d.coefficients - ones).norm();
  d.exact = std::isfinite(d.residual) && d.residual <= tolerance * std::sqrt(double(b.cols()));
  return d;
}

}  // namespace tributary::robust::coding
