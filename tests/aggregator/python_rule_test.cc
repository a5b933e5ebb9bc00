// Tests of python:module.func rules (aggregator/python_rule.h): the numbers, the zero-copy view
// of shared-memory updates, and every error a user's module can cause. The modules are written
// into a fresh temporary directory put on sys.path. Skipped in builds without Python.
#include "aggregator/python_rule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "shm/slot_pool.h"

namespace tributary::aggregator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRulesModule[] = R"(
import numpy as np

def weighted_mean(updates, weights):
    return (weights[:, None] * updates).sum(axis=0) / weights.sum()

def count(updates, weights):
    return np.full(updates.shape[1], float(len(updates)), dtype=np.float32)

KEPT = []

def keep_view(updates, weights):
    """Checks that updates is a read-only view, keeps it, and returns its first row."""
    assert updates.dtype == np.float32 and weights.dtype == np.float64
    assert not updates.flags.writeable, "writeable"
    assert not updates.flags.owndata, "owns its data"
    for write in (lambda: updates.__setitem__((0, 0), 1.0), lambda: updates.setflags(write=True)):
        try:
            write()
        except ValueError:
            pass
        else:
            raise AssertionError("updates could be made writeable")
    KEPT.append(updates)
    return updates[0]

def forget(updates, weights):
    KEPT.clear()
    return updates[0]

def first_kept_row(updates, weights):
    return KEPT[-1][0].copy()

def raises(updates, weights):
    raise TypeError("no aggregate for you")

def raises_long(updates, weights):
    raise ValueError("line\n" * 1000)

def wrong_shape(updates, weights):
    return np.zeros(3)

def matrix(updates, weights):
    return updates.astype(np.float64)

def nan_at_7(updates, weights):
    result = np.zeros(updates.shape[1])
    result[7] = np.nan
    return result

def ints(updates, weights):
    return np.zeros(updates.shape[1], dtype=np.int64)

def nothing(updates, weights):
    return None

def as_list(updates, weights):
    return [0.5] * updates.shape[1]

NOT_CALLABLE = 3
)";

class PythonRuleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!PythonRulesAvailable()) return;
    char dir[] = "/tmp/tributary-python-rule-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    Write("rules_under_test.py", kRulesModule);
    Write("broken_syntax.py", "def f(updates, weights)\n    return updates[0]\n");
    Write("fails_on_import.py", "raise RuntimeError('no import today')\n");
    std::filesystem::create_directory(dir_ / "rulepkg");
    Write("rulepkg/__init__.py", "");
    Write("rulepkg/rules.py", "def first(updates, weights):\n    return updates[0]\n");
    AddPythonPath(dir_.string());
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    if (!PythonRulesAvailable()) {
      GTEST_SKIP() << "this build has no embedded Python (pybind11 or python3-dev not found)";
    }
  }

  static void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  static std::unique_ptr<AggregationRule> Rule(std::string_view target) {
    auto rule = CreatePythonRule(target);
    EXPECT_TRUE(rule.has_value()) << rule.error();
    return rule.has_value() ? std::move(rule).value() : nullptr;
  }

  static inline std::filesystem::path dir_;
};

// A slot pool of `n` slots of `dim` floats: page-aligned MAP_SHARED memory, as in production.
class Pool {
 public:
  Pool(std::size_t dim, uint32_t n) {
    auto pool = shm::SlotPool::Create(
        {.name = name_, .slot_bytes = dim * sizeof(float), .num_slots = n, .metadata = ""});
    EXPECT_TRUE(pool.has_value()) << pool.error();
    pool_ = std::move(pool).value();
    for (uint32_t i = 0; i < n; ++i) {
      auto slot = pool_->Allocate();
      EXPECT_TRUE(slot.has_value()) << slot.error();
      updates_.push_back(pool_->Floats(slot->index).subspan(0, dim));
    }
  }
  ~Pool() {
    pool_.reset();
    (void)shm::SlotPool::Remove(name_);
  }
  std::span<float> update(std::size_t i) { return updates_[i]; }
  // How many mappings of the pool's segment this process has.
  int Mappings() const {
    std::ifstream maps("/proc/self/maps");
    int count = 0;
    for (std::string line; std::getline(maps, line);) {
      count += line.ends_with("/dev/shm/" + name_) ? 1 : 0;
    }
    return count;
  }
  // Unmaps and removes the pool, as when its job ends.
  void Drop() {
    pool_.reset();
    (void)shm::SlotPool::Remove(name_);
    updates_.clear();
  }

 private:
  std::string name_ = "tributary-test-python-rule-" + std::to_string(getpid());
  std::unique_ptr<shm::SlotPool> pool_;
  std::vector<std::span<float>> updates_;
};

// Runs one round of `rule` over `updates` with `weights`; the aggregate, or the error.
Result<std::vector<float>> Round(AggregationRule& rule, std::size_t dim,
                                 const std::vector<std::span<const float>>& updates,
                                 const std::vector<double>& weights) {
  TRIBUTARY_RETURN_IF_ERROR(rule.Begin({.round = 1, .dim = dim}));
  for (std::size_t i = 0; i < updates.size(); ++i) {
    TRIBUTARY_RETURN_IF_ERROR(rule.Add(updates[i], weights[i]));
  }
  std::vector<float> out(dim);
  TRIBUTARY_RETURN_IF_ERROR(rule.Finish(out));
  return out;
}

// The error of one round over a single update of `dim` zeros.
Status RoundError(std::string_view target, std::size_t dim) {
  auto rule = CreatePythonRule(target);
  if (!rule) return rule.error();
  std::vector<float> zeros(dim);
  return Round(**rule, dim, {zeros}, {1.0}).status();
}

// Builds without pybind11 still have the rule, which says why it cannot run.
TEST(PythonRuleWithoutPythonTest, ReportsTheMissingInterpreter) {
  if (PythonRulesAvailable()) GTEST_SKIP() << "this build embeds Python";
  auto rule = CreatePythonRule("module.func");
  ASSERT_FALSE(rule.has_value());
  EXPECT_EQ(rule.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(rule.error().message(), HasSubstr("no embedded Python"));
  EXPECT_EQ(CheckPythonTarget("module.func").code(), StatusCode::kFailedPrecondition);
}

TEST_F(PythonRuleTest, WeightedMeanOfPoolUpdatesMatchesCpp) {
  constexpr std::size_t kDim = 1000;  // 4000 bytes: rows are padded to a page
  const std::vector<double> weights = {1, 30, 7, 12};
  Pool pool(kDim, weights.size());
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-2, 2);
  std::vector<std::span<const float>> updates;
  std::vector<double> expected(kDim, 0.0);
  for (std::size_t k = 0; k < weights.size(); ++k) {
    for (float& v : pool.update(k)) v = value(rng);
    for (std::size_t i = 0; i < kDim; ++i) expected[i] += weights[k] * pool.update(k)[i] / 50.0;
    updates.push_back(pool.update(k));
  }
  auto rule = Rule("rules_under_test.weighted_mean");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->Name(), "python:rules_under_test.weighted_mean");
  EXPECT_FALSE(rule->IsAssociative());
  auto out = Round(*rule, kDim, updates, weights);
  ASSERT_TRUE(out.has_value()) << out.error();
  for (std::size_t i = 0; i < kDim; ++i) ASSERT_NEAR((*out)[i], expected[i], 1e-5) << i;
}

// The array Python gets is read-only and aliases the pool's pages: a value written into a slot
// after the round shows in the array the function kept, and the array stays readable after the
// pool itself is unmapped and removed. A copy would show the old value.
TEST_F(PythonRuleTest, PoolUpdatesReachPythonWithoutACopy) {
  constexpr std::size_t kDim = 3000;
  Pool pool(kDim, 3);
  std::vector<std::span<const float>> updates;
  for (std::size_t k = 0; k < 3; ++k) {
    std::fill(pool.update(k).begin(), pool.update(k).end(), static_cast<float>(k + 1));
    updates.push_back(pool.update(k));
  }
  auto keep = Rule("rules_under_test.keep_view");
  auto peek = Rule("rules_under_test.first_kept_row");
  ASSERT_TRUE(keep && peek);
  auto first = Round(*keep, kDim, updates, {1, 1, 1});
  ASSERT_TRUE(first.has_value()) << first.error();
  EXPECT_EQ((*first)[0], 1.0f);

  pool.update(0)[0] = 42;
  pool.update(0)[kDim - 1] = 43;
  std::vector<float> unrelated(kDim);
  auto seen = Round(*peek, kDim, {unrelated}, {1});
  ASSERT_TRUE(seen.has_value()) << seen.error();
  EXPECT_EQ((*seen)[0], 42.0f);
  EXPECT_EQ((*seen)[kDim - 1], 43.0f);
  EXPECT_EQ((*seen)[1], 1.0f);

  pool.Drop();
  seen = Round(*peek, kDim, {unrelated}, {1});
  ASSERT_TRUE(seen.has_value()) << seen.error();
  EXPECT_EQ((*seen)[0], 42.0f);
}

// The second mappings of the pool live exactly as long as Python holds the array.
TEST_F(PythonRuleTest, RemappedRowsAreUnmappedWithTheArray) {
  constexpr std::size_t kDim = 2000;
  Pool pool(kDim, 3);
  const std::vector<std::span<const float>> updates = {pool.update(0), pool.update(1),
                                                       pool.update(2)};
  const int own = pool.Mappings();
  ASSERT_GE(own, 1);
  auto mean = Rule("rules_under_test.weighted_mean");
  auto keep = Rule("rules_under_test.keep_view");
  auto forget = Rule("rules_under_test.forget");
  ASSERT_TRUE(mean && keep && forget);
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(Round(*mean, kDim, updates, {1, 2, 3}).has_value());
  }
  EXPECT_EQ(pool.Mappings(), own);
  ASSERT_TRUE(Round(*keep, kDim, updates, {1, 2, 3}).has_value());
  EXPECT_GT(pool.Mappings(), own);
  std::vector<float> heap(kDim);
  ASSERT_TRUE(Round(*forget, kDim, {heap}, {1}).has_value());
  EXPECT_EQ(pool.Mappings(), own);
}

// Heap updates cannot be remapped: Python gets a read-only copy, which the function may keep.
TEST_F(PythonRuleTest, HeapUpdatesAreCopiedReadOnly) {
  constexpr std::size_t kDim = 10;
  std::vector<float> a(kDim, 1.0f), b(kDim, 2.0f);
  auto keep = Rule("rules_under_test.keep_view");
  auto peek = Rule("rules_under_test.first_kept_row");
  ASSERT_TRUE(keep && peek);
  auto first = Round(*keep, kDim, {a, b}, {1, 2});
  ASSERT_TRUE(first.has_value()) << first.error();
  EXPECT_EQ((*first)[0], 1.0f);
  a[0] = 42;
  auto seen = Round(*peek, kDim, {b}, {1});
  ASSERT_TRUE(seen.has_value()) << seen.error();
  EXPECT_EQ((*seen)[0], 1.0f);
}

TEST_F(PythonRuleTest, BeginStartsAFreshRound) {
  constexpr std::size_t kDim = 4;
  std::vector<float> x(kDim), y(kDim, 1.0f);
  auto rule = Rule("rules_under_test.count");
  ASSERT_NE(rule, nullptr);
  auto three = Round(*rule, kDim, {x, y, x}, {1, 1, 1});
  ASSERT_TRUE(three.has_value()) << three.error();
  EXPECT_EQ((*three)[0], 3.0f);
  // A round abandoned after one Add: the next Begin drops it.
  ASSERT_TRUE(rule->Begin({.round = 2, .dim = kDim}).ok());
  ASSERT_TRUE(rule->Add(x, 1).ok());
  auto two = Round(*rule, kDim, {x, y}, {1, 1});
  ASSERT_TRUE(two.has_value()) << two.error();
  EXPECT_EQ((*two)[3], 2.0f);
}

TEST_F(PythonRuleTest, AcceptsPackagesAndPlainLists) {
  std::vector<float> x = {1, 2, 3};
  auto first = Rule("rulepkg.rules.first");
  auto list = Rule("rules_under_test.as_list");
  ASSERT_TRUE(first && list);
  auto out = Round(*first, 3, {x}, {1});
  ASSERT_TRUE(out.has_value()) << out.error();
  EXPECT_EQ(*out, x);
  out = Round(*list, 3, {x}, {1});
  ASSERT_TRUE(out.has_value()) << out.error();
  EXPECT_EQ(*out, std::vector<float>(3, 0.5f));
}

TEST_F(PythonRuleTest, MissingModuleOrFunctionIsNotFound) {
  auto module = CreatePythonRule("no_such_module_here.f");
  ASSERT_FALSE(module.has_value());
  EXPECT_EQ(module.error().code(), StatusCode::kNotFound);
  EXPECT_THAT(module.error().message(), HasSubstr("ModuleNotFoundError"));
  EXPECT_THAT(module.error().message(), HasSubstr("no_such_module_here"));

  auto function = CreatePythonRule("rules_under_test.no_such_function");
  ASSERT_FALSE(function.has_value());
  EXPECT_EQ(function.error().code(), StatusCode::kNotFound);
  EXPECT_THAT(function.error().message(), HasSubstr("no_such_function"));
}

TEST_F(PythonRuleTest, BrokenModulesAndNonCallablesAreInvalid) {
  auto syntax = CreatePythonRule("broken_syntax.f");
  ASSERT_FALSE(syntax.has_value());
  EXPECT_EQ(syntax.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(syntax.error().message(), HasSubstr("SyntaxError"));

  auto import = CreatePythonRule("fails_on_import.f");
  ASSERT_FALSE(import.has_value());
  EXPECT_EQ(import.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(import.error().message(), HasSubstr("RuntimeError: no import today"));

  auto value = CreatePythonRule("rules_under_test.NOT_CALLABLE");
  ASSERT_FALSE(value.has_value());
  EXPECT_EQ(value.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(value.error().message(), HasSubstr("(of type int) is not callable"));
}

TEST_F(PythonRuleTest, MalformedTargetsAreInvalid) {
  for (std::string_view target : {"", "nodot", ".x", "a.", "a..b", "."}) {
    auto rule = CreatePythonRule(target);
    ASSERT_FALSE(rule.has_value()) << target;
    EXPECT_EQ(rule.error().code(), StatusCode::kInvalidArgument) << target;
    EXPECT_THAT(rule.error().message(), HasSubstr("malformed")) << target;
    EXPECT_EQ(CheckPythonTarget(target).code(), StatusCode::kInvalidArgument) << target;
  }
  EXPECT_TRUE(CheckPythonTarget("pkg.module.func").ok());
}

TEST_F(PythonRuleTest, ExceptionsBecomeOneLineErrors) {
  Status raised = RoundError("rules_under_test.raises", 4);
  EXPECT_EQ(raised.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(raised.message(), HasSubstr("python rule rules_under_test.raises raised TypeError: "
                                          "no aggregate for you"));
  EXPECT_THAT(raised.message(), HasSubstr("rules_under_test.py:"));

  Status long_one = RoundError("rules_under_test.raises_long", 4);
  EXPECT_EQ(long_one.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(long_one.message(), HasSubstr("ValueError: line line"));
  EXPECT_THAT(long_one.message(), Not(HasSubstr("\n")));
  EXPECT_LE(long_one.message().size(), 1100u);
}

TEST_F(PythonRuleTest, ResultsOfTheWrongShapeOrTypeAreInvalid) {
  Status shape = RoundError("rules_under_test.wrong_shape", 10);
  EXPECT_EQ(shape.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.message(), HasSubstr("returned shape (3,) but the model has 10 parameters"));

  Status matrix = RoundError("rules_under_test.matrix", 10);
  EXPECT_THAT(matrix.message(), HasSubstr("returned shape (1, 10)"));

  Status nan = RoundError("rules_under_test.nan_at_7", 10);
  EXPECT_EQ(nan.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(nan.message(), HasSubstr("returned a non-finite value at index 7"));

  Status ints = RoundError("rules_under_test.ints", 10);
  EXPECT_EQ(ints.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(ints.message(), HasSubstr("dtype int64"));

  Status none = RoundError("rules_under_test.nothing", 10);
  EXPECT_EQ(none.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(none.message(), HasSubstr("returned NoneType"));
}

TEST_F(PythonRuleTest, RoundPreconditions) {
  auto rule = Rule("rules_under_test.count");
  ASSERT_NE(rule, nullptr);
  std::vector<float> x(4), out(4);
  EXPECT_EQ(rule->Add(x, 1).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(rule->Begin({.round = 1, .dim = 4}).ok());
  EXPECT_EQ(rule->Finish(out).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(rule->Add(std::vector<float>(5), 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rule->Add(x, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rule->Begin({.round = 1, .dim = 0}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tributary::aggregator
