#include "aggregator/fedavg_rule.h"

#include <cmath>
#include <string>

#include "aggregator/fedavg_kernel.h"

namespace tributary::aggregator {

Status FedAvgRule::Begin(const RoundInfo& info) {
  if (!info.accumulator.empty() && info.accumulator.size() != info.dim) {
    return Status::InvalidArgument("fedavg: accumulator has " +
                                   std::to_string(info.accumulator.size()) + " values, expected " +
                                   std::to_string(info.dim));
  }
  dim_ = info.dim;
  accumulator_ = info.accumulator;
  first_ = {};
  total_weight_ = 0;
  count_ = 0;
  begun_ = true;
  return Status::Ok();
}

Status FedAvgRule::Add(std::span<const float> update, double weight) {
  if (!begun_) return Status::FailedPrecondition("fedavg: Add before Begin");
  if (update.size() != dim_) {
    return Status::InvalidArgument("fedavg: update has " + std::to_string(update.size()) +
                                   " values, expected " + std::to_string(dim_));
  }
  if (!std::isfinite(weight) || (output_ == Output::kMean && !(weight > 0))) {
    return Status::InvalidArgument(std::string(Name()) + ": weight must be " +
                                   (output_ == Output::kMean ? "positive and " : "") + "finite");
  }
  if (count_ == 0) {
    first_ = update;
    first_weight_ = weight;
  } else if (count_ == 1) {
    if (accumulator_.empty()) sum_.resize(dim_);  // allocated by the first such round, then kept
    WeightedPairSum(Sum(), first_.data(), static_cast<float>(first_weight_), update.data(),
                    static_cast<float>(weight), dim_);
  } else {
    WeightedAccumulate(Sum(), update.data(), static_cast<float>(weight), dim_);
  }
  total_weight_ += weight;
  ++count_;
  return Status::Ok();
}

Status FedAvgRule::Finish(std::span<float> out) {
  if (count_ == 0) return Status::FailedPrecondition("fedavg: no update to average");
  if (out.size() != dim_) {
    return Status::InvalidArgument("fedavg: output has " + std::to_string(out.size()) +
                                   " values, expected " + std::to_string(dim_));
  }
  const double divisor = output_ == Output::kMean ? total_weight_ : 1.0;
  if (count_ == 1) {
    Scale(out.data(), first_.data(), static_cast<float>(first_weight_ / divisor), out.size());
  } else {
    Scale(out.data(), Sum(), static_cast<float>(1.0 / divisor), out.size());
  }
  first_ = {};
  accumulator_ = {};
  begun_ = false;
  return Status::Ok();
}

}  // namespace tributary::aggregator
