// Crash-safe checkpoints, end to end: a real `tributary serve` is killed with SIGKILL in the
// middle of a round and started again on the same data directory. The job resumes: its
// published models are intact, the updates the open round had acknowledged are still counted
// (found in the shared memory that outlived the process, checked against their checksums), and
// the round completes with the exact average. When the shared memory is gone too (as after a
// reboot), the models come back from the data directory and the open round starts again. A
// completed job keeps its final model across restarts, and a graceful stop whose drain times
// out keeps its unfinished round as a crash would. Model files are written at most once per
// --model-write-interval-s (final models at once), and the newest one stays on disk until a
// newer one is written, retained or not.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "clients/cpp/client.h"
#include "tests/integration/serve_process.h"
#include "tributary/internal/checkpoint.pb.h"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kParams = 1000;

class RestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("tributary-restart-" + std::to_string(getpid()) + "-" + std::to_string(std::rand())))
               .string();
  }
  void TearDown() override { RemoveDataDir(dir_); }

  client::Client Client(const ServeProcess& serve, int i) {
    client::ClientOptions o;
    o.target = serve.target();
    o.client_id = "c" + std::to_string(i);
    o.max_attempts = 1;
    return client::Client(o);
  }
  // Client i's update in `round`: distinct per client, round and coordinate.
  static std::vector<float> Update(int i, uint32_t round) {
    std::vector<float> u(kParams);
    for (std::size_t k = 0; k < kParams; ++k) u[k] = float(i + 1) * 0.25f + float(round) + k % 5;
    return u;
  }
  static uint64_t Weight(int i) { return uint64_t(i) + 1; }
  // The weighted average of clients 0..n-1 in `round`.
  static std::vector<float> Average(int n, uint32_t round) {
    std::vector<double> sum(kParams, 0);
    double weights = 0;
    for (int i = 0; i < n; ++i) {
      const auto u = Update(i, round);
      for (std::size_t k = 0; k < kParams; ++k) sum[k] += double(Weight(i)) * u[k];
      weights += double(Weight(i));
    }
    std::vector<float> avg(kParams);
    for (std::size_t k = 0; k < kParams; ++k) avg[k] = float(sum[k] / weights);
    return avg;
  }
  static void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k) ASSERT_NEAR(got[k], want[k], 1e-5) << k;
  }
  // SIGKILL, as a crash: nothing is cleaned up.
  static void Crash(ServeProcess& serve) {
    ASSERT_EQ(kill(serve.pid(), SIGKILL), 0);
    ASSERT_NE(serve.WaitForExit(std::chrono::seconds(10)), -1);
  }
  // Waits until the model file of `version` of `job` is in the data directory and the job's
  // checkpoint says so (the file is written first: a crash in between resumes without it).
  void AwaitModelFile(uint64_t job, uint32_t version) {
    const std::string job_dir = dir_ + "/jobs/" + std::to_string(job);
    const std::string path = job_dir + "/model-" + std::to_string(version) + ".bin";
    auto recorded = [&] {
      internal::JobCheckpoint checkpoint;
      std::ifstream in(job_dir + "/checkpoint.pb", std::ios::binary);
      if (!checkpoint.ParseFromIstream(&in)) return false;
      return std::any_of(checkpoint.versions().begin(), checkpoint.versions().end(),
                         [&](const auto& v) { return v.version() == version && v.on_disk(); });
    };
    for (int i = 0; i < 500 && !(fs::exists(path) && recorded()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(fs::exists(path)) << path;
    ASSERT_TRUE(recorded()) << "the checkpoint of job " << job << " never listed " << path;
  }

  // Removes the pool that the checkpoint of `job` names, as a reboot would.
  void RemovePool(uint64_t job) {
    internal::JobCheckpoint checkpoint;
    std::ifstream in(dir_ + "/jobs/" + std::to_string(job) + "/checkpoint.pb", std::ios::binary);
    ASSERT_TRUE(checkpoint.ParseFromIstream(&in));
    const fs::path pool = NodeShmDir() + "/" + checkpoint.pool();
    ASSERT_TRUE(fs::exists(pool)) << pool;
    fs::remove(pool);
  }
  std::string ModelFile(uint64_t job, uint32_t version) const {
    return dir_ + "/jobs/" + std::to_string(job) + "/model-" + std::to_string(version) + ".bin";
  }

  // Creates a 2-round job of 3 clients on `serve` and runs its round 1; sets `job` and `v1`
  // (the published model).
  void RunFirstRound(ServeProcess& serve, uint64_t* job, std::vector<float>* v1) {
    *job = serve.CreateJob(kParams, 2, 3);
    ASSERT_NE(*job, 0u);
    for (int i = 0; i < 3; ++i) {
      auto c = Client(serve, i);
      ASSERT_TRUE(c.Join(*job));
      ASSERT_TRUE(c.Push(*job, 1, Update(i, 1), Weight(i)));
    }
    auto model = Client(serve, 0).Pull(*job, 1, true);
    ASSERT_TRUE(model) << model.error();
    *v1 = model->values;
    ExpectNear(*v1, Average(3, 1));
  }

  std::string dir_;
};

// Only the retained versions of a running job (two by default) and its newest model on disk
// keep their model files: older ones are removed once the checkpoint no longer lists them. Every
// published version (the initial model, version 0, included) is either written or, when a newer one
// was published before the writer reached it, skipped.
TEST_F(RestartTest, ModelFilesOfVersionsNoLongerRetainedAreRemoved) {
  ServeProcess serve({"--metrics-listen", "127.0.0.1:0"}, {}, {}, dir_);
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, 5, 1);
  ASSERT_NE(job, 0u);
  auto c = Client(serve, 0);
  ASSERT_TRUE(c.Join(job));
  for (uint32_t round = 1; round <= 4; ++round) {
    ASSERT_TRUE(c.Push(job, round, Update(0, round), Weight(0)));
    ASSERT_TRUE(c.Pull(job, round, true));
  }
  ASSERT_NO_FATAL_FAILURE(AwaitModelFile(job, 4));
  const std::string job_dir = dir_ + "/jobs/" + std::to_string(job);
  auto model_file = [&](int v) { return job_dir + "/model-" + std::to_string(v) + ".bin"; };
  for (int i = 0; i < 500 && (fs::exists(model_file(1)) || fs::exists(model_file(2))); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(fs::exists(model_file(1)));
  EXPECT_FALSE(fs::exists(model_file(2)));
  EXPECT_TRUE(fs::exists(model_file(4)));  // version 3 too, unless 4 came before it was written
  const std::string metrics = serve.Metrics();
  const double written = MetricValue(metrics, "tributary_model_files_written_total");
  const double skipped = MetricValue(metrics, "tributary_model_files_skipped_total");
  EXPECT_GE(written, 1) << "version 4 is on disk";
  EXPECT_EQ(written + skipped, 5) << "versions 0 to 4";
}

// Versions published within the write interval of the last model file wait for it, each newer
// one replacing the one waiting; the final version is written as soon as the job completes.
TEST_F(RestartTest, ModelFilesWaitForTheWriteIntervalButTheFinalModelDoesNot) {
  ServeProcess serve({"--metrics-listen", "127.0.0.1:0", "--model-write-interval-s", "600"}, {}, {},
                     dir_);
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, 3, 1);
  ASSERT_NE(job, 0u);
  ASSERT_NO_FATAL_FAILURE(AwaitModelFile(job, 0));  // the job's first: at once
  auto c = Client(serve, 0);
  ASSERT_TRUE(c.Join(job));
  for (uint32_t round = 1; round <= 2; ++round) {
    ASSERT_TRUE(c.Push(job, round, Update(0, round), Weight(0)));
    ASSERT_TRUE(c.Pull(job, round, true));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(fs::exists(ModelFile(job, 1)));
  EXPECT_FALSE(fs::exists(ModelFile(job, 2)));
  EXPECT_EQ(MetricValue(serve.Metrics(), "tributary_model_files_written_total"), 1);
  ASSERT_TRUE(c.Push(job, 3, Update(0, 3), Weight(0)));
  ASSERT_TRUE(c.Pull(job, 3, true));  // published: the job's last round
  ASSERT_EQ(serve.GetJob(job).state(), v1::JOB_STATE_COMPLETED);
  ASSERT_NO_FATAL_FAILURE(AwaitModelFile(job, 3));  // long before the interval
  const std::string metrics = serve.Metrics();
  EXPECT_EQ(MetricValue(metrics, "tributary_model_files_written_total"), 2) << "versions 0, 3";
  EXPECT_EQ(MetricValue(metrics, "tributary_model_files_skipped_total"), 2) << "versions 1, 2";
}

// With one version retained and models written rarely, the newest model on disk (version 0)
// is long out of the retained versions when the node loses its shared memory: the checkpoint
// still lists it and its file is kept, so the job resumes from it instead of failing.
TEST_F(RestartTest, WithoutItsSharedMemoryAJobResumesFromItsNewestModelOnDiskThoughNotRetained) {
  uint64_t job = 0;
  {
    ServeProcess serve({"--model-write-interval-s", "600", "--retained-versions", "1"}, {}, {},
                       dir_);
    ASSERT_TRUE(serve.ok());
    job = serve.CreateJob(kParams, 5, 1);
    ASSERT_NE(job, 0u);
    ASSERT_NO_FATAL_FAILURE(AwaitModelFile(job, 0));
    auto c = Client(serve, 0);
    ASSERT_TRUE(c.Join(job));
    for (uint32_t round = 1; round <= 2; ++round) {
      ASSERT_TRUE(c.Push(job, round, Update(0, round), Weight(0)));
      ASSERT_TRUE(c.Pull(job, round, true));
    }
    EXPECT_EQ(serve.GetJob(job).published_version(), 2u);
    EXPECT_TRUE(fs::exists(ModelFile(job, 0)));
    Crash(serve);
    ASSERT_NO_FATAL_FAILURE(RemovePool(job));
  }
  ServeProcess serve({}, {}, {}, dir_);
  ASSERT_TRUE(serve.ok());
  const v1::JobInfo info = serve.GetJob(job);
  ASSERT_EQ(info.state(), v1::JOB_STATE_RUNNING) << info.message();
  EXPECT_EQ(info.published_version(), 0u);
  EXPECT_EQ(info.open_round(), 1u);
  auto model = Client(serve, 0).Pull(job, 0, false);
  ASSERT_TRUE(model) << model.error();
  EXPECT_EQ(model->values, std::vector<float>(kParams, 0.0f));
  auto c = Client(serve, 0);
  ASSERT_TRUE(c.Join(job));
  ASSERT_TRUE(c.Push(job, 1, Update(0, 1), Weight(0)));
  auto v1 = c.Pull(job, 1, true);
  ASSERT_TRUE(v1) << v1.error();
  ExpectNear(v1->values, Update(0, 1));
}

TEST_F(RestartTest, SigkillMidRoundResumesWithTheAcknowledgedUpdates) {
  uint64_t job = 0;
  std::vector<float> v1;
  {
    ServeProcess serve({}, {}, {}, dir_);
    ASSERT_TRUE(serve.ok());
    ASSERT_NO_FATAL_FAILURE(RunFirstRound(serve, &job, &v1));
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(Client(serve, i).Push(job, 2, Update(i, 2), Weight(i)));
    ASSERT_EQ(serve.GetJob(job).updates_in_round(), 2u);
    Crash(serve);
  }
  {
    ServeProcess serve({}, {}, {}, dir_);
    ASSERT_TRUE(serve.ok());
    const v1::JobInfo info = serve.GetJob(job);
    EXPECT_EQ(info.state(), v1::JOB_STATE_RUNNING);
    EXPECT_EQ(info.published_version(), 1u);
    EXPECT_EQ(info.open_round(), 2u);
    EXPECT_EQ(info.updates_in_round(), 2u);  // both acknowledged updates survived
    auto model = Client(serve, 0).Pull(job, 1, false);
    ASSERT_TRUE(model) << model.error();
    EXPECT_EQ(model->values, v1);
    // The accepted set came back too: c0 cannot push round 2 twice (and joined clients need
    // not join again).
    auto again = Client(serve, 0).PushOnce(job, 2, Update(0, 2), Weight(0));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), StatusCode::kAlreadyExists) << again.error();
    ASSERT_TRUE(Client(serve, 2).Push(job, 2, Update(2, 2), Weight(2)));
    auto v2 = Client(serve, 2).Pull(job, 2, true);
    ASSERT_TRUE(v2) << v2.error();
    ExpectNear(v2->values, Average(3, 2));
    AwaitModelFile(job, 2);
  }
  {
    // A completed job keeps its final model across a (graceful) restart.
    ServeProcess serve({}, {}, {}, dir_);
    ASSERT_TRUE(serve.ok());
    EXPECT_EQ(serve.GetJob(job).state(), v1::JOB_STATE_COMPLETED);
    auto v2 = Client(serve, 1).Pull(job, -1, false);
    ASSERT_TRUE(v2) << v2.error();
    EXPECT_EQ(v2->version, 2u);
    ExpectNear(v2->values, Average(3, 2));
    // New jobs take ids after the resumed ones.
    EXPECT_EQ(serve.CreateJob(10, 1, 1), job + 1);
  }
}

TEST_F(RestartTest, WithoutItsSharedMemoryAJobResumesFromTheModelsOnDisk) {
  uint64_t job = 0;
  std::vector<float> v1;
  {
    ServeProcess serve({}, {}, {}, dir_);
    ASSERT_TRUE(serve.ok());
    ASSERT_NO_FATAL_FAILURE(RunFirstRound(serve, &job, &v1));
    AwaitModelFile(job, 1);
    ASSERT_TRUE(Client(serve, 0).Push(job, 2, Update(0, 2), Weight(0)));
    Crash(serve);
    ASSERT_NO_FATAL_FAILURE(RemovePool(job));  // as after a reboot
  }
  ServeProcess serve({}, {}, {}, dir_);
  ASSERT_TRUE(serve.ok());
  const v1::JobInfo info = serve.GetJob(job);
  EXPECT_EQ(info.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(info.published_version(), 1u);
  EXPECT_EQ(info.open_round(), 2u);
  EXPECT_EQ(info.updates_in_round(), 0u);  // its bytes were lost with the shared memory
  auto model = Client(serve, 0).Pull(job, 1, false);
  ASSERT_TRUE(model) << model.error();
  EXPECT_EQ(model->values, v1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Client(serve, i).Push(job, 2, Update(i, 2), Weight(i)));
  auto v2 = Client(serve, 0).Pull(job, 2, true);
  ASSERT_TRUE(v2) << v2.error();
  ExpectNear(v2->values, Average(3, 2));
}

// A graceful stop whose drain times out with a round unfinished (a rolling restart while a
// client is late): the round's acknowledged updates stay in shared memory, the next start takes
// the round back, and the late client's push completes it with the exact average.
TEST_F(RestartTest, SigtermPastTheDrainTimeoutKeepsTheUnfinishedRoundForTheNextStart) {
  uint64_t job = 0;
  std::vector<float> v1;
  {
    ServeProcess serve({"--drain-timeout-s", "0.3"}, {}, {}, dir_);
    ASSERT_TRUE(serve.ok());
    ASSERT_NO_FATAL_FAILURE(RunFirstRound(serve, &job, &v1));
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(Client(serve, i).Push(job, 2, Update(i, 2), Weight(i)));
    ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
    EXPECT_EQ(serve.WaitForExit(std::chrono::seconds(30)), 0);  // a clean stop, not a crash
  }
  ServeProcess serve({}, {}, {}, dir_);
  ASSERT_TRUE(serve.ok());
  const v1::JobInfo info = serve.GetJob(job);
  EXPECT_EQ(info.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(info.open_round(), 2u);
  EXPECT_EQ(info.updates_in_round(), 2u);
  ASSERT_TRUE(Client(serve, 2).Push(job, 2, Update(2, 2), Weight(2)));
  auto v2 = Client(serve, 2).Pull(job, 2, true);
  ASSERT_TRUE(v2) << v2.error();
  ExpectNear(v2->values, Average(3, 2));
}

// A data directory is one node's: a second serve on it is refused at once, before it touches
// the checkpoints or the shared memory they name.
TEST_F(RestartTest, SecondServeOnTheSameDataDirIsRefused) {
  ServeProcess serve({}, {}, {}, dir_);
  ASSERT_TRUE(serve.ok());
  std::string out;
  EXPECT_EQ(
      RunTributary({"serve", "--listen", "127.0.0.1:0", "--data-dir", dir_, "--insecure"}, &out),
      1);
  EXPECT_NE(out.find("another serve runs on --data-dir"), std::string::npos) << out;
  EXPECT_TRUE(Client(serve, 0).Join(serve.CreateJob(10, 1, 1)));  // the first one serves on
}

}  // namespace
}  // namespace tributary::testing
