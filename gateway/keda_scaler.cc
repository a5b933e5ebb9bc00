#include "gateway/keda_scaler.h"

#include <charconv>
#include <cmath>
#include <mutex>
#include <optional>
#include <string>

#include "gateway/status_mapping.h"

namespace tributary::gateway {
namespace {

constexpr double kDefaultTargetPendingUpdates = 8;

// What one trigger asks about, from its metadata.
struct Trigger {
  std::optional<uint64_t> job;  // absent: every job
  std::string tier = "all";     // leaf | inner | all
  double target = kDefaultTargetPendingUpdates;

  std::string MetricName() const {
    return "tributary-pending-updates" + (job ? "-job-" + std::to_string(*job) : "") +
           (tier != "all" ? "-tier-" + tier : "");
  }
  uint64_t Pending(const JobLoad& l) const {
    if (tier == "leaf") return l.pending_updates;
    if (tier == "inner") return l.pending_partials;
    return l.pending_updates + l.pending_partials;
  }
};

Result<Trigger> ParseTrigger(const externalscaler::ScaledObjectRef& ref) {
  Trigger t;
  const auto& meta = ref.scalermetadata();
  if (auto it = meta.find("job"); it != meta.end()) {
    uint64_t id = 0;
    const auto& s = it->second;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
    if (ec != std::errc() || end != s.data() + s.size()) {
      return Status::InvalidArgument("trigger metadata job='" + s + "' is not a job id");
    }
    t.job = id;
  }
  if (auto it = meta.find("tier"); it != meta.end()) {
    if (it->second != "leaf" && it->second != "inner" && it->second != "all") {
      return Status::InvalidArgument("trigger metadata tier='" + it->second +
                                     "' must be leaf, inner or all");
    }
    t.tier = it->second;
  }
  if (auto it = meta.find("targetPendingUpdates"); it != meta.end()) {
    const auto& s = it->second;
    double target = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), target);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(target) ||
        target <= 0) {
      return Status::InvalidArgument("trigger metadata targetPendingUpdates='" + s +
                                     "' must be a number > 0");
    }
    t.target = target;
  }
  return t;
}

// The trigger's jobs summed: pending updates and whether any round is under way.
Result<JobLoad> LoadOf(const Trigger& t, const std::vector<JobLoad>& loads) {
  JobLoad sum;
  bool found = !t.job;
  for (const auto& l : loads) {
    if (t.job && l.job != *t.job) continue;
    found = true;
    sum.pending_updates += l.pending_updates;
    sum.pending_partials += l.pending_partials;
    sum.active |= l.active;
  }
  if (!found) return Status::NotFound("job " + std::to_string(*t.job) + " does not exist");
  return sum;
}

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const Status& s) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpc(s));
  return reactor;
}

// Writes the trigger's activity now and again whenever it changes, until cancelled.
class ActivityStream final : public grpc::ServerWriteReactor<externalscaler::IsActiveResponse> {
 public:
  ActivityStream(ControlPlane* control, const externalscaler::ScaledObjectRef& ref)
      : control_(control) {
    auto trigger = ParseTrigger(ref);
    Status bad = trigger.status();
    if (trigger) {
      trigger_ = *trigger;
      bad = LoadOf(trigger_, control_->Loads()).status();
    }
    std::lock_guard lock(mu_);
    if (!bad.ok()) {
      FinishLocked(bad);
      return;
    }
    // Delivers the current loads at once (the first write), inside this call.
    watch_ = control_->WatchLoads([this](const std::vector<JobLoad>& loads) { OnLoads(loads); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) return FinishLocked(Status::Cancelled("stream closed"));
    if (pending_ && *pending_ != *last_sent_) WriteLocked(*pending_);
    pending_.reset();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    FinishLocked(Status::Cancelled("stream cancelled by KEDA"));
  }

  void OnDone() override {
    if (watch_) control_->UnwatchLoads(watch_);
    delete this;
  }

 private:
  // Runs under the control plane's lock: only queues a write.
  void OnLoads(const std::vector<JobLoad>& loads) {
    std::lock_guard lock(mu_);
    OnLoadsLocked(loads);
  }

  void OnLoadsLocked(const std::vector<JobLoad>& loads) {
    if (finished_) return;
    auto load = LoadOf(trigger_, loads);
    const bool active = load && load->active;  // a job that vanished is not active
    if (writing_) {
      pending_ = active;
    } else if (!last_sent_ || *last_sent_ != active) {
      WriteLocked(active);
    }
  }

  void WriteLocked(bool active) {
    last_sent_ = active;
    message_.set_result(active);
    writing_ = true;
    StartWrite(&message_);
  }

  void FinishLocked(const Status& s) {
    if (finished_) return;
    finished_ = true;
    Finish(ToGrpc(s));
  }

  ControlPlane* control_;
  Trigger trigger_;
  uint64_t watch_ = 0;
  std::recursive_mutex mu_;  // OnLoads may run inside the constructor's WatchLoads call
  bool finished_ = false, writing_ = false;
  std::optional<bool> last_sent_, pending_;
  externalscaler::IsActiveResponse message_;
};

}  // namespace

grpc::ServerUnaryReactor* KedaScaler::IsActive(grpc::CallbackServerContext* ctx,
                                               const externalscaler::ScaledObjectRef* ref,
                                               externalscaler::IsActiveResponse* reply) {
  auto trigger = ParseTrigger(*ref);
  if (!trigger) return Done(ctx, trigger.error());
  auto load = LoadOf(*trigger, control_->Loads());
  if (!load) return Done(ctx, load.error());
  reply->set_result(load->active);
  return Done(ctx, Status::Ok());
}

grpc::ServerWriteReactor<externalscaler::IsActiveResponse>* KedaScaler::StreamIsActive(
    grpc::CallbackServerContext* ctx, const externalscaler::ScaledObjectRef* ref) {
  return new ActivityStream(control_, *ref);
}

grpc::ServerUnaryReactor* KedaScaler::GetMetricSpec(grpc::CallbackServerContext* ctx,
                                                    const externalscaler::ScaledObjectRef* ref,
                                                    externalscaler::GetMetricSpecResponse* reply) {
  auto trigger = ParseTrigger(*ref);
  if (!trigger) return Done(ctx, trigger.error());
  auto* spec = reply->add_metricspecs();
  spec->set_metricname(trigger->MetricName());
  spec->set_targetsizefloat(trigger->target);
  spec->set_targetsize(static_cast<int64_t>(std::ceil(trigger->target)));
  return Done(ctx, Status::Ok());
}

grpc::ServerUnaryReactor* KedaScaler::GetMetrics(grpc::CallbackServerContext* ctx,
                                                 const externalscaler::GetMetricsRequest* request,
                                                 externalscaler::GetMetricsResponse* reply) {
  auto trigger = ParseTrigger(request->scaledobjectref());
  if (!trigger) return Done(ctx, trigger.error());
  if (request->metricname() != trigger->MetricName()) {
    return Done(ctx, Status::NotFound("unknown metric '" + request->metricname() +
                                      "'; this trigger's metric is " + trigger->MetricName()));
  }
  auto load = LoadOf(*trigger, control_->Loads());
  if (!load) return Done(ctx, load.error());
  auto* value = reply->add_metricvalues();
  value->set_metricname(trigger->MetricName());
  const uint64_t pending = trigger->Pending(*load);
  value->set_metricvalue(static_cast<int64_t>(pending));
  value->set_metricvaluefloat(static_cast<double>(pending));
  return Done(ctx, Status::Ok());
}

}  // namespace tributary::gateway
