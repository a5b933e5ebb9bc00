// Test helpers for gradient codes: random partition gradients and the coded results workers
// would send, so that tests compare a decoded sum against the directly computed one.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <random>

namespace tributary::robust::coding::testing {

// `partitions` x `dim` standard-normal gradients (row j = g_j), fixed by the seed.
inline Eigen::MatrixXd RandomGradients(int partitions, int dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd g(partitions, dim);
  for (int j = 0; j < partitions; ++j) {
    for (int k = 0; k < dim; ++k) g(j, k) = normal(rng);
  }
  return g;
}

// ||sum_i a_i f_i - sum_j g_j|| / ||sum_j g_j|| with f = B G the workers' coded results.
inline double RelativeDecodeError(const Eigen::MatrixXd& b, const Eigen::VectorXd& a,
                                  const Eigen::MatrixXd& g) {
  const Eigen::RowVectorXd truth = g.colwise().sum();
  const Eigen::RowVectorXd decoded = a.transpose() * (b * g);
  return (decoded - truth).norm() / truth.norm();
}

}  // namespace tributary::robust::coding::testing
