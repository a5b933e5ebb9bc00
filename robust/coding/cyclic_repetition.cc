#include "robust/coding/cyclic_repetition.h"

#include <Eigen/Dense>
#include <cmath>
#include <numbers>
#include <random>
#include <string>

namespace tributary::robust::coding {
namespace {

// Standard normal draws by Box-Muller over mt19937_64, whose output is fixed by the standard
// (std::normal_distribution is not, so it would tie B to one standard library).
class PortableNormal {
 public:
  explicit PortableNormal(uint64_t seed) : rng_(seed) {}
  double Next() {
    // 53-bit uniforms in (0, 1]: log() never sees 0.
    const double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace

Result<Eigen::MatrixXd> CyclicRepetitionMatrix(int n, int s, uint64_t seed) {
  if (n < 1 || s < 0 || s >= n) {
    return Status::InvalidArgument("cyclic repetition needs 0 <= s < n (got n=" +
                                   std::to_string(n) + ", s=" + std::to_string(s) + ")");
  }
  Eigen::MatrixXd b = Eigen::MatrixXd::Zero(n, n);
  if (s == 0) {
    b.setIdentity();
    return b;
  }
  PortableNormal normal(seed);
  Eigen::MatrixXd h(s, n);
  for (int j = 0; j < n - 1; ++j) {
    for (int r = 0; r < s; ++r) h(r, j) = normal.Next();
  }
  h.col(n - 1) = -h.leftCols(n - 1).rowwise().sum();

  Eigen::MatrixXd block(s, s);
  for (int i = 0; i < n; ++i) {
    for (int k = 1; k <= s; ++k) block.col(k - 1) = h.col((i + k) % n);
    const Eigen::FullPivLU<Eigen::MatrixXd> lu(block);
    if (!lu.isInvertible()) {
      return Status::Internal("cyclic repetition: singular block of H for worker " +
                              std::to_string(i) + "; draw with another seed");
    }
    const Eigen::VectorXd v = lu.solve(-h.col(i));
    b(i, i) = 1.0;
    for (int k = 1; k <= s; ++k) b(i, (i + k) % n) = v(k - 1);
  }
  return b;
}

}  // namespace tributary::robust::coding
