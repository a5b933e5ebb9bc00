// Sequential gradient coding: on random straggler patterns that follow the (B, W, lambda)
// model, GC (s = lambda), SR-SGC and M-SGC close every round without waiting and decode every
// job t by round t+T, and the decoded sum equals the job's full gradient computed directly.
// Patterns outside the model close the rounds that leave every job decodable in time and wait
// in the others, never missing a deadline. Also the load formulas and the model check itself.
#include "robust/coding/sequential_scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>
#include <tuple>

#include "robust/coding/computational_load.h"
#include "robust/coding/straggler_model.h"
#include "tests/robust/coding/test_gradients.h"

namespace tributary::robust::coding {
namespace {

using Pattern = std::vector<std::vector<bool>>;  // [round][worker] straggles

// A random pattern inside the (B, W, lambda) model, by rejection: each round proposes bursts
// that continue (up to B rounds) and new stragglers at a rate that often hits the limits, and
// keeps the first proposal the model admits (no straggler if none does).
Pattern RandomBurstyPattern(int n, int burst, int window, int lambda, int rounds, uint64_t seed) {
  BurstyStragglerModel model(n, burst, window, lambda);
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution start(std::min(1.0, 1.5 * lambda / n));
  std::bernoulli_distribution keep(0.75);
  Pattern pattern;
  std::vector<int> run(n, 0);  // current burst length
  for (int r = 0; r < rounds; ++r) {
    std::vector<bool> chosen(n, false);
    for (int attempt = 0; attempt < 40; ++attempt) {
      std::vector<bool> candidate(n);
      for (int w = 0; w < n; ++w) {
        candidate[w] = run[w] > 0 ? run[w] < burst && keep(rng) : start(rng);
      }
      if (model.Admits(candidate)) {
        chosen = candidate;
        break;
      }
    }
    for (int w = 0; w < n; ++w) run[w] = chosen[w] ? run[w] + 1 : 0;
    model.Record(chosen);
    pattern.push_back(chosen);
  }
  return pattern;
}

std::vector<int> Survivors(const std::vector<bool>& stragglers) {
  std::vector<int> arrived;
  for (int w = 0; w < static_cast<int>(stragglers.size()); ++w) {
    if (!stragglers[w]) arrived.push_back(w);
  }
  return arrived;
}

// Drives a scheduler as the platform would: workers compute their mini-tasks on random
// partition gradients, stragglers deliver nothing, and each decodable job's decoding is checked
// against the directly computed sum.
class Harness {
 public:
  explicit Harness(std::unique_ptr<SequentialScheduler> scheduler, uint64_t seed = 3)
      : s_(std::move(scheduler)) {
    for (int job = 0; job < s_->jobs(); ++job) {
      gradients_.push_back(testing::RandomGradients(s_->num_partitions(), 3, seed + job));
    }
  }
  SequentialScheduler& scheduler() { return *s_; }

  // Delivers the round's results of `arrived` and tries to close it.
  RoundOutcome Close(const std::vector<int>& arrived) {
    for (const int w : arrived) {
      for (const MiniTask& task : s_->Tasks(w)) {
        Eigen::RowVectorXd f = Eigen::RowVectorXd::Zero(3);
        for (size_t k = 0; k < task.partitions.size(); ++k) {
          f += task.coefficients[k] * gradients_[task.job].row(task.partitions[k]);
        }
        results_[{s_->round(), w, task.slot}] = f;
      }
    }
    const int round = s_->round();
    Result<RoundOutcome> outcome = s_->TryCloseRound(arrived);
    EXPECT_TRUE(outcome.has_value()) << outcome.error();
    for (const int job : outcome->decoded) {
      decoded_round_[job] = round;
      ExpectExactSum(job);
    }
    return *outcome;
  }

  void ExpectExactSum(int job) {
    const Result<std::vector<DecodeTerm>> terms = s_->Decoding(job);
    ASSERT_TRUE(terms.has_value()) << terms.error();
    Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(3);
    for (const DecodeTerm& t : *terms) {
      const auto it = results_.find({t.key.round, t.key.worker, t.key.slot});
      ASSERT_NE(it, results_.end()) << "decoding uses a result that never arrived";
      sum += t.weight * it->second;
    }
    const Eigen::RowVectorXd truth = gradients_[job].colwise().sum();
    EXPECT_LE((sum - truth).norm(), 1e-9 * truth.norm()) << "job " << job;
  }

  int DecodedRound(int job) const {
    const auto it = decoded_round_.find(job);
    return it == decoded_round_.end() ? -1 : it->second;
  }

 private:
  std::unique_ptr<SequentialScheduler> s_;
  std::vector<Eigen::MatrixXd> gradients_;  // [job]: partitions x 3
  std::map<std::tuple<int, int, int>, Eigen::RowVectorXd> results_;
  std::map<int, int> decoded_round_;
};

struct Case {
  SequentialScheme scheme;
  int n, burst, window, lambda;
};

std::string Name(const Case& c) {
  const char* names[] = {"gc", "sr-sgc", "m-sgc"};
  return std::string(names[static_cast<int>(c.scheme)]) + " n=" + std::to_string(c.n) +
         " (B,W,lambda)=(" + std::to_string(c.burst) + "," + std::to_string(c.window) + "," +
         std::to_string(c.lambda) + ")";
}

TEST(SequentialSchedulerTest, EveryJobDecodedByItsDeadlineOnBurstyPatterns) {
  using enum SequentialScheme;
  const Case cases[] = {
      {kGc, 12, 1, 2, 3},    {kGc, 12, 2, 3, 2},    {kGc, 12, 2, 4, 5},    {kSrSgc, 12, 1, 2, 3},
      {kSrSgc, 12, 2, 3, 4}, {kSrSgc, 12, 1, 3, 4}, {kSrSgc, 12, 1, 4, 6}, {kSrSgc, 12, 2, 5, 4},
      {kSrSgc, 12, 3, 4, 3}, {kSrSgc, 10, 1, 2, 3},  // s = 2, cyclic code
      {kMSgc, 12, 1, 2, 3},  {kMSgc, 12, 2, 3, 2},  {kMSgc, 12, 1, 3, 3},  {kMSgc, 12, 2, 4, 3},
      {kMSgc, 12, 3, 4, 5},  {kMSgc, 10, 1, 2, 2},  // cyclic code
  };
  constexpr int kJobs = 40;
  for (const Case& c : cases) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      SCOPED_TRACE(Name(c) + " seed " + std::to_string(seed));
      Result<std::unique_ptr<SequentialScheduler>> created =
          SequentialScheduler::Create({.scheme = c.scheme,
                                       .n = c.n,
                                       .burst = c.burst,
                                       .window = c.window,
                                       .lambda = c.lambda,
                                       .jobs = kJobs});
      ASSERT_TRUE(created.has_value()) << created.error();
      Harness h(std::move(*created), seed);
      const int rounds = h.scheduler().rounds();
      const Pattern pattern = RandomBurstyPattern(c.n, c.burst, c.window, c.lambda, rounds, seed);
      int straggles = 0;
      for (int r = 0; r < rounds; ++r) {
        straggles += std::count(pattern[r].begin(), pattern[r].end(), true);
        ASSERT_TRUE(h.Close(Survivors(pattern[r])).closed)
            << "a pattern inside the model was refused at round " << r;
      }
      EXPECT_TRUE(h.scheduler().done());
      EXPECT_GT(straggles, rounds / 2);  // the pattern did exercise the code
      for (int job = 0; job < kJobs; ++job) {
        ASSERT_TRUE(h.scheduler().IsDecodable(job)) << "job " << job;
        EXPECT_LE(h.DecodedRound(job), job + h.scheduler().delay()) << "job " << job;
      }
    }
  }
}

TEST(SequentialSchedulerTest, DelaysFollowTheSchemes) {
  const auto delay = [](SequentialScheme scheme) {
    return (*SequentialScheduler::Create(
                {.scheme = scheme, .n = 12, .burst = 2, .window = 3, .lambda = 2, .jobs = 5}))
        ->delay();
  };
  EXPECT_EQ(delay(SequentialScheme::kGc), 0);
  EXPECT_EQ(delay(SequentialScheme::kSrSgc), 2);  // B
  EXPECT_EQ(delay(SequentialScheme::kMSgc), 3);   // W-2+B
}

// Random patterns of any shape: each round, a worker that straggled keeps straggling with
// probability 0.5 and any other starts with probability `rate`, often beyond the model. A round
// the scheduler refuses is retried with every worker arrived, which must close it.
TEST(SequentialSchedulerTest, PatternsOutsideTheModelNeverMissADeadline) {
  using enum SequentialScheme;
  const struct {
    Case c;
    double rate;
    bool closes_outside;  // a fractional-repetition code tolerates more than the model
  } cases[] = {
      {{kGc, 12, 1, 1, 3}, 0.15, true},   {{kSrSgc, 12, 1, 2, 3}, 0.1, true},
      {{kSrSgc, 12, 2, 3, 4}, 0.1, true}, {{kSrSgc, 10, 1, 2, 3}, 0.1, true},
      {{kMSgc, 12, 1, 2, 3}, 0.1, true},  {{kMSgc, 12, 2, 4, 3}, 0.1, true},
      // Cyclic code: M-SGC's coded group takes the rows of the whole window, so what it
      // tolerates is exactly the model.
      {{kMSgc, 10, 1, 3, 2}, 0.05, false},
  };
  constexpr int kJobs = 40;
  for (const auto& [c, rate, closes_outside] : cases) {
    int refused = 0, closed_outside = 0;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      SCOPED_TRACE(Name(c) + " seed " + std::to_string(seed));
      Harness h(*SequentialScheduler::Create({.scheme = c.scheme,
                                              .n = c.n,
                                              .burst = c.burst,
                                              .window = c.window,
                                              .lambda = c.lambda,
                                              .jobs = kJobs}),
                seed);
      BurstyStragglerModel model(c.n, c.burst, c.window, c.lambda);
      std::mt19937_64 rng(seed);
      std::bernoulli_distribution start(rate), keep(0.5);
      std::vector<bool> stragglers(c.n, false);
      std::vector<int> everyone(c.n);
      std::iota(everyone.begin(), everyone.end(), 0);
      while (!h.scheduler().done()) {
        for (int w = 0; w < c.n; ++w) stragglers[w] = stragglers[w] ? keep(rng) : start(rng);
        if (h.Close(Survivors(stragglers)).closed) {
          closed_outside += !model.Admits(stragglers);
          model.Record(stragglers);
        } else {
          ++refused;
          ASSERT_TRUE(h.Close(everyone).closed) << "refused with every worker arrived";
          model.Record(std::vector<bool>(c.n, false));
        }
      }
      for (int job = 0; job < kJobs; ++job) {
        ASSERT_TRUE(h.scheduler().IsDecodable(job)) << "job " << job;
        EXPECT_LE(h.DecodedRound(job), job + h.scheduler().delay()) << "job " << job;
      }
    }
    SCOPED_TRACE(Name(c));
    EXPECT_GT(refused, 0);         // the patterns did lose jobs, which the scheduler waited for
    // The patterns left the model in rounds that could still close, and those closed.
    EXPECT_EQ(closed_outside > 0, closes_outside) << closed_outside << " rounds";
  }
}

TEST(SequentialSchedulerTest, GcWaitsWhenTheArrivedRowsDoNotDecode) {
  // n = 12, s = 3: fractional repetition in groups {0..3}, {4..7}, {8..11}.
  Harness h(*SequentialScheduler::Create(
      {.scheme = SequentialScheme::kGc, .n = 12, .lambda = 3, .jobs = 3}));
  EXPECT_FALSE(h.Close({4, 5, 6, 7, 8, 9, 10, 11}).closed);  // group {0..3} lost
  EXPECT_EQ(h.scheduler().round(), 0);
  EXPECT_FALSE(h.scheduler().IsDecodable(0));
  EXPECT_EQ(h.scheduler().Decoding(0).error().code(), StatusCode::kFailedPrecondition);
  const RoundOutcome all = h.Close({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  EXPECT_TRUE(all.closed);
  EXPECT_EQ(all.decoded, std::vector<int>{0});
  EXPECT_TRUE(h.Close({3, 4, 5, 6, 7, 8, 9, 10, 11}).closed);  // 3 stragglers: fine
  // 6 stragglers > s, but every group keeps a worker: job 2 still decodes exactly.
  const RoundOutcome spread = h.Close({3, 7, 8, 9, 10, 11});
  EXPECT_TRUE(spread.closed);
  EXPECT_EQ(spread.decoded, std::vector<int>{2});
}

TEST(SequentialSchedulerTest, SrSgcWaitsOnlyWhenTheDueJobWouldBeLost) {
  // (B, W, lambda) = (1, 2, 3), s = 2: groups {0,1,2}, {3,4,5}, ...
  Harness h(*SequentialScheduler::Create({.scheme = SequentialScheme::kSrSgc,
                                          .n = 12,
                                          .burst = 1,
                                          .window = 2,
                                          .lambda = 3,
                                          .jobs = 3}));
  // Round 0 loses group {0,1,2}: job 0 can still be repaired, by worker 0 in round 1.
  EXPECT_TRUE(h.Close({3, 4, 5, 6, 7, 8, 9, 10, 11}).closed);
  EXPECT_FALSE(h.scheduler().IsDecodable(0));
  ASSERT_EQ(h.scheduler().Tasks(0).size(), 1u);
  EXPECT_EQ(h.scheduler().Tasks(0)[0].job, 0);
  EXPECT_EQ(h.scheduler().Tasks(1)[0].job, 1);
  // Round 1: worker 0 straggling again loses job 0 at its deadline: wait.
  EXPECT_FALSE(h.Close({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}).closed);
  EXPECT_EQ(h.scheduler().round(), 1);
  // A fresh straggler instead leaves the model (4 in the window of 2) but loses nothing.
  const RoundOutcome outside = h.Close({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EXPECT_TRUE(outside.closed);
  EXPECT_EQ(outside.decoded, (std::vector<int>{0, 1}));  // exact sums checked by the harness
  // Round 2 loses group {3,4,5} of job 2; worker 3 repeats it in round 3 and must arrive.
  EXPECT_TRUE(h.Close({0, 1, 2, 6, 7, 8, 9, 10, 11}).closed);
  EXPECT_FALSE(h.Close({0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11}).closed);
  const RoundOutcome last = h.Close({3});
  EXPECT_TRUE(last.closed);
  EXPECT_EQ(last.decoded, std::vector<int>{2});
  EXPECT_TRUE(h.scheduler().done());
}

TEST(SequentialSchedulerTest, MSgcWaitsOnlyWhenAJobWouldBeLost) {
  // (B, W, lambda) = (1, 2, 2): T = 1; slot 0 is job r's chunk, slot 1 job r-1's coded row of
  // the group {0,1,2}, {3,4,5}, ... or a chunk that is still missing.
  Harness h(*SequentialScheduler::Create({.scheme = SequentialScheme::kMSgc,
                                          .n = 12,
                                          .burst = 1,
                                          .window = 2,
                                          .lambda = 2,
                                          .jobs = 3}));
  // Workers 0, 1, 2 would all redo their chunk of job 0 in round 1 instead of its coded
  // group {0,1,2}: job 0 would be lost.
  EXPECT_FALSE(h.Close({3, 4, 5, 6, 7, 8, 9, 10, 11}).closed);
  EXPECT_TRUE(h.Close({2, 3, 4, 5, 6, 7, 8, 9, 10, 11}).closed);
  // Round 1: a third distinct straggler leaves the model; job 0 keeps worker 2's coded row.
  const RoundOutcome outside = h.Close({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EXPECT_TRUE(outside.closed);
  EXPECT_EQ(outside.decoded, std::vector<int>{0});
  EXPECT_TRUE(h.Close({0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11}).closed);  // worker 5 misses a chunk
  // Round 3, the last: worker 5 must deliver its chunk of job 2 now.
  EXPECT_FALSE(h.Close({0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11}).closed);
  const RoundOutcome last = h.Close({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  EXPECT_TRUE(last.closed);
  EXPECT_EQ(last.decoded, std::vector<int>{2});
  for (int job = 0; job < 3; ++job) EXPECT_TRUE(h.scheduler().IsDecodable(job));
}

TEST(SequentialSchedulerTest, RejectsBadOptionsAndIds) {
  using enum SequentialScheme;
  const auto code = [](SchedulerOptions o) {
    return SequentialScheduler::Create(o).error().code();
  };
  EXPECT_EQ(code({.scheme = kSrSgc, .n = 12, .burst = 2, .window = 4, .lambda = 2, .jobs = 4}),
            StatusCode::kInvalidArgument);  // B does not divide W-1
  EXPECT_EQ(code({.scheme = kMSgc, .n = 12, .burst = 2, .window = 2, .lambda = 2, .jobs = 4}),
            StatusCode::kInvalidArgument);  // B > W-1
  EXPECT_EQ(code({.scheme = kMSgc, .n = 4, .burst = 1, .window = 2, .lambda = 4, .jobs = 4}),
            StatusCode::kInvalidArgument);  // lambda >= n
  EXPECT_EQ(code({.scheme = kGc, .n = 4, .lambda = 1, .jobs = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSequentialScheme("sgc").error().code(), StatusCode::kInvalidArgument);

  auto s = *SequentialScheduler::Create({.scheme = kGc, .n = 4, .lambda = 1, .jobs = 1});
  EXPECT_EQ(s->TryCloseRound(std::vector<int>{0, 4}).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->TryCloseRound(std::vector<int>{0, 0}).error().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(s->TryCloseRound(std::vector<int>{0, 1, 2, 3})->closed);
  EXPECT_TRUE(s->done());
  EXPECT_TRUE(s->Tasks(0).empty());
  EXPECT_EQ(s->TryCloseRound(std::vector<int>{0, 1, 2, 3}).error().code(),
            StatusCode::kFailedPrecondition);
}

TEST(ComputationalLoadTest, PaperExamples) {
  EXPECT_NEAR(GcLoad(100, 2), 0.03, 1e-15);
  EXPECT_EQ(SrSgcStragglers(2, 3, 2), 1);
  EXPECT_NEAR(SrSgcLoad(100, 2, 3, 2), 0.02, 1e-15);
  EXPECT_NEAR(MSgcLoad(100, 2, 3, 2), 0.015, 1e-15);
  EXPECT_NEAR(GcLoad(256, 8), 9.0 / 256, 1e-15);            // 0.0352
  EXPECT_NEAR(SrSgcLoad(256, 1, 2, 8), 5.0 / 256, 1e-15);   // 0.0195
  EXPECT_NEAR(MSgcLoad(256, 1, 2, 8), 18.0 / 2560, 1e-15);  // 0.0070
}

TEST(ComputationalLoadTest, SchedulersRunTheFormulaLoad) {
  // n = 12, (B, W, lambda) = (2, 3, 2): GC 3/12, SR-SGC (s = 1) 2/12, M-SGC 12/96.
  using enum SequentialScheme;
  const struct {
    SequentialScheme scheme;
    double formula;
  } cases[] = {
      {kGc, GcLoad(12, 2)}, {kSrSgc, SrSgcLoad(12, 2, 3, 2)}, {kMSgc, MSgcLoad(12, 2, 3, 2)}};
  for (const auto& c : cases) {
    auto s = *SequentialScheduler::Create(
        {.scheme = c.scheme, .n = 12, .burst = 2, .window = 3, .lambda = 2, .jobs = 10});
    EXPECT_NEAR(s->NormalizedLoad(), c.formula, 1e-15);
    // What the workers are actually given: never more, and exactly that in steady state.
    double heaviest = 0;
    std::vector<int> everyone(12);
    std::iota(everyone.begin(), everyone.end(), 0);
    while (!s->done()) {
      for (int w = 0; w < 12; ++w) {
        size_t partitions = 0;
        for (const MiniTask& t : s->Tasks(w)) partitions += t.partitions.size();
        heaviest = std::max(heaviest, double(partitions) / s->num_partitions());
      }
      ASSERT_TRUE(s->TryCloseRound(everyone)->closed);
    }
    EXPECT_NEAR(heaviest, c.formula, 1e-15);
  }
}

TEST(BurstyStragglerModelTest, SpatialAndTemporalLimits) {
  BurstyStragglerModel model(6, /*burst=*/2, /*window=*/4, /*lambda=*/2);
  const std::vector<bool> w0 = {true, false, false, false, false, false};
  const std::vector<bool> w1 = {false, true, false, false, false, false};
  const std::vector<bool> w2 = {false, false, true, false, false, false};
  const std::vector<bool> none(6, false);
  EXPECT_FALSE(model.Admits({true, true, true, false, false, false}));  // 3 > lambda
  model.Record(w0);                                                     // round 0
  EXPECT_TRUE(model.Admits(w0));                                        // burst of 2 is fine
  model.Record(w0);                                                     // round 1
  model.Record(w1);                                                     // round 2
  EXPECT_FALSE(model.Admits(w0));  // round 3: worker 0 straggled in round 1 = r-2 (burst > B)
  EXPECT_FALSE(model.Admits(w2));  // 3 distinct in rounds 0..3
  EXPECT_TRUE(model.Admits(w1));
  model.Record(none);             // round 3
  model.Record(none);             // round 4
  EXPECT_TRUE(model.Admits(w2));  // rounds 2..5 hold only worker 1
  EXPECT_TRUE(BurstyStragglerModel::Validate(6, 3, 2, 1).code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tributary::robust::coding
