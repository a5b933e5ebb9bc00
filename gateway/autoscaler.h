// Autoscaler: how many aggregator instances the node's load needs.
//
// LIFL's rule: instances = clamp(ceil(rate / service rate), min, max), where rate is the
// arrival rate of descriptors (UPDATE, FLUSH, FINISH) at the aggregators, read from the
// router's per-instance counters (the BPF program's map, or the userspace router's) and
// smoothed by an EWMA (alpha 0.7 on the newest sample), and the service rate is what one
// instance folds per second: measured from the instances' own reports (every DONE says how
// many inputs its task folded and how long it spent in the rule; the EWMA of inputs per busy
// second), or set by the operator. Until a service time is known it asks for `min`.
//
// Pure arithmetic: the caller feeds it counters and reports and applies Target(). Not
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace tributary::gateway {

struct AutoscalerOptions {
  uint32_t min_instances = 1;
  uint32_t max_instances = 1;
  double alpha = 0.7;       // weight of the newest sample in both EWMAs
  double service_rate = 0;  // descriptors per second one instance folds (0: measured)
};

class Autoscaler {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Autoscaler(AutoscalerOptions options) : options_(options) {}

  // The router's delivered-descriptor count (all instances together) at `now`.
  void ObserveDeliveries(uint64_t delivered, Clock::time_point now);
  // One task's report: `inputs` folded in `busy_seconds` inside the rule.
  void ObserveService(uint64_t inputs, double busy_seconds);

  uint32_t Target() const;
  double arrival_rate() const { return rate_; }
  // Descriptors per second one instance folds (0 while unknown).
  double service_rate() const;

 private:
  AutoscalerOptions options_;
  std::optional<std::pair<uint64_t, Clock::time_point>> last_;
  double rate_ = 0;
  double measured_service_rate_ = 0;
};

}  // namespace tributary::gateway
