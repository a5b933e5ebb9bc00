// Fuzz target: what a rule plug-in returns. The input is a round of updates of any bits (NaN,
// infinities and huge values included) with their weights, folded by a plug-in rule (the
// tests' plug-in, a weighted mean, that with `nan_finish` also plants a NaN in its result);
// whatever the plug-in makes of them, the adapter must answer with an error or with finite
// values of the model's size, never pass a non-finite value on to be published.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "aggregator/plugin_rule.h"
#include "aggregator/rule_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tributary::aggregator;
  static const bool loaded = LoadRulePlugin(TRIBUTARY_FAULTY_PLUGIN).has_value();
  if (!loaded) std::abort();
  if (size < 2) return 0;
  const std::size_t dim = 1 + data[0] % 16;
  RuleParams params;
  if (data[1] & 1) params["nan_finish"] = 1;
  auto rule = CreateRule("plugin:faulty", params);
  if (!rule || !(*rule)->Begin({.round = 1, .dim = dim}).ok()) std::abort();
  std::vector<float> update(dim);
  const std::size_t record = 1 + dim * sizeof(float);  // a weight byte, then the values
  for (std::size_t at = 2; at + record <= size; at += record) {
    std::memcpy(update.data(), data + at + 1, dim * sizeof(float));
    (void)(*rule)->Add(update, 1 + data[at] % 8);
  }
  std::vector<float> out(dim);
  if (!(*rule)->Finish(out).ok()) return 0;
  for (float v : out) {
    if (!std::isfinite(v)) std::abort();
  }
  return 0;
}
