// Autoscaler: instances follow ceil(arrival rate / service rate) within their bounds, the rate
// is an EWMA of the router's counters, and the service rate is measured from task reports
// unless the operator set it.
#include "gateway/autoscaler.h"

#include <gtest/gtest.h>

namespace tributary::gateway {
namespace {

using namespace std::chrono_literals;

TEST(AutoscalerTest, InstancesRiseWithTheArrivalRateAndFallWhenItStops) {
  Autoscaler a({.min_instances = 1, .max_instances = 8, .service_rate = 100});
  auto t = Autoscaler::Clock::time_point{} + 1h;
  uint64_t delivered = 0;
  a.ObserveDeliveries(delivered, t);
  EXPECT_EQ(a.Target(), 1u);
  std::vector<uint32_t> targets;
  for (uint64_t per_second : {50, 250, 550, 2000, 0, 0, 0, 0, 0, 0}) {
    t += 1s;
    delivered += per_second;
    a.ObserveDeliveries(delivered, t);
    targets.push_back(a.Target());
  }
  // EWMA with alpha 0.7: 35/s, 185.5/s, 440.65/s, 1532.2/s, then decaying by 0.3 a second.
  EXPECT_EQ(targets, (std::vector<uint32_t>{1, 2, 5, 8, 5, 2, 1, 1, 1, 1}));
  EXPECT_NEAR(a.arrival_rate(), 1532.195 * 0.3 * 0.3 * 0.3 * 0.3 * 0.3 * 0.3, 1e-6);
}

TEST(AutoscalerTest, ServiceRateIsMeasuredFromTaskReports) {
  Autoscaler a({.min_instances = 2, .max_instances = 16});
  auto t = Autoscaler::Clock::time_point{} + 1h;
  a.ObserveDeliveries(0, t);
  a.ObserveDeliveries(1000, t + 1s);  // 700/s after one sample
  EXPECT_EQ(a.service_rate(), 0);
  EXPECT_EQ(a.Target(), 2u) << "the minimum until a service time is known";
  a.ObserveService(10, 0.1);  // 100 inputs a second
  EXPECT_DOUBLE_EQ(a.service_rate(), 100);
  EXPECT_EQ(a.Target(), 7u);
  a.ObserveService(0, 0.5);  // folded nothing: no information
  a.ObserveService(5, 0);    // too short to time
  EXPECT_DOUBLE_EQ(a.service_rate(), 100);
  a.ObserveService(20, 0.1);  // 200/s: EWMA 0.7 * 200 + 0.3 * 100
  EXPECT_DOUBLE_EQ(a.service_rate(), 170);
  EXPECT_EQ(a.Target(), 5u);
}

TEST(AutoscalerTest, OperatorServiceRateWinsAndBoundsHold) {
  Autoscaler a({.min_instances = 1, .max_instances = 3, .service_rate = 10});
  auto t = Autoscaler::Clock::time_point{} + 1h;
  a.ObserveDeliveries(0, t);
  a.ObserveService(1000, 0.001);
  EXPECT_EQ(a.service_rate(), 10);
  a.ObserveDeliveries(100000, t + 1s);
  EXPECT_EQ(a.Target(), 3u);
  // A counter that went backwards (a router restarted) is a new baseline, not a sample.
  const double rate = a.arrival_rate();
  a.ObserveDeliveries(5, t + 2s);
  EXPECT_EQ(a.arrival_rate(), rate);
}

}  // namespace
}  // namespace tributary::gateway
