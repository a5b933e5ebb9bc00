#include "cli/sim_reference.h"

#include "aggregator/rule_registry.h"
#include "clients/cpp/synthetic_update.h"

namespace tributary::cli {

Result<std::unique_ptr<RoundReference>> RoundReference::ForJob(const v1::JobSpec& spec,
                                                               uint64_t seed,
                                                               uint32_t first_round) {
  if (!spec.coding().scheme().empty()) {
    return Status::InvalidArgument("the job uses gradient coding (" + spec.coding().scheme() +
                                   "): its clients push coded task results, and sim's clients "
                                   "push plain updates");
  }
  std::unique_ptr<RoundReference> ref(new RoundReference(spec, seed));
  const std::string& rule = spec.rule();
  if (rule.empty() || rule == "fedavg") return ref;
  if (rule.starts_with("plugin:") || rule.starts_with("python:")) {
    ref->unverified_reason_ = "rule " + rule + " is user code, which sim does not run";
    return ref;
  }
  const aggregator::RuleParams params(spec.rule_params().begin(), spec.rule_params().end());
  TRIBUTARY_ASSIGN_OR_RETURN(ref->rule_, aggregator::CreateRule(rule, params));
  if (rule == "cclip" && first_round > 1) {
    // Its centre is the previous round's aggregate, which sim did not see.
    ref->unverified_reason_ = "rule cclip starts from the aggregate of round " +
                              std::to_string(first_round - 1) + ", before sim joined";
  }
  return ref;
}

Result<std::vector<double>> RoundReference::Expected(uint32_t round,
                                                     std::span<const uint64_t> clients,
                                                     std::span<const float> previous) {
  TRIBUTARY_ASSIGN_OR_RETURN(auto aggregate, Aggregate(round, clients));
  std::vector<double> model = *aggregate;
  if (spec_.update_kind() == v1::UPDATE_KIND_DELTA) {
    if (previous.size() != model.size()) {
      return Status::InvalidArgument("the previous model has " + std::to_string(previous.size()) +
                                     " values, the job " + std::to_string(model.size()));
    }
    const double rate = spec_.server_learning_rate();
    for (std::size_t i = 0; i < model.size(); ++i) model[i] = previous[i] + rate * model[i];
  }
  return model;
}

Result<std::shared_ptr<const std::vector<double>>> RoundReference::Aggregate(
    uint32_t round, std::span<const uint64_t> clients) {
  std::lock_guard lock(mu_);
  if (cached_ && cached_round_ == round) return cached_;
  const std::size_t params = spec_.params();
  auto aggregate = std::make_shared<std::vector<double>>(params, 0.0);
  if (!rule_) {
    const double total = client::AccumulateSyntheticAverage(seed_, clients, round, *aggregate);
    for (double& v : *aggregate) v /= total;
  } else {
    std::vector<float> updates(clients.size() * params);  // the views live until Finish()
    TRIBUTARY_RETURN_IF_ERROR(
        rule_->Begin({.round = round, .dim = params, .expected_updates = clients.size()}));
    for (std::size_t k = 0; k < clients.size(); ++k) {
      std::span<float> update(updates.data() + k * params, params);
      client::SyntheticUpdate(seed_, clients[k], round, update);
      TRIBUTARY_RETURN_IF_ERROR(rule_->Add(
          update, static_cast<double>(client::SyntheticExamples(seed_, clients[k], round))));
    }
    std::vector<float> out(params);
    TRIBUTARY_RETURN_IF_ERROR(rule_->Finish(out));
    std::copy(out.begin(), out.end(), aggregate->begin());
  }
  cached_round_ = round;
  cached_ = std::move(aggregate);
  return cached_;
}

}  // namespace tributary::cli
