// SR-SGC, selective-repetition sequential gradient coding (Krishnan et al. 2023, section 3).
//
// GC with s = ceil(B lambda / (W-1+B)) and delay T = B. In round r every worker computes its
// coded row of job r, except that when job r-B is still undecodable and v > s workers have not
// delivered it, v-s of those workers redo their row of job r-B instead. Preferred are the ones
// that straggled in round r-B: under the model they cannot straggle again in round r (r-B lies
// in [r-W+1, r-B]). Workers that were busy repeating count as missing for the job they skipped,
// so that job is repaired B rounds later in turn. (The authors' simulation repeats only the
// round-(r-B) stragglers; that leaves jobs undecodable at (B, W, lambda) = (1, 4, 6) when a
// burst of 3 follows a burst of 3, a case the tests cover.)
#include "robust/coding/computational_load.h"
#include "robust/coding/sequential_scheduler.h"

namespace tributary::robust::coding {
namespace {

class SrSgcScheduler final : public SequentialScheduler {
 public:
  SrSgcScheduler(GradientCode code, const SchedulerOptions& o)
      : SequentialScheduler(std::move(code), /*delay=*/o.burst, o.jobs, /*slots=*/1, /*groups=*/1,
                            /*chunks=*/0,
                            /*chunk_partitions=*/0) {
    Start();
  }

 private:
  std::vector<std::vector<MiniTask>> PlanRound(int round) const override {
    std::vector<std::vector<MiniTask>> tasks(n());
    if (round < jobs()) {
      for (int w = 0; w < n(); ++w) tasks[w].push_back(ledger().Coded(round, 0, 0, w));
    }
    const int job = round - delay();
    if (job < 0 || job >= jobs() || IsDecodable(job)) return tasks;

    std::vector<int> missing;  // stragglers of round `job` first, then the busy repeaters
    for (const bool straggled : {true, false}) {
      for (int w = 0; w < n(); ++w) {
        if (!ledger().HasCoded(job, 0, w) && StragglersOf(job)[w] == straggled) {
          missing.push_back(w);
        }
      }
    }
    const int repeats = static_cast<int>(missing.size()) - code().s();
    for (int k = 0; k < repeats; ++k) {
      tasks[missing[k]].assign(1, ledger().Coded(job, 0, 0, missing[k]));
    }
    return tasks;
  }
};

}  // namespace

Result<std::unique_ptr<SequentialScheduler>> NewSrSgcScheduler(const SchedulerOptions& o) {
  if ((o.window - 1) % o.burst != 0) {
    return Status::InvalidArgument("SR-SGC needs B to divide W-1");
  }
  const int s = SrSgcStragglers(o.burst, o.window, o.lambda);
  TRIBUTARY_ASSIGN_OR_RETURN(
      GradientCode code,
      GradientCode::Create({.scheme = o.code, .n = o.n, .s = s, .seed = o.seed}));
  return std::unique_ptr<SequentialScheduler>(new SrSgcScheduler(std::move(code), o));
}

}  // namespace tributary::robust::coding
