// CheckpointStore: what a node keeps on disk to resume its jobs after a crash or restart.
//
// One folder per job under the store's root (serve --data-dir DIR: DIR/jobs/JOB):
//   checkpoint.pb       the job as of one moment (internal::JobCheckpoint), replaced atomically
//                       (write, fsync, rename, fsync the folder) whenever a round opens, a
//                       version's model reaches the disk, or the job ends;
//   journal             what happened since (clients that joined, updates accepted), appended
//                       one length-prefixed record per event and emptied by every checkpoint;
//   model-VERSION.bin   the bytes of published models, written atomically: of the retained
//                       versions written so far, and of the newest one written.
// A running job's journal stays open between appends; a checkpoint of the ended job closes it.
// The journal is not fsynced: an accepted update's bytes lie in the job's shared-memory pool,
// which outlives a crashed process but not the machine, so its record needs no more than the
// page cache (which also outlives the process). Published models are on disk and survive both.
//
// Thread safety: none; the control plane calls it under its lock (model files are written by
// its checkpoint thread, each to its own file).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "tributary/internal/checkpoint.pb.h"

namespace tributary::gateway {

// A job as the store found it: its last checkpoint and the journal written after it.
struct StoredJob {
  internal::JobCheckpoint checkpoint;
  std::vector<internal::JournalRecord> journal;
};

class CheckpointStore {
 public:
  // A store rooted at `root` (created, mode 0700, when missing).
  static Result<CheckpointStore> Open(const std::string& root);

  // Replaces the job's checkpoint with `c` and empties its journal (and closes it when `c`
  // says the job ended).
  Status Write(const internal::JobCheckpoint& c);
  // Appends `r` to the job's journal.
  Status Append(uint64_t job, const internal::JournalRecord& r);
  // Writes the bytes of model `version` of `job`.
  Status WriteModel(uint64_t job, uint32_t version, std::span<const std::byte> bytes) const;
  // Reads model `version` of `job` into `out` (exactly out.size() bytes).
  Status ReadModel(uint64_t job, uint32_t version, std::span<std::byte> out) const;
  // Removes the model files of `job` whose versions are not in `keep`.
  void RemoveModelsExcept(uint64_t job, const std::vector<uint32_t>& keep) const;

  // Every job with a readable checkpoint, by id; a journal's torn last record (a crash in the
  // middle of an append) is dropped. Unreadable checkpoints are reported in `problems`.
  std::vector<StoredJob> LoadAll(std::vector<std::string>* problems) const;

  const std::string& root() const { return root_; }

 private:
  explicit CheckpointStore(std::string root) : root_(std::move(root)) {}
  std::string JobDir(uint64_t job) const;

  std::string root_;
  std::map<uint64_t, UniqueFd> journals_;  // open for appending, by running job
};

}  // namespace tributary::gateway
