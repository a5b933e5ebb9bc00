// CheckpointStore's journal: a running job's journal is kept open between appends, a checkpoint
// empties it (the kept descriptor goes on from the start of the emptied file), and a checkpoint
// of the ended job closes it.
#include "gateway/checkpoint_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace tributary::gateway {
namespace {

namespace fs = std::filesystem;

internal::JournalRecord Joined(const std::string& client, uint64_t index) {
  internal::JournalRecord r;
  r.mutable_joined()->set_client_id(client);
  r.mutable_joined()->set_index(index);
  return r;
}

internal::JobCheckpoint Checkpoint(uint64_t job, v1::JobState state) {
  internal::JobCheckpoint c;
  c.set_job_id(job);
  c.set_state(state);
  return c;
}

// Descriptors of this process open on a file named `name`.
int OpenDescriptorsOn(const std::string& name) {
  int n = 0;
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/self/fd", ec)) {
    const fs::path target = fs::read_symlink(fd.path(), ec);
    if (!ec && target.filename() == name) ++n;
  }
  return n;
}

class CheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tributary-store-" + std::to_string(getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(CheckpointStoreTest, CheckpointEmptiesTheKeptJournalAndTheEndClosesIt) {
  auto store = CheckpointStore::Open(dir_.string());
  ASSERT_TRUE(store) << store.error();
  ASSERT_TRUE(store->Write(Checkpoint(7, v1::JOB_STATE_RUNNING)).ok());
  ASSERT_TRUE(store->Append(7, Joined("a", 0)).ok());
  ASSERT_TRUE(store->Append(7, Joined("b", 1)).ok());
  EXPECT_EQ(OpenDescriptorsOn("journal"), 1);

  // Emptied by the checkpoint; what follows is all the journal holds, from its first byte.
  ASSERT_TRUE(store->Write(Checkpoint(7, v1::JOB_STATE_RUNNING)).ok());
  ASSERT_TRUE(store->Append(7, Joined("c", 2)).ok());
  std::vector<std::string> problems;
  auto jobs = store->LoadAll(&problems);
  ASSERT_TRUE(problems.empty()) << problems.front();
  ASSERT_EQ(jobs.size(), 1u);
  ASSERT_EQ(jobs[0].journal.size(), 1u);
  EXPECT_EQ(jobs[0].journal[0].joined().client_id(), "c");
  EXPECT_EQ(fs::file_size(dir_ / "7" / "journal"), 4 + Joined("c", 2).ByteSizeLong());

  ASSERT_TRUE(store->Write(Checkpoint(7, v1::JOB_STATE_COMPLETED)).ok());
  EXPECT_EQ(OpenDescriptorsOn("journal"), 0);
  jobs = store->LoadAll(&problems);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_TRUE(jobs[0].journal.empty());
}

}  // namespace
}  // namespace tributary::gateway
