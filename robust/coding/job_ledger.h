// JobLedger: how a sequential job's data is cut into mini-tasks, and which results arrived.
//
// Every job's data is split into equal partitions, numbered 0 .. num_partitions()-1:
//   - `chunks` uncoded chunks of `chunk_partitions` partitions each, first (M-SGC's D1 part);
//   - then `groups` coded groups of n partitions each, group g coded across the n workers by one
//     GradientCode (GC and SR-SGC: one group; M-SGC: B groups, its D2 part).
// A mini-task is one worker's share of one unit (a chunk, or its coded row of a group) and its
// result is keyed by (round, worker, slot). A job is decodable once every chunk has arrived and
// every group's arrived workers decode exactly; its decoding is the list of weighted results
// whose sum is the job's full gradient (the sum over all partitions).
// Owned by one scheduler; not thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "common/result.h"
#include "robust/coding/gradient_code.h"

namespace tributary::robust::coding {

// Where a result came from.
struct ResultKey {
  int round = 0;
  int worker = 0;
  int slot = 0;  // position of the mini-task in the worker's round
  bool operator==(const ResultKey&) const = default;
};

// One worker's share of one job in one round: sum_k coefficients[k] * g(partitions[k]).
struct MiniTask {
  enum class Kind { kCoded, kUncoded };
  int job = 0;
  int slot = 0;
  Kind kind = Kind::kCoded;
  int unit = 0;  // kCoded: the group; kUncoded: the chunk
  std::vector<int> partitions;
  std::vector<double> coefficients;
};

// sum over a job's terms of weight * result(key) = the job's full gradient.
struct DecodeTerm {
  ResultKey key;
  double weight = 0.0;
};

class JobLedger {
 private:
  struct JobRecord {
    std::vector<std::vector<std::optional<ResultKey>>> coded;  // [group][worker]
    std::vector<std::optional<ResultKey>> chunks;
  };

 public:
  // The records of a range of jobs, taken before a what-if and put back after it.
  struct Snapshot {
    int first_job = 0;
    std::vector<JobRecord> records;
  };

  // REQUIRES: `code` outlives the ledger; jobs >= 1; groups, chunks >= 0.
  JobLedger(const GradientCode& code, int jobs, int groups, int chunks, int chunk_partitions);

  int num_partitions() const { return chunks_ * chunk_partitions_ + groups_ * code_.n(); }
  // Worker `worker`'s coded row of group `group` of `job`, or uncoded chunk `chunk`.
  MiniTask Coded(int job, int slot, int group, int worker) const;
  MiniTask Uncoded(int job, int slot, int chunk) const;

  void Record(const MiniTask& task, const ResultKey& key);
  bool HasCoded(int job, int group, int worker) const;
  bool HasChunk(int job, int chunk) const;

  bool IsDecodable(int job) const { return Decodable(records_[job]); }
  // FailedPrecondition when the job is not decodable.
  Result<std::vector<DecodeTerm>> Decoding(int job) const;

  // REQUIRES: 0 <= first_job <= last_job < jobs.
  Snapshot Save(int first_job, int last_job) const;
  void Restore(Snapshot snapshot);

 private:
  // The arrived workers of a group.
  static std::vector<int> Arrived(const std::vector<std::optional<ResultKey>>& group);
  bool Decodable(const JobRecord& record) const;

  const GradientCode& code_;
  int groups_, chunks_, chunk_partitions_;
  std::vector<JobRecord> records_;
};

}  // namespace tributary::robust::coding
