#include "robust/coding/sequential_scheduler.h"

#include <algorithm>
#include <string>
#include <utility>

#include "robust/coding/straggler_model.h"

namespace tributary::robust::coding {

Result<SequentialScheme> ParseSequentialScheme(std::string_view name) {
  if (name == "gc") return SequentialScheme::kGc;
  if (name == "sr-sgc") return SequentialScheme::kSrSgc;
  if (name == "m-sgc") return SequentialScheme::kMSgc;
  return Status::InvalidArgument("unknown sequential scheme '" + std::string(name) +
                                 "' (expected gc, sr-sgc or m-sgc)");
}

Result<std::unique_ptr<SequentialScheduler>> SequentialScheduler::Create(
    const SchedulerOptions& o) {
  if (o.jobs < 1) return Status::InvalidArgument("a scheduler needs jobs >= 1");
  TRIBUTARY_RETURN_IF_ERROR(BurstyStragglerModel::Validate(o.n, o.burst, o.window, o.lambda));
  if (o.lambda >= o.n) {
    return Status::InvalidArgument("lambda must be below n (every round needs a survivor)");
  }
  switch (o.scheme) {
    case SequentialScheme::kGc:
      return NewGcScheduler(o);
    case SequentialScheme::kSrSgc:
    case SequentialScheme::kMSgc:
      if (o.burst > o.window - 1) {
        return Status::InvalidArgument("sequential gradient coding needs B <= W-1");
      }
      return o.scheme == SequentialScheme::kSrSgc ? NewSrSgcScheduler(o) : NewMSgcScheduler(o);
  }
  return Status::InvalidArgument("unknown sequential scheme");
}

SequentialScheduler::SequentialScheduler(GradientCode code, int delay, int jobs, int slots,
                                         int groups, int chunks, int chunk_partitions)
    : code_(std::move(code)),
      n_(code_.n()),
      delay_(delay),
      jobs_(jobs),
      slots_(slots),
      ledger_(code_, jobs, groups, chunks, chunk_partitions),
      decoded_(jobs, false) {}

double SequentialScheduler::NormalizedLoad() const {
  // Every mini-task, coded row or uncoded chunk, covers s+1 partitions.
  return static_cast<double>(slots_) * (code_.s() + 1) / num_partitions();
}

const std::vector<MiniTask>& SequentialScheduler::Tasks(int worker) const {
  static const std::vector<MiniTask> kIdle;
  return done() ? kIdle : tasks_.at(worker);
}

Result<RoundOutcome> SequentialScheduler::TryCloseRound(std::span<const int> arrived) {
  if (done()) {
    return Status::FailedPrecondition("all " + std::to_string(rounds()) + " rounds are closed");
  }
  TRIBUTARY_ASSIGN_OR_RETURN(const std::vector<bool> mask, ArrivalMask(n_, arrived));
  std::vector<bool> stragglers(n_);
  std::transform(mask.begin(), mask.end(), stragglers.begin(), [](bool in) { return !in; });
  const bool any_straggler =
      std::find(stragglers.begin(), stragglers.end(), true) != stragglers.end();
  if (any_straggler && !StartedJobsStayDecodable(stragglers)) return RoundOutcome{};
  return Commit(std::move(stragglers));
}

RoundOutcome SequentialScheduler::Commit(std::vector<bool> stragglers) {
  for (int w = 0; w < n_; ++w) {
    if (stragglers[w]) continue;
    for (const MiniTask& task : tasks_[w]) {
      ledger_.Record(task, {.round = round_, .worker = w, .slot = task.slot});
    }
  }
  RoundOutcome outcome;
  outcome.closed = true;
  // Only jobs with a slot in this round can have changed.
  for (int job = std::max(0, round_ - delay_); job <= std::min(round_, jobs_ - 1); ++job) {
    if (!decoded_[job] && ledger_.IsDecodable(job)) {
      decoded_[job] = true;
      outcome.decoded.push_back(job);
    }
  }
  stragglers_.push_back(std::move(stragglers));
  ++round_;
  if (!done()) tasks_ = PlanRound(round_);
  return outcome;
}

bool SequentialScheduler::StartedJobsStayDecodable(const std::vector<bool>& stragglers) {
  // Rounds round_ .. last_job + delay_ touch jobs round_ - delay_ .. last_job + delay_.
  const int round = round_;
  const int last_job = std::min(round, jobs_ - 1);
  JobLedger::Snapshot ledger =
      ledger_.Save(std::max(0, round - delay_), std::min(jobs_ - 1, last_job + delay_));
  std::vector<std::vector<MiniTask>> tasks = tasks_;
  std::vector<bool> decoded = decoded_;

  bool decodable = true;
  std::vector<bool> missing = stragglers;
  for (int r = round; decodable && r <= last_job + delay_; ++r) {
    Commit(std::exchange(missing, std::vector<bool>(n_, false)));
    const int due = r - delay_;
    decodable = due < 0 || decoded_[due];
  }

  ledger_.Restore(std::move(ledger));
  tasks_ = std::move(tasks);
  decoded_ = std::move(decoded);
  stragglers_.resize(round);
  round_ = round;
  return decodable;
}

Result<std::vector<DecodeTerm>> SequentialScheduler::Decoding(int job) const {
  if (job < 0 || job >= jobs_) {
    return Status::InvalidArgument("job " + std::to_string(job) + " is out of range");
  }
  if (!decoded_[job]) {
    if (round_ > job + delay_) {
      return Status::DataLoss("job " + std::to_string(job) + " passed its deadline undecoded");
    }
    return Status::FailedPrecondition("job " + std::to_string(job) + " is not decodable yet");
  }
  return ledger_.Decoding(job);
}

}  // namespace tributary::robust::coding
