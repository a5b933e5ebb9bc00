#include "gateway/checkpoint_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/atomic_file.h"

namespace tributary::gateway {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxRecordBytes = 64 << 10;

std::string ModelFile(const std::string& dir, uint32_t version) {
  return dir + "/model-" + std::to_string(version) + ".bin";
}

std::string ReadWhole(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  return *ok ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string();
}

// The length-prefixed records of `bytes`, up to the first torn or unreadable one.
std::vector<internal::JournalRecord> ParseJournal(const std::string& bytes) {
  std::vector<internal::JournalRecord> out;
  std::size_t at = 0;
  while (at + 4 <= bytes.size()) {
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= uint32_t(uint8_t(bytes[at + i])) << (8 * i);
    if (n > kMaxRecordBytes || at + 4 + n > bytes.size()) break;
    internal::JournalRecord r;
    if (!r.ParseFromArray(bytes.data() + at + 4, static_cast<int>(n))) break;
    out.push_back(std::move(r));
    at += 4 + n;
  }
  return out;
}

}  // namespace

Result<CheckpointStore> CheckpointStore::Open(const std::string& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::FromErrno("creating " + root, ec.value());
  fs::permissions(root, fs::perms::owner_all, ec);
  return CheckpointStore(root);
}

std::string CheckpointStore::JobDir(uint64_t job) const {
  return root_ + "/" + std::to_string(job);
}

Status CheckpointStore::Write(const internal::JobCheckpoint& c) {
  // An ended job appends no more: its journal closes whether or not this write succeeds.
  if (c.state() != v1::JOB_STATE_RUNNING) journals_.erase(c.job_id());
  const std::string dir = JobDir(c.job_id());
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::FromErrno("creating " + dir, ec.value());
  const std::string bytes = c.SerializeAsString();
  TRIBUTARY_RETURN_IF_ERROR(
      WriteFileAtomically(dir + "/checkpoint.pb", std::as_bytes(std::span(bytes))));
  // An open journal, appending at its end, goes on from the start of the emptied file.
  if (truncate((dir + "/journal").c_str(), 0) != 0 && errno != ENOENT) {
    return Status::FromErrno("emptying the journal of job " + std::to_string(c.job_id()));
  }
  return Status::Ok();
}

Status CheckpointStore::Append(uint64_t job, const internal::JournalRecord& r) {
  std::string bytes(4, '\0');
  const std::string body = r.SerializeAsString();
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(body.size() >> (8 * i));
  bytes += body;
  UniqueFd& fd = journals_[job];
  if (!fd) {
    const std::string path = JobDir(job) + "/journal";
    fd.Reset(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd) {
      journals_.erase(job);
      return Status::FromErrno("opening " + path);
    }
  }
  const ssize_t n = write(fd.get(), bytes.data(), bytes.size());  // O_APPEND: one whole record
  if (n != static_cast<ssize_t>(bytes.size())) {
    const int err = errno;
    journals_.erase(job);  // reopened by the next append
    return Status::FromErrno("appending to the journal of job " + std::to_string(job), err);
  }
  return Status::Ok();
}

Status CheckpointStore::WriteModel(uint64_t job, uint32_t version,
                                   std::span<const std::byte> bytes) const {
  const std::string dir = JobDir(job);
  std::error_code ec;
  fs::create_directories(dir, ec);
  return WriteFileAtomically(ModelFile(dir, version), bytes);
}

Status CheckpointStore::ReadModel(uint64_t job, uint32_t version, std::span<std::byte> out) const {
  const std::string path = ModelFile(JobDir(job), version);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  if (static_cast<std::size_t>(in.gcount()) != out.size() || in.peek() != EOF) {
    return Status::DataLoss(path + " does not hold " + std::to_string(out.size()) + " bytes");
  }
  return Status::Ok();
}

void CheckpointStore::RemoveModelsExcept(uint64_t job, const std::vector<uint32_t>& keep) const {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(JobDir(job), ec)) {
    const std::string name = entry.path().filename().string();
    unsigned version = 0;
    if (std::sscanf(name.c_str(), "model-%u.bin", &version) != 1 || !name.ends_with(".bin")) {
      continue;
    }
    if (std::find(keep.begin(), keep.end(), version) == keep.end()) fs::remove(entry.path(), ec);
  }
}

std::vector<StoredJob> CheckpointStore::LoadAll(std::vector<std::string>* problems) const {
  std::vector<StoredJob> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (!entry.is_directory()) continue;
    const std::string dir = entry.path().string();
    bool ok = false;
    const std::string bytes = ReadWhole(dir + "/checkpoint.pb", &ok);
    StoredJob job;
    if (!ok || !job.checkpoint.ParseFromString(bytes) ||
        std::to_string(job.checkpoint.job_id()) != entry.path().filename().string()) {
      problems->push_back(dir + ": no readable checkpoint");
      continue;
    }
    job.journal = ParseJournal(ReadWhole(dir + "/journal", &ok));
    out.push_back(std::move(job));
  }
  std::sort(out.begin(), out.end(), [](const StoredJob& a, const StoredJob& b) {
    return a.checkpoint.job_id() < b.checkpoint.job_id();
  });
  return out;
}

}  // namespace tributary::gateway
