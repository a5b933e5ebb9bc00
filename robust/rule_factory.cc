#include "robust/rule_factory.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "robust/bulyan.h"
#include "robust/centered_clipping.h"
#include "robust/coordinate_wise.h"
#include "robust/flag_aggregator.h"
#include "robust/geometric_median.h"
#include "robust/krum.h"
#include "robust/norm_clipping.h"
#include "robust/normalized_mean.h"
#include "robust/weighted_sum.h"

namespace tributary::robust {
namespace {

using aggregator::RoundInfo;

// The math run at Finish() on the round's updates.
using Math = std::function<Status(UpdateViews, std::span<double>)>;

Status CheckWeight(std::string_view rule, double weight) {
  if (std::isfinite(weight) && weight > 0.0) return Status::Ok();
  return Status::InvalidArgument(std::string(rule) + ": an update's weight must be finite and > 0");
}

// A non-associative rule: keeps the views of the round's updates and runs `math` at Finish().
class HeldUpdatesRule final : public RobustRule {
 public:
  // min_updates: the fewest updates the rule can aggregate; `requirement` says why
  // ("n >= 2f+3 with f=2").
  HeldUpdatesRule(std::string_view name, std::size_t min_updates, std::string requirement,
                  Math math)
      : name_(name), min_updates_(min_updates), requirement_(std::move(requirement)),
        math_(std::move(math)) {}

  std::string_view Name() const override { return name_; }
  bool IsAssociative() const override { return false; }

  Status Begin(const RoundInfo& info) override {
    updates_.clear();
    begun_ = false;
    if (info.dim == 0) return Status::InvalidArgument(std::string(name_) + ": dimension 0");
    if (info.expected_updates != 0 && info.expected_updates < min_updates_) {
      return Status::FailedPrecondition(
          std::string(name_) + ": the round expects " + std::to_string(info.expected_updates) +
          " updates, but the rule needs at least " + std::to_string(min_updates_) + " (" +
          requirement_ + ")");
    }
    info_ = info;
    begun_ = true;
    return Status::Ok();
  }

  Status Add(std::span<const float> update, double weight) override {
    if (!begun_) return Status::FailedPrecondition(std::string(name_) + ": Add() before Begin()");
    if (update.size() != info_.dim) {
      return Status::InvalidArgument(std::string(name_) + ": update has " +
                                     std::to_string(update.size()) + " values, the round " +
                                     std::to_string(info_.dim));
    }
    TRIBUTARY_RETURN_IF_ERROR(CheckWeight(name_, weight));
    updates_.push_back(update);
    return Status::Ok();
  }

 protected:
  Status Compute(std::span<double> out) override {
    if (!begun_) return Status::FailedPrecondition(std::string(name_) + ": Finish() before Begin()");
    Status status = math_(updates_, out);
    updates_.clear();  // the views are valid only until Finish() returns
    begun_ = false;
    return status;
  }

 private:
  const std::string_view name_;
  const std::size_t min_updates_;
  const std::string requirement_;
  const Math math_;
  RoundInfo info_;
  bool begun_ = false;
  std::vector<UpdateView> updates_;
};

// FedAvg: folds each update into a double-precision weighted sum as it arrives.
class WeightedMeanRule final : public RobustRule {
 public:
  std::string_view Name() const override { return "fedavg"; }
  bool IsAssociative() const override { return true; }

  Status Begin(const RoundInfo& info) override {
    if (info.dim == 0) return Status::InvalidArgument("fedavg: dimension 0");
    sum_.assign(info.dim, 0.0);
    total_weight_ = 0.0;
    return Status::Ok();
  }

  Status Add(std::span<const float> update, double weight) override {
    if (update.size() != sum_.size()) {
      return Status::InvalidArgument("fedavg: update has " + std::to_string(update.size()) +
                                     " values, the round " + std::to_string(sum_.size()) +
                                     " (or Add() before Begin())");
    }
    TRIBUTARY_RETURN_IF_ERROR(CheckWeight("fedavg", weight));
    AddScaled(update, weight, sum_);
    total_weight_ += weight;
    return Status::Ok();
  }

 protected:
  Status Compute(std::span<double> out) override {
    if (total_weight_ == 0.0) return Status::FailedPrecondition("fedavg: no updates");
    if (out.size() != sum_.size()) return Status::InvalidArgument("fedavg: output size");
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = sum_[k] / total_weight_;
    return Status::Ok();
  }

 private:
  std::vector<double> sum_;
  double total_weight_ = 0.0;
};

constexpr std::string_view kNames[] = {"fedavg",       "flag",   "krum",  "multikrum",
                                       "bulyan",       "median", "trimmed-mean", "geomed",
                                       "cclip",        "normclip", "normalized-mean"};

struct RuleParameters {
  std::string_view rule;
  std::vector<std::string_view> parameters;
};

const std::vector<RuleParameters>& ParameterTable() {
  static const std::vector<RuleParameters> table = {
      {"fedavg", {}},
      {"flag", {"m", "lambda", "iters", "tolerance"}},
      {"krum", {"f"}},
      {"multikrum", {"f", "m"}},
      {"bulyan", {"f"}},
      {"median", {}},
      {"trimmed-mean", {"f"}},
      {"geomed", {"iters", "tolerance", "nu"}},
      {"cclip", {"iters", "tau"}},
      {"normclip", {"clip_norm"}},
      {"normalized-mean", {}},
  };
  return table;
}

// Errors for options out of range, and for set options `rule` does not use.
Status CheckOptions(std::string_view rule, const RuleOptions& o) {
  const std::pair<std::string_view, bool> set[] = {
      {"f", o.f.has_value()},         {"m", o.m.has_value()},
      {"lambda", o.lambda.has_value()}, {"iters", o.iters.has_value()},
      {"tolerance", o.tolerance.has_value()}, {"nu", o.nu.has_value()},
      {"tau", o.tau.has_value()},     {"clip_norm", o.clip_norm.has_value()}};
  const std::span<const std::string_view> used = ParameterNames(rule);
  for (const auto& [parameter, is_set] : set) {
    if (is_set && std::find(used.begin(), used.end(), parameter) == used.end()) {
      std::string uses;
      for (std::string_view u : used) uses += (uses.empty() ? "" : ", ") + std::string(u);
      return Status::InvalidArgument("rule '" + std::string(rule) + "' does not use parameter '" +
                                     std::string(parameter) + "' (it uses: " +
                                     (uses.empty() ? "none" : uses) + ")");
    }
  }
  const std::string prefix = std::string(rule) + ": ";
  if (o.f && *o.f < 0) return Status::InvalidArgument(prefix + "f must be >= 0");
  if (o.m && *o.m < 1) return Status::InvalidArgument(prefix + "m must be >= 1");
  if (o.lambda && !(std::isfinite(*o.lambda) && *o.lambda >= 0.0)) {
    return Status::InvalidArgument(prefix + "lambda must be finite and >= 0");
  }
  if (o.iters && *o.iters < 1) return Status::InvalidArgument(prefix + "iters must be >= 1");
  if (o.tolerance && !(std::isfinite(*o.tolerance) && *o.tolerance >= 0.0)) {
    return Status::InvalidArgument(prefix + "tolerance must be finite and >= 0");
  }
  if (o.nu && !(std::isfinite(*o.nu) && *o.nu > 0.0)) {
    return Status::InvalidArgument(prefix + "nu must be finite and > 0");
  }
  if (o.tau && !(std::isfinite(*o.tau) && *o.tau > 0.0)) {
    return Status::InvalidArgument(prefix + "tau must be finite and > 0");
  }
  if (o.clip_norm && !(std::isfinite(*o.clip_norm) && *o.clip_norm > 0.0)) {
    return Status::InvalidArgument(prefix + "clip_norm must be finite and > 0");
  }
  return Status::Ok();
}

std::unique_ptr<RobustRule> Held(std::string_view name, std::size_t min_updates,
                                 std::string requirement, Math math) {
  return std::make_unique<HeldUpdatesRule>(name, min_updates, std::move(requirement),
                                           std::move(math));
}

}  // namespace

std::span<const std::string_view> RuleNames() { return kNames; }

std::span<const std::string_view> ParameterNames(std::string_view rule) {
  for (const RuleParameters& entry : ParameterTable()) {
    if (entry.rule == rule) return entry.parameters;
  }
  return {};
}

Result<std::unique_ptr<RobustRule>> CreateRule(std::string_view name, const RuleOptions& options) {
  const auto known = std::find(std::begin(kNames), std::end(kNames), name);
  if (known == std::end(kNames)) {
    std::string all;
    for (std::string_view n : kNames) all += (all.empty() ? "" : ", ") + std::string(n);
    return Status::InvalidArgument("unknown rule '" + std::string(name) + "' (known: " + all + ")");
  }
  name = *known;  // a name with static storage, for Name()
  TRIBUTARY_RETURN_IF_ERROR(CheckOptions(name, options));
  const std::size_t f = static_cast<std::size_t>(options.f.value_or(0));
  const std::string with_f = " with f=" + std::to_string(f);
  std::optional<std::size_t> m;
  if (options.m) m = static_cast<std::size_t>(*options.m);

  if (name == "fedavg") return std::unique_ptr<RobustRule>(std::make_unique<WeightedMeanRule>());
  if (name == "flag") {
    FlagParams params;
    params.m = m;
    params.lambda = options.lambda.value_or(params.lambda);
    params.max_iters = options.iters.value_or(params.max_iters);
    params.tolerance = options.tolerance.value_or(params.tolerance);
    return Held(name, m ? *m + 1 : 2, "m < n", [params](UpdateViews u, std::span<double> out) {
      return FlagAggregate(u, params, out);
    });
  }
  if (name == "krum") {
    return Held(name, 2 * f + 3, "n >= 2f+3" + with_f,
                [f](UpdateViews u, std::span<double> out) { return Krum(u, f, out); });
  }
  if (name == "multikrum") {
    return Held(name, 2 * f + 3, "n >= 2f+3" + with_f,
                [f, m](UpdateViews u, std::span<double> out) { return MultiKrum(u, f, m, out); });
  }
  if (name == "bulyan") {
    return Held(name, 4 * f + 3, "n >= 4f+3" + with_f,
                [f](UpdateViews u, std::span<double> out) { return Bulyan(u, f, out); });
  }
  if (name == "median") {
    return Held(name, 1, "at least one update",
                [](UpdateViews u, std::span<double> out) { return CoordinateMedian(u, out); });
  }
  if (name == "trimmed-mean") {
    return Held(name, 2 * f + 1, "n > 2f" + with_f,
                [f](UpdateViews u, std::span<double> out) { return TrimmedMean(u, f, out); });
  }
  if (name == "geomed") {
    GeometricMedianParams params;
    params.nu = options.nu.value_or(params.nu);
    params.max_iters = options.iters.value_or(params.max_iters);
    params.tolerance = options.tolerance.value_or(params.tolerance);
    return Held(name, 1, "at least one update", [params](UpdateViews u, std::span<double> out) {
      return GeometricMedian(u, params, out);
    });
  }
  if (name == "cclip") {
    CenteredClippingParams params;
    params.tau = options.tau.value_or(params.tau);
    params.iters = options.iters.value_or(params.iters);
    // The previous round's aggregate, the next round's starting point; empty before round 1.
    auto previous = std::make_shared<std::vector<double>>();
    return Held(name, 1, "at least one update",
                [params, previous](UpdateViews u, std::span<double> out) -> Status {
                  if (!previous->empty() && previous->size() != out.size()) {
                    return Status::InvalidArgument(
                        "cclip: the update dimension changed between rounds (" +
                        std::to_string(previous->size()) + " -> " + std::to_string(out.size()) +
                        ")");
                  }
                  TRIBUTARY_RETURN_IF_ERROR(CenteredClipping(u, *previous, params, out));
                  previous->assign(out.begin(), out.end());
                  return Status::Ok();
                });
  }
  if (name == "normclip") {
    const std::optional<double> clip_norm = options.clip_norm;
    return Held(name, 1, "at least one update", [clip_norm](UpdateViews u, std::span<double> out) {
      return NormClipping(u, clip_norm, out);
    });
  }
  return Held(name, 1, "at least one update",
              [](UpdateViews u, std::span<double> out) { return NormalizedMean(u, out); });
}

}  // namespace tributary::robust
