// Rule plug-ins: loading checks (entry point, ABI version, name clashes), the adapter's
// results and error texts, and a crashing plug-in taking down only its own process.
#include "aggregator/plugin_rule.h"

#include <gtest/gtest.h>

#include <vector>

#include "aggregator/rule_registry.h"

namespace tributary::aggregator {
namespace {

std::string Plugin(const std::string& stem) {
  return std::string(TRIBUTARY_TEST_PLUGIN_DIR) + "/" + stem + ".so";
}

TEST(PluginRuleTest, LoadsOnceAndRegistersByName) {
  auto p = LoadRulePlugin(Plugin("faulty_plugin"));
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->name, "faulty");
  EXPECT_TRUE(p->associative);
  auto again = LoadRulePlugin(Plugin("faulty_plugin"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->path, p->path);
  ASSERT_TRUE(FindRulePlugin("faulty"));
  auto names = KnownRules();
  EXPECT_NE(std::find(names.begin(), names.end(), "plugin:faulty"), names.end());
  EXPECT_TRUE(CheckRule("plugin:faulty", {}, 3).ok());
  EXPECT_FALSE(SplitsByCoordinate("plugin:faulty"));
}

TEST(PluginRuleTest, RejectsWhatIsNotAPluginOfThisAbi) {
  auto missing = LoadRulePlugin(Plugin("no_such_plugin"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), StatusCode::kInvalidArgument);
  auto no_entry = LoadRulePlugin(Plugin("faulty_plugin_no_entry"));
  ASSERT_FALSE(no_entry);
  EXPECT_NE(no_entry.error().message().find("exports no tributary_rule_plugin_v1"),
            std::string::npos)
      << no_entry.error().message();
  auto old_abi = LoadRulePlugin(Plugin("faulty_plugin_old_abi"));
  ASSERT_FALSE(old_abi);
  EXPECT_NE(old_abi.error().message().find("ABI version 0"), std::string::npos)
      << old_abi.error().message();
  EXPECT_FALSE(FindRulePlugin("old"));

  ASSERT_TRUE(LoadRulePlugin(Plugin("faulty_plugin")));
  auto twin = LoadRulePlugin(Plugin("faulty_plugin_twin"));
  ASSERT_FALSE(twin);
  EXPECT_EQ(twin.error().code(), StatusCode::kAlreadyExists);
}

TEST(PluginRuleTest, UnknownPluginIsNotFoundAndSaysWhatIsLoaded) {
  ASSERT_TRUE(LoadRulePlugin(Plugin("faulty_plugin")));
  Status s = CheckRule("plugin:nope", {}, 1);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("loaded: faulty"), std::string::npos) << s.message();
  EXPECT_EQ(CreateRule("plugin:nope").error().code(), StatusCode::kNotFound);
}

TEST(PluginRuleTest, RunsTheRuleAndCarriesItsErrors) {
  ASSERT_TRUE(LoadRulePlugin(Plugin("faulty_plugin")));
  auto rule = CreateRule("plugin:faulty");
  ASSERT_TRUE(rule) << rule.error().ToString();
  EXPECT_EQ((*rule)->Name(), "plugin:faulty");
  for (uint64_t round = 1; round <= 2; ++round) {  // state is reset by Begin
    ASSERT_TRUE((*rule)->Begin({.round = round, .dim = 3}).ok());
    const std::vector<float> a = {1, 2, 3}, b = {4, 5, 6};
    ASSERT_TRUE((*rule)->Add(a, 1).ok());
    ASSERT_TRUE((*rule)->Add(b, 2).ok());
    std::vector<float> out(3);
    ASSERT_TRUE((*rule)->Finish(out).ok());
    EXPECT_FLOAT_EQ(out[0], 3);
    EXPECT_FLOAT_EQ(out[2], 5);
  }
  std::vector<float> short_update(2);
  EXPECT_EQ((*rule)->Add(short_update, 1).code(), StatusCode::kInvalidArgument);

  auto bad = CreateRule("plugin:faulty", {{"bogus", 1}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("unknown parameter bogus"), std::string::npos);

  auto failing = CreateRule("plugin:faulty", {{"fail_finish", 1}});
  ASSERT_TRUE(failing);
  ASSERT_TRUE((*failing)->Begin({.round = 7, .dim = 1}).ok());
  std::vector<float> one = {1}, out(1);
  ASSERT_TRUE((*failing)->Add(one, 1).ok());
  Status s = (*failing)->Finish(out);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "plugin:faulty finish: asked to fail in round 7");

  // A result with a NaN is refused, saying where, rather than published.
  auto nan = CreateRule("plugin:faulty", {{"nan_finish", 1}});
  ASSERT_TRUE(nan);
  ASSERT_TRUE((*nan)->Begin({.round = 1, .dim = 5}).ok());
  const std::vector<float> five(5, 1.0f);
  ASSERT_TRUE((*nan)->Add(five, 1).ok());
  std::vector<float> result(5);
  s = (*nan)->Finish(result);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "plugin:faulty returned a non-finite value at index 2");
}

TEST(PluginRuleDeathTest, ACrashingPluginKillsItsProcess) {
  ASSERT_TRUE(LoadRulePlugin(Plugin("faulty_plugin")));
  auto rule = CreateRule("plugin:faulty", {{"crash_round", 2}});
  ASSERT_TRUE(rule);
  std::vector<float> x = {1};
  ASSERT_TRUE((*rule)->Begin({.round = 1, .dim = 1}).ok());
  EXPECT_TRUE((*rule)->Add(x, 1).ok());
  ASSERT_TRUE((*rule)->Begin({.round = 2, .dim = 1}).ok());
  EXPECT_DEATH((void)(*rule)->Add(x, 1), "");
}

}  // namespace
}  // namespace tributary::aggregator
