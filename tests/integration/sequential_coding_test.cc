// Sequentially coded jobs end to end (SR-SGC and M-SGC): six workers ask for their mini-tasks
// round by round, compute each one's weighted sum of partition gradients, and push one result
// per mini-task; a reader pulls every version as it is published and compares it with the
// exact sum of all the partition gradients of its gradient, computed here directly.
//   - Two workers straggle in one round and another in a later one: a pattern inside the job's
//     (B, W, lambda) model, and more than SR-SGC's code alone tolerates, so it repeats work. The
//     rounds close without them after the grace period and their late pushes are refused.
//   - Three workers straggle in one round, more than the model allows, in different groups of
//     the code: no gradient is lost, so the rounds still close without them.
//   - Workers 0, 1, 2 straggle in one round and 0, 1 again in the next: a gradient would be
//     lost, so past the grace period the round keeps waiting until enough of them arrived,
//     rather than publish a wrong sum.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

constexpr std::size_t kParams = 2000;
constexpr uint32_t kWorkers = 6;
constexpr uint32_t kVersions = 5;
constexpr uint64_t kSeed = 7;
constexpr double kGraceSeconds = 2.0;
constexpr auto kStragglerDelay = std::chrono::milliseconds(3500);  // past the grace period

// Gradient `version`'s share of partition `partition`.
std::vector<float> PartitionGradient(uint32_t version, uint32_t partition) {
  std::vector<float> g(kParams);
  client::SyntheticUpdate(kSeed, uint64_t(version) * 1000 + partition, version, g);
  return g;
}

struct JobRun {
  int accepted_late = 0, refused_late = 0;
  std::vector<std::string> errors;
  std::vector<Result<client::Model>> versions;  // 1 .. kVersions
  uint32_t partitions = 0;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
};

// Runs a B = 1, W = 3, lambda = 2 job of `scheme` in which worker w delays its pushes of round
// r, for each (r, w) in `straggles`, until the round has moved on or kStragglerDelay passed.
JobRun RunJob(const char* scheme, const std::multimap<uint32_t, uint32_t>& straggles) {
  JobRun run;
  ServeProcess serve({"--retained-versions", std::to_string(kVersions + 1)});
  if (!serve.ok()) {
    run.errors.push_back("serve did not start");
    return run;
  }
  v1::JobSpec spec;
  spec.set_name("sequential");
  spec.set_params(kParams);
  spec.set_rounds(kVersions);
  spec.set_clients_per_round(kWorkers);
  spec.set_deadline_s(kGraceSeconds);
  spec.mutable_coding()->set_scheme(scheme);
  spec.mutable_coding()->set_burst(1);
  spec.mutable_coding()->set_window(3);
  spec.mutable_coding()->set_window_stragglers(2);
  grpc::ClientContext ctx;
  v1::JobInfo info;
  if (grpc::Status s = serve.op().CreateJob(&ctx, spec, &info); !s.ok()) {
    run.errors.push_back("CreateJob: " + s.error_message());
    return run;
  }
  const uint64_t job = info.job_id();

  std::atomic<int> accepted_late{0}, refused_late{0};
  std::atomic<uint32_t> partitions{0};
  std::mutex errors_mu;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(errors_mu);
    run.errors.push_back(what);
  };
  auto work = [&](uint32_t id) {
    client::Client c({.target = serve.target(), .client_id = "w" + std::to_string(id)});
    if (auto joined = c.Join(job); !joined) return fail(joined.error().ToString());
    for (uint32_t round = 1;; ++round) {
      auto tasks = c.Tasks(job, round, /*wait=*/true);
      // Every version may be published before the last round of work is needed.
      if (!tasks && tasks.error().code() == StatusCode::kOutOfRange && round > kVersions) return;
      if (!tasks) {
        return fail("tasks of round " + std::to_string(round) + ": " + tasks.error().ToString());
      }
      partitions = tasks->partitions();
      const auto [first, last] = straggles.equal_range(round);
      const bool straggler = std::any_of(first, last, [&](const auto& rw) {
        return rw.second == tasks->worker();
      });
      if (straggler) {
        const auto until = std::chrono::steady_clock::now() + kStragglerDelay;
        while (std::chrono::steady_clock::now() < until &&
               serve.GetJob(job).open_round() == round) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      for (const auto& task : tasks->tasks()) {
        std::vector<float> result(kParams, 0.0f);
        for (int k = 0; k < task.partitions_size(); ++k) {
          const auto g = PartitionGradient(task.version(), task.partitions(k));
          for (std::size_t x = 0; x < kParams; ++x) {
            result[x] += static_cast<float>(task.coefficients(k) * g[x]);
          }
        }
        auto pushed = c.PushTaskResult(job, round, task.slot(), result);
        if (pushed) {
          if (straggler) ++accepted_late;
        } else if (straggler && pushed.error().code() == StatusCode::kFailedPrecondition) {
          ++refused_late;
        } else {
          fail("push in round " + std::to_string(round) + ": " + pushed.error().ToString());
        }
      }
      if (round == tasks->rounds()) return;
    }
  };
  // A completed job keeps only its last model: read each version as it is published.
  std::thread reader([&] {
    client::Client c({.target = serve.target(), .client_id = "reader"});
    for (uint32_t v = 1; v <= kVersions; ++v) run.versions.push_back(c.Pull(job, v, true));
  });
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < kWorkers; ++i) threads.emplace_back(work, i);
  for (auto& t : threads) t.join();
  reader.join();
  run.accepted_late = accepted_late;
  run.refused_late = refused_late;
  run.partitions = partitions;
  run.state = serve.GetJob(job).state();
  return run;
}

void ExpectExactVersions(const JobRun& run) {
  for (const auto& e : run.errors) ADD_FAILURE() << e;
  EXPECT_EQ(run.state, v1::JOB_STATE_COMPLETED);
  ASSERT_GE(run.partitions, kWorkers);
  ASSERT_EQ(run.versions.size(), kVersions);
  for (uint32_t v = 1; v <= kVersions; ++v) {
    const auto& model = run.versions[v - 1];
    ASSERT_TRUE(model) << "version " << v << ": " << model.error();
    EXPECT_EQ(model->version, v);
    std::vector<double> sum(kParams, 0.0);
    for (uint32_t p = 0; p < run.partitions; ++p) {
      const auto g = PartitionGradient(v, p);
      for (std::size_t x = 0; x < kParams; ++x) sum[x] += g[x];
    }
    EXPECT_LE(client::MaxRelativeError(model->values, sum), 1e-4) << "version " << v;
  }
}

class SequentialCodingTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SequentialCodingTest, StragglersInsideTheModelAreNotWaitedForAndEveryVersionIsExact) {
  const JobRun run = RunJob(GetParam(), {{2, 0}, {2, 1}, {5, 4}});
  ExpectExactVersions(run);
  EXPECT_EQ(run.accepted_late, 0);  // no round waited for its stragglers
  EXPECT_GE(run.refused_late, 3);   // each straggler had at least one mini-task in its round
}

TEST_P(SequentialCodingTest, StragglersBeyondTheModelThatLoseNothingAreNotWaitedFor) {
  const JobRun run = RunJob(GetParam(), {{2, 0}, {2, 2}, {2, 4}});
  ExpectExactVersions(run);
  EXPECT_EQ(run.accepted_late, 0);
  EXPECT_GE(run.refused_late, 3);
}

TEST_P(SequentialCodingTest, StragglersThatWouldLoseAGradientAreWaitedFor) {
  const JobRun run = RunJob(GetParam(), {{2, 0}, {2, 1}, {2, 2}, {3, 0}, {3, 1}});
  ExpectExactVersions(run);
  EXPECT_GE(run.accepted_late, 1);  // at least one of them had to be waited for
}

INSTANTIATE_TEST_SUITE_P(Schemes, SequentialCodingTest, ::testing::Values("sr-sgc", "m-sgc"),
                         [](const auto& info) {
                           return std::string(info.param) == "sr-sgc" ? "SrSgc" : "MSgc";
                         });

}  // namespace
}  // namespace tributary::testing
