#include "aggregator/plugin_rule.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "aggregator/rule_plugin.h"

namespace tributary::aggregator {
namespace {

struct LoadedPlugin {
  PluginInfo info;
  const tributary_rule_plugin* table = nullptr;
};

struct Registry {
  std::mutex mu;
  std::map<std::string, LoadedPlugin, std::less<>> by_name;
};

Registry& Plugins() {
  static Registry* registry = new Registry;  // outlives every rule, even at exit
  return *registry;
}

bool ValidName(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  std::string_view n(name);
  return n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

// Adapts one plug-in state to AggregationRule; the plug-in's messages become Status text.
class PluginRule final : public AggregationRule {
 public:
  PluginRule(std::string name, const tributary_rule_plugin* table, void* state)
      : name_("plugin:" + std::move(name)), table_(table), state_(state) {}
  ~PluginRule() override { table_->destroy(state_); }

  std::string_view Name() const override { return name_; }
  bool IsAssociative() const override { return table_->associative != 0; }

  Status Begin(const RoundInfo& info) override {
    dim_ = info.dim;
    return Check("begin", table_->begin(state_, info.round, info.dim, info.expected_updates,
                                        error_, sizeof error_));
  }
  Status Add(std::span<const float> update, double weight) override {
    if (update.size() != dim_) return Status::InvalidArgument(name_ + ": update size mismatch");
    return Check("add", table_->add(state_, update.data(), update.size(), weight, error_,
                                    sizeof error_));
  }
  Status Finish(std::span<float> out) override {
    if (out.size() != dim_) return Status::InvalidArgument(name_ + ": output size mismatch");
    TRIBUTARY_RETURN_IF_ERROR(
        Check("finish", table_->finish(state_, out.data(), out.size(), error_, sizeof error_)));
    // A plug-in's result is not trusted further than the updates are: no NaN or Inf published.
    const auto bad =
        std::find_if(out.begin(), out.end(), [](float v) { return !std::isfinite(v); });
    if (bad != out.end()) {
      return Status::InvalidArgument(name_ + " returned a non-finite value at index " +
                                     std::to_string(bad - out.begin()));
    }
    return Status::Ok();
  }

 private:
  Status Check(const char* step, int rc) {
    if (rc == 0) return Status::Ok();
    error_[sizeof error_ - 1] = '\0';
    return Status::FailedPrecondition(name_ + " " + step + ": " +
                                      (error_[0] ? error_ : "failed without a message"));
  }

  std::string name_;
  const tributary_rule_plugin* table_;
  void* state_;
  std::size_t dim_ = 0;
  char error_[512] = {};
};

}  // namespace

Result<PluginInfo> LoadRulePlugin(const std::string& path) {
  Registry& reg = Plugins();
  std::lock_guard lock(reg.mu);
  for (const auto& [name, p] : reg.by_name) {
    if (p.info.path == path) return p.info;
  }
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return Status::InvalidArgument("cannot load rule plug-in " + path + ": " + dlerror());
  }
  auto fail = [&](const std::string& why) {
    dlclose(handle);
    return Status::InvalidArgument("rule plug-in " + path + ": " + why);
  };
  auto entry = reinterpret_cast<tributary_rule_plugin_entry>(
      dlsym(handle, TRIBUTARY_RULE_PLUGIN_ENTRY));
  if (entry == nullptr) return fail("exports no " TRIBUTARY_RULE_PLUGIN_ENTRY "()");
  const tributary_rule_plugin* table = entry();
  if (table == nullptr) return fail(TRIBUTARY_RULE_PLUGIN_ENTRY "() returned NULL");
  if (table->abi_version != TRIBUTARY_RULE_PLUGIN_ABI_VERSION) {
    return fail("ABI version " + std::to_string(table->abi_version) + ", this build speaks " +
                std::to_string(TRIBUTARY_RULE_PLUGIN_ABI_VERSION));
  }
  if (!ValidName(table->name)) return fail("its name must match [a-z0-9_-]{1,64}");
  if (!table->create || !table->begin || !table->add || !table->finish || !table->destroy) {
    return fail("a rule function (create, begin, add, finish, destroy) is NULL");
  }
  if (auto it = reg.by_name.find(table->name); it != reg.by_name.end()) {
    Status clash = Status::AlreadyExists("rule plug-in " + path + " is named '" + table->name +
                                         "', as " + it->second.info.path + " already is");
    dlclose(handle);  // `table` is gone from here on
    return clash;
  }
  LoadedPlugin p{.info = {.name = table->name, .path = path, .associative = table->associative != 0},
                 .table = table};
  reg.by_name.emplace(p.info.name, p);
  return p.info;
}

Result<PluginInfo> FindRulePlugin(std::string_view name) {
  Registry& reg = Plugins();
  std::lock_guard lock(reg.mu);
  if (auto it = reg.by_name.find(name); it != reg.by_name.end()) return it->second.info;
  std::string loaded;
  for (const auto& [n, p] : reg.by_name) loaded += (loaded.empty() ? "" : ", ") + n;
  return Status::NotFound("no rule plug-in named '" + std::string(name) + "' is loaded (" +
                          (loaded.empty() ? "none are; start serve with --rule-plugin PATH.so"
                                          : "loaded: " + loaded) +
                          ")");
}

std::vector<PluginInfo> LoadedRulePlugins() {
  Registry& reg = Plugins();
  std::lock_guard lock(reg.mu);
  std::vector<PluginInfo> out;
  for (const auto& [n, p] : reg.by_name) out.push_back(p.info);
  return out;
}

Result<std::unique_ptr<AggregationRule>> CreatePluginRule(std::string_view name,
                                                          const RuleParams& params) {
  const tributary_rule_plugin* table = nullptr;
  {
    Registry& reg = Plugins();
    std::lock_guard lock(reg.mu);
    if (auto it = reg.by_name.find(name); it != reg.by_name.end()) table = it->second.table;
  }
  if (table == nullptr) return FindRulePlugin(name).error();
  std::vector<tributary_rule_param> args;
  for (const auto& [n, v] : params) args.push_back({n.c_str(), v});
  char error[512] = {};
  void* state = table->create(args.data(), args.size(), error, sizeof error);
  if (state == nullptr) {
    error[sizeof error - 1] = '\0';
    return Status::InvalidArgument("plugin:" + std::string(name) + " create: " +
                                   (error[0] ? error : "failed without a message"));
  }
  return std::unique_ptr<AggregationRule>(new PluginRule(std::string(name), table, state));
}

}  // namespace tributary::aggregator
