// SequentialScheduler: round-by-round gradient coding for a sequence of jobs (Krishnan,
// Ebrahimi, Khisti, "Sequential Gradient Coding for Straggler Mitigation", ICLR 2023).
//
// Job t (t = 0 .. jobs-1, e.g. one gradient of one of several concurrently trained models)
// starts in round t and must be decodable by the end of round t + delay(). Three schemes:
//   - kGc: plain gradient coding with s = lambda, delay 0 (the baseline);
//   - kSrSgc: GC with s = ceil(B lambda / (W-1+B)), delay B; a job that misses more than s
//     results in its round has that many minus s of the missing workers redo their task B
//     rounds later (selective repetition); needs B | (W-1);
//   - kMSgc: delay W-2+B; each round every worker runs W-1+B mini-tasks, slot m for job r-m;
//     a job is n(W-1) uncoded chunks (W-1 per worker, slots 0..W-2) plus B groups coded for
//     lambda stragglers (slots W-1..W-2+B), and a worker still missing a chunk of a job redoes
//     it in place of its coded task (adaptive multiplexing).
//
// Driving it (the platform's loop, one round at a time):
//   for worker i: run Tasks(i) (each MiniTask: job, slot, partitions, coefficients) and push
//     each result keyed by (round(), i, slot);
//   after the grace period, call TryCloseRound(arrived) with the workers whose results are all
//     in; when it answers closed = false, keep waiting and call again as more arrive (with
//     every worker arrived it always closes);
//   for each job in RoundOutcome::decoded, Decoding(job) lists the weighted results whose sum is
//     the job's full gradient.
// When to close early: a round closes without its stragglers when the job due this round
// decodes and every other job started so far can still decode by its deadline if every worker
// delivers from now on. The scheduler checks this by running the scheme itself forward on a
// copy of its state, so it holds for any straggler pattern, not only for one inside the
// (B, W, lambda) model: the model sets the scheme's load and guarantees that a pattern inside
// it never waits, while a pattern outside it waits only when a job would otherwise be lost
// (the authors' simulation waits for every worker whenever the pattern leaves the model). It
// never publishes a wrong sum. Not thread-safe: one owner drives the rounds.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "robust/coding/gradient_code.h"
#include "robust/coding/job_ledger.h"

namespace tributary::robust::coding {

enum class SequentialScheme { kGc, kSrSgc, kMSgc };

// "gc", "sr-sgc" or "m-sgc"; InvalidArgument otherwise.
Result<SequentialScheme> ParseSequentialScheme(std::string_view name);

struct SchedulerOptions {
  SequentialScheme scheme = SequentialScheme::kMSgc;
  int n = 0;                    // workers; required
  int burst = 1;                // B: longest straggler burst
  int window = 2;               // W: window of rounds; B <= W-1 (and B | (W-1) for SR-SGC)
  int lambda = 1;               // stragglers per window; < n
  int jobs = 0;                 // J: number of jobs; required, >= 1
  Scheme code = Scheme::kAuto;  // gradient code of the coded parts
  uint64_t seed = 1;            // for a cyclic code
};

struct RoundOutcome {
  bool closed = false;       // false: a job would be lost without more results; wait
  std::vector<int> decoded;  // jobs that became decodable with this round
};

class SequentialScheduler {
 public:
  // InvalidArgument for inconsistent options; the code's errors otherwise.
  static Result<std::unique_ptr<SequentialScheduler>> Create(const SchedulerOptions& options);
  virtual ~SequentialScheduler() = default;
  SequentialScheduler(const SequentialScheduler&) = delete;
  SequentialScheduler& operator=(const SequentialScheduler&) = delete;

  int n() const { return n_; }
  int delay() const { return delay_; }  // T
  int jobs() const { return jobs_; }
  int rounds() const { return jobs_ + delay_; }  // rounds needed to finish every job
  int round() const { return round_; }           // the round now running
  bool done() const { return round_ >= rounds(); }
  const GradientCode& code() const { return code_; }
  int num_partitions() const { return ledger_.num_partitions(); }  // per job
  int max_tasks_per_round() const { return slots_; }  // mini-tasks of one worker in one round
  // Partitions per worker per round over partitions per job, in steady state.
  double NormalizedLoad() const;

  // The mini-tasks of `worker` in the current round, in slot order (empty when idle or done).
  // REQUIRES: 0 <= worker < n().
  const std::vector<MiniTask>& Tasks(int worker) const;
  // See the header comment. InvalidArgument for bad ids; FailedPrecondition once done().
  Result<RoundOutcome> TryCloseRound(std::span<const int> arrived);

  bool IsDecodable(int job) const { return decoded_.at(job); }
  // The weighted results that sum to job's gradient. FailedPrecondition while not decodable;
  // DataLoss when its deadline passed undecoded (which TryCloseRound prevents).
  Result<std::vector<DecodeTerm>> Decoding(int job) const;

 protected:
  // REQUIRES: model and sizes validated by the factory.
  SequentialScheduler(GradientCode code, int delay, int jobs, int slots, int groups, int chunks,
                      int chunk_partitions);
  // What each worker runs in `round`, from the results recorded so far. Called once per round,
  // when it starts; Start() plans round 0 (call it at the end of the subclass's construction).
  virtual std::vector<std::vector<MiniTask>> PlanRound(int round) const = 0;
  void Start() { tasks_ = PlanRound(0); }

  const JobLedger& ledger() const { return ledger_; }
  // The stragglers recorded for a closed round (all false when it waited for everyone).
  const std::vector<bool>& StragglersOf(int round) const { return stragglers_.at(round); }

 private:
  // Records the results of the workers not in `stragglers` and moves to the next round.
  RoundOutcome Commit(std::vector<bool> stragglers);
  // Whether, after closing this round without `stragglers`, each job started so far decodes by
  // its deadline when every worker delivers in every later round. Leaves the state as it was.
  bool StartedJobsStayDecodable(const std::vector<bool>& stragglers);

  const GradientCode code_;
  int n_, delay_, jobs_, slots_;
  JobLedger ledger_;
  int round_ = 0;
  std::vector<std::vector<MiniTask>> tasks_;   // [worker] for round_
  std::vector<std::vector<bool>> stragglers_;  // [closed round][worker]
  std::vector<bool> decoded_;                  // [job]
};

// One factory per scheme, each in its own .cc; SequentialScheduler::Create dispatches to them.
// They receive options that passed the shared checks.
Result<std::unique_ptr<SequentialScheduler>> NewGcScheduler(const SchedulerOptions& options);
Result<std::unique_ptr<SequentialScheduler>> NewSrSgcScheduler(const SchedulerOptions& options);
Result<std::unique_ptr<SequentialScheduler>> NewMSgcScheduler(const SchedulerOptions& options);

}  // namespace tributary::robust::coding
