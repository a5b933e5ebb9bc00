#include "robust/coding/sequential_scheduler.h"

#include <algorithm>
#include <string>

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

SequentialScheduler::SequentialScheduler(GradientCode code, BurstyStragglerModel model, int delay,
                                         int jobs, int slots, int groups, int chunks,
                                         int chunk_partitions)
    : code_(std::move(code)),
      model_(std::move(model)),
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
  bool any_straggler = false;
  std::vector<Delivery> deliveries;
  for (int w = 0; w < n_; ++w) {
    stragglers[w] = !mask[w];
    any_straggler |= stragglers[w];
    if (!mask[w]) continue;
    for (const MiniTask& task : tasks_[w]) {
      deliveries.push_back(
          {.task = &task, .key = {.round = round_, .worker = w, .slot = task.slot}});
    }
  }
  if (any_straggler) {
    if (!model_.Admits(stragglers)) return RoundOutcome{};
    const int due = round_ - delay_;
    if (due >= 0 && due < jobs_ && !decoded_[due] && !ledger_.IsDecodableWith(due, deliveries)) {
      return RoundOutcome{};
    }
  }

  RoundOutcome outcome;
  outcome.closed = true;
  for (const Delivery& d : deliveries) ledger_.Record(*d.task, d.key);
  // Only jobs with a slot in this round can have changed.
  for (int job = std::max(0, round_ - delay_); job <= std::min(round_, jobs_ - 1); ++job) {
    if (!decoded_[job] && ledger_.IsDecodable(job)) {
      decoded_[job] = true;
      outcome.decoded.push_back(job);
    }
  }
  model_.Record(stragglers);
  stragglers_.push_back(std::move(stragglers));
  ++round_;
  if (!done()) tasks_ = PlanRound(round_);
  return outcome;
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
