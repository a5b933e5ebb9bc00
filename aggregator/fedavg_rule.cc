#include "aggregator/fedavg_rule.h"

#include <cmath>
#include <string>

#include "aggregator/fedavg_kernel.h"

namespace tributary::aggregator {

Status FedAvgRule::Begin(const RoundInfo& info) {
  sum_.resize(info.dim);
  total_weight_ = 0;
  count_ = 0;
  begun_ = true;
  return Status::Ok();
}

Status FedAvgRule::Add(std::span<const float> update, double weight) {
  if (!begun_) return Status::FailedPrecondition("fedavg: Add before Begin");
  if (update.size() != sum_.size()) {
    return Status::InvalidArgument("fedavg: update has " + std::to_string(update.size()) +
                                   " values, expected " + std::to_string(sum_.size()));
  }
  if (!std::isfinite(weight) || (output_ == Output::kMean && !(weight > 0))) {
    return Status::InvalidArgument(std::string(Name()) + ": weight must be " +
                                   (output_ == Output::kMean ? "positive and " : "") + "finite");
  }
  if (count_ == 0) {
    WeightedCopy(sum_.data(), update.data(), static_cast<float>(weight), sum_.size());
  } else {
    WeightedAccumulate(sum_.data(), update.data(), static_cast<float>(weight), sum_.size());
  }
  total_weight_ += weight;
  ++count_;
  return Status::Ok();
}

Status FedAvgRule::Finish(std::span<float> out) {
  if (count_ == 0) return Status::FailedPrecondition("fedavg: no update to average");
  if (out.size() != sum_.size()) {
    return Status::InvalidArgument("fedavg: output has " + std::to_string(out.size()) +
                                   " values, expected " + std::to_string(sum_.size()));
  }
  const double scale = output_ == Output::kMean ? 1.0 / total_weight_ : 1.0;
  Scale(out.data(), sum_.data(), static_cast<float>(scale), sum_.size());
  begun_ = false;
  return Status::Ok();
}

}  // namespace tributary::aggregator
