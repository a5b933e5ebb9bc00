#include "robust/coding/job_ledger.h"

#include <algorithm>
#include <cassert>
#include <numeric>
#include <string>

namespace tributary::robust::coding {

JobLedger::JobLedger(const GradientCode& code, int jobs, int groups, int chunks,
                     int chunk_partitions)
    : code_(code), groups_(groups), chunks_(chunks), chunk_partitions_(chunk_partitions) {
  assert(jobs >= 1 && groups >= 0 && chunks >= 0);
  const JobRecord empty{.coded = std::vector<std::vector<std::optional<ResultKey>>>(
                            groups, std::vector<std::optional<ResultKey>>(code.n())),
                        .chunks = std::vector<std::optional<ResultKey>>(chunks)};
  records_.assign(jobs, empty);
}

MiniTask JobLedger::Coded(int job, int slot, int group, int worker) const {
  const WorkerTask row = code_.Task(worker);
  MiniTask task{.job = job,
                .slot = slot,
                .kind = MiniTask::Kind::kCoded,
                .unit = group,
                .partitions = row.partitions,
                .coefficients = row.coefficients};
  const int base = chunks_ * chunk_partitions_ + group * code_.n();
  for (int& p : task.partitions) p += base;
  return task;
}

MiniTask JobLedger::Uncoded(int job, int slot, int chunk) const {
  MiniTask task{.job = job,
                .slot = slot,
                .kind = MiniTask::Kind::kUncoded,
                .unit = chunk,
                .partitions = std::vector<int>(chunk_partitions_),
                .coefficients = std::vector<double>(chunk_partitions_, 1.0)};
  std::iota(task.partitions.begin(), task.partitions.end(), chunk * chunk_partitions_);
  return task;
}

void JobLedger::Record(const MiniTask& task, const ResultKey& key) {
  JobRecord& record = records_[task.job];
  std::optional<ResultKey>& cell = task.kind == MiniTask::Kind::kCoded
                                       ? record.coded[task.unit][key.worker]
                                       : record.chunks[task.unit];
  assert(!cell.has_value() && "a unit's result arrived twice");
  cell = key;
}

bool JobLedger::HasCoded(int job, int group, int worker) const {
  return records_[job].coded[group][worker].has_value();
}

bool JobLedger::HasChunk(int job, int chunk) const {
  return records_[job].chunks[chunk].has_value();
}

std::vector<int> JobLedger::Arrived(const std::vector<std::optional<ResultKey>>& group) {
  std::vector<int> workers;
  for (int w = 0; w < static_cast<int>(group.size()); ++w) {
    if (group[w].has_value()) workers.push_back(w);
  }
  return workers;
}

bool JobLedger::Decodable(const JobRecord& record) const {
  for (const auto& chunk : record.chunks) {
    if (!chunk.has_value()) return false;
  }
  for (const auto& group : record.coded) {
    const Result<coding::Decoding> d = code_.Decode(Arrived(group));
    if (!d.has_value() || !d->exact) return false;
  }
  return true;
}

JobLedger::Snapshot JobLedger::Save(int first_job, int last_job) const {
  assert(0 <= first_job && first_job <= last_job && last_job < static_cast<int>(records_.size()));
  return {.first_job = first_job,
          .records = std::vector<JobRecord>(records_.begin() + first_job,
                                            records_.begin() + last_job + 1)};
}

void JobLedger::Restore(Snapshot snapshot) {
  std::move(snapshot.records.begin(), snapshot.records.end(),
            records_.begin() + snapshot.first_job);
}

Result<std::vector<DecodeTerm>> JobLedger::Decoding(int job) const {
  const JobRecord& record = records_[job];
  std::vector<DecodeTerm> terms;
  for (const auto& chunk : record.chunks) {
    if (!chunk.has_value()) {
      return Status::FailedPrecondition("job " + std::to_string(job) + " misses a chunk");
    }
    terms.push_back({.key = *chunk, .weight = 1.0});
  }
  for (int g = 0; g < groups_; ++g) {
    TRIBUTARY_ASSIGN_OR_RETURN(const coding::Decoding d, code_.Decode(Arrived(record.coded[g])));
    if (!d.exact) {
      return Status::FailedPrecondition("job " + std::to_string(job) + ": coded group " +
                                        std::to_string(g) + " is not decodable");
    }
    for (int w = 0; w < code_.n(); ++w) {
      if (d.coefficients(w) != 0.0) {
        terms.push_back({.key = *record.coded[g][w], .weight = d.coefficients(w)});
      }
    }
  }
  return terms;
}

}  // namespace tributary::robust::coding
