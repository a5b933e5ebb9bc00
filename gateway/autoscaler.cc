#include "gateway/autoscaler.h"

#include <algorithm>
#include <cmath>

namespace tributary::gateway {

void Autoscaler::ObserveDeliveries(uint64_t delivered, Clock::time_point now) {
  if (last_ && now > last_->second && delivered >= last_->first) {
    const double seconds = std::chrono::duration<double>(now - last_->second).count();
    const double sample = double(delivered - last_->first) / seconds;
    rate_ = options_.alpha * sample + (1 - options_.alpha) * rate_;
  }
  last_ = {delivered, now};
}

void Autoscaler::ObserveService(uint64_t inputs, double busy_seconds) {
  // Tasks too short to time say nothing about the rate (and would divide by ~0).
  if (inputs == 0 || !(busy_seconds > 1e-6) || !std::isfinite(busy_seconds)) return;
  const double sample = double(inputs) / busy_seconds;
  measured_service_rate_ =
      measured_service_rate_ == 0
          ? sample
          : options_.alpha * sample + (1 - options_.alpha) * measured_service_rate_;
}

double Autoscaler::service_rate() const {
  return options_.service_rate > 0 ? options_.service_rate : measured_service_rate_;
}

uint32_t Autoscaler::Target() const {
  const double mu = service_rate();
  if (mu <= 0) return options_.min_instances;
  const double needed = std::ceil(rate_ / mu);
  return static_cast<uint32_t>(std::clamp<double>(
      needed, options_.min_instances, std::max(options_.min_instances, options_.max_instances)));
}

}  // namespace tributary::gateway
