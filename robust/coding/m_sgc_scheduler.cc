// M-SGC, multiplexed sequential gradient coding (Krishnan et al. 2023, section 4).
//
// Delay T = W-2+B; each round every worker runs W-1+B mini-tasks, slot m for job r-m. A job is
// D1 = n(W-1) uncoded chunks (worker i owns chunks i(W-1) .. i(W-1)+W-2) and D2 = B groups of
// n partitions, each coded across the workers for lambda stragglers; every mini-task covers
// lambda+1 partitions, so chunks and coded rows cost the same. In slot m a worker computes its
// lowest undelivered chunk of job r-m if it has one (always the case for m < W-1), otherwise
// its coded row of group m-(W-1). Job t is decodable once every chunk arrived and each group has
// a decodable set (n-lambda results suffice), at the latest at round t+T under the model.
#include <cassert>

#include "robust/coding/sequential_scheduler.h"

namespace tributary::robust::coding {
namespace {

class MSgcScheduler final : public SequentialScheduler {
 public:
  MSgcScheduler(GradientCode code, const SchedulerOptions& o)
      : SequentialScheduler(std::move(code), /*delay=*/o.window - 2 + o.burst, o.jobs,
                            /*slots=*/o.window - 1 + o.burst, /*groups=*/o.burst,
                            /*chunks=*/o.n * (o.window - 1), /*chunk_partitions=*/o.lambda + 1),
        chunks_per_worker_(o.window - 1) {
    Start();
  }

 private:
  std::vector<std::vector<MiniTask>> PlanRound(int round) const override {
    std::vector<std::vector<MiniTask>> tasks(n());
    for (int slot = 0; slot <= delay(); ++slot) {
      const int job = round - slot;
      if (job < 0 || job >= jobs()) continue;
      for (int w = 0; w < n(); ++w) {
        int chunk = w * chunks_per_worker_;
        const int end = chunk + chunks_per_worker_;
        while (chunk < end && ledger().HasChunk(job, chunk)) ++chunk;
        if (chunk < end) {
          tasks[w].push_back(ledger().Uncoded(job, slot, chunk));
        } else {
          assert(slot >= chunks_per_worker_ && "a chunk is always pending in the D1 slots");
          tasks[w].push_back(ledger().Coded(job, slot, slot - chunks_per_worker_, w));
        }
      }
    }
    return tasks;
  }

  int chunks_per_worker_;
};

}  // namespace

Result<std::unique_ptr<SequentialScheduler>> NewMSgcScheduler(const SchedulerOptions& o) {
  TRIBUTARY_ASSIGN_OR_RETURN(
      GradientCode code,
      GradientCode::Create({.scheme = o.code, .n = o.n, .s = o.lambda, .seed = o.seed}));
  return std::unique_ptr<SequentialScheduler>(new MSgcScheduler(std::move(code), o));
}

}  // namespace tributary::robust::coding
