// Plain gradient coding as a sequential scheme: every round r, worker i computes its coded row
// of job r; job r must decode from round r alone (delay 0), tolerating s = lambda stragglers,
// and more when they fall in different groups of a fractional-repetition code. A round whose
// arrived rows do not decode job r waits for more.
#include "robust/coding/sequential_scheduler.h"

namespace tributary::robust::coding {
namespace {

class GcScheduler final : public SequentialScheduler {
 public:
  GcScheduler(GradientCode code, const SchedulerOptions& o)
      : SequentialScheduler(std::move(code), /*delay=*/0, o.jobs, /*slots=*/1, /*groups=*/1,
                            /*chunks=*/0,
                            /*chunk_partitions=*/0) {
    Start();
  }

 private:
  std::vector<std::vector<MiniTask>> PlanRound(int round) const override {
    std::vector<std::vector<MiniTask>> tasks(n());
    if (round >= jobs()) return tasks;
    for (int w = 0; w < n(); ++w) tasks[w].push_back(ledger().Coded(round, 0, 0, w));
    return tasks;
  }
};

}  // namespace

Result<std::unique_ptr<SequentialScheduler>> NewGcScheduler(const SchedulerOptions& o) {
  TRIBUTARY_ASSIGN_OR_RETURN(
      GradientCode code,
      GradientCode::Create({.scheme = o.code, .n = o.n, .s = o.lambda, .seed = o.seed}));
  return std::unique_ptr<SequentialScheduler>(new GcScheduler(std::move(code), o));
}

}  // namespace tributary::robust::coding
