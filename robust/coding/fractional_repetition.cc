#include "robust/coding/fractional_repetition.h"

#include <string>

namespace tributary::robust::coding {

Result<Eigen::MatrixXd> FractionalRepetitionMatrix(int n, int s) {
  if (n < 1 || s < 0 || s >= n) {
    return Status::InvalidArgument("fractional repetition needs 0 <= s < n (got n=" +
                                   std::to_string(n) + ", s=" + std::to_string(s) + ")");
  }
  if (n % (s + 1) != 0) {
    return Status::InvalidArgument(
        "fractional repetition needs (s+1) to divide n (got n=" + std::to_string(n) +
        ", s+1=" + std::to_string(s + 1) + "); use the cyclic code");
  }
  Eigen::MatrixXd b = Eigen::MatrixXd::Zero(n, n);
  for (int g = 0; g < n / (s + 1); ++g) b.block(g * (s + 1), g * (s + 1), s + 1, s + 1).setOnes();
  return b;
}

}  // namespace tributary::robust::coding
