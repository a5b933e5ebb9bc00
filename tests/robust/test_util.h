// Helpers shared by the robust/ tests: update matrices, running a rule through the
// AggregationRule interface, and vector comparisons.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "common/result.h"
#include "robust/rule_factory.h"
#include "robust/update_views.h"

namespace tributary::robust::testing {

// Row-major updates with views over them.
struct Updates {
  std::vector<std::vector<float>> rows;

  std::vector<UpdateView> Views() const {
    return std::vector<UpdateView>(rows.begin(), rows.end());
  }
  std::size_t dim() const { return rows.empty() ? 0 : rows[0].size(); }
};

inline Updates FromRows(const std::vector<std::vector<double>>& rows) {
  Updates u;
  for (const auto& r : rows) u.rows.emplace_back(r.begin(), r.end());
  return u;
}

// n rows of d independent N(mean, sd²) values.
inline Updates Gaussian(std::size_t n, std::size_t d, std::uint64_t seed, double sd = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, sd);
  Updates u;
  for (std::size_t i = 0; i < n; ++i) {
    u.rows.emplace_back(d);
    for (float& v : u.rows.back()) v = static_cast<float>(normal(rng));
  }
  return u;
}

// Runs `rule` once over `u` (one round, weights 1) and returns the double-precision aggregate.
inline Result<std::vector<double>> RunRule(std::string_view rule, const RuleOptions& options,
                                           const Updates& u,
                                           const std::vector<double>& weights = {}) {
  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<RobustRule> r, CreateRule(rule, options));
  TRIBUTARY_RETURN_IF_ERROR(r->Begin({.round = 1, .dim = u.dim(), .expected_updates = 0}));
  for (std::size_t i = 0; i < u.rows.size(); ++i) {
    TRIBUTARY_RETURN_IF_ERROR(r->Add(u.rows[i], weights.empty() ? 1.0 : weights[i]));
  }
  std::vector<double> out(u.dim());
  TRIBUTARY_RETURN_IF_ERROR(r->FinishDouble(out));
  return out;
}

inline double Norm(const std::vector<double>& a) {
  double s = 0.0;
  for (double v : a) s += v * v;
  return std::sqrt(s);
}

inline double Cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) dot += a[k] * b[k];
  return dot / (Norm(a) * Norm(b));
}

// max_k |a_k − b_k| / max(1, max_k |b_k|).
inline double RelativeError(const std::vector<double>& a, const std::vector<double>& b) {
  double err = 0.0, scale = 1.0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    err = std::max(err, std::abs(a[k] - b[k]));
    scale = std::max(scale, std::abs(b[k]));
  }
  return err / scale;
}

inline std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

inline std::vector<double> Mean(const Updates& u) {
  std::vector<double> m(u.dim(), 0.0);
  for (const auto& r : u.rows) {
    for (std::size_t k = 0; k < m.size(); ++k) m[k] += r[k];
  }
  for (double& v : m) v /= static_cast<double>(u.rows.size());
  return m;
}

}  // namespace tributary::robust::testing

#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(tmp.has_value()) << tmp.error();    \
  lhs = std::move(tmp).value()
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(TRIBUTARY_CONCAT(_assert_result_, __LINE__), lhs, expr)
