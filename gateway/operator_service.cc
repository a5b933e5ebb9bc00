#include "gateway/operator_service.h"

#include <deque>
#include <mutex>

#include "gateway/status_mapping.h"

namespace tributary::gateway {
namespace {

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const Result<v1::JobInfo>& r,
                                v1::JobInfo* reply) {
  if (r) *reply = *r;
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpc(r.status()));
  return reactor;
}

bool IsTerminal(const v1::RoundEvent& e) {
  return e.kind() == v1::RoundEvent::JOB_COMPLETED || e.kind() == v1::RoundEvent::JOB_CANCELLED ||
         e.kind() == v1::RoundEvent::JOB_FAILED;
}

// Streams a job's round events as the control plane emits them, one write at a time; ends
// after a terminal event.
class WatchReactor final : public grpc::ServerWriteReactor<v1::RoundEvent> {
 public:
  WatchReactor(ControlPlane* control, uint64_t job) : control_(control), job_(job) {
    std::lock_guard lock(mu_);
    auto sub = control_->Subscribe(job, [this](const v1::RoundEvent& e) { Enqueue(e); });
    if (sub) {
      subscription_ = *sub;
    } else {
      FinishLocked(ToGrpc(sub.error()));
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) return FinishLocked(grpc::Status::CANCELLED);
    queue_.pop_front();
    WriteNextLocked();
  }

  void OnCancel() override {
    control_->Unsubscribe(job_, subscription_);
    std::lock_guard lock(mu_);
    if (!writing_) FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    control_->Unsubscribe(job_, subscription_);
    delete this;
  }

 private:
  void Enqueue(const v1::RoundEvent& e) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    queue_.push_back(e);
    if (!writing_) WriteNextLocked();
  }

  void WriteNextLocked() {
    if (finished_) return;
    if (queue_.empty()) {
      if (ended_) FinishLocked(grpc::Status::OK);
      return;
    }
    if (IsTerminal(queue_.front())) ended_ = true;
    writing_ = true;
    StartWrite(&queue_.front());
  }

  void FinishLocked(const grpc::Status& s) {
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }

  ControlPlane* control_;
  uint64_t job_;
  uint64_t subscription_ = 0;
  std::recursive_mutex mu_;  // Subscribe may deliver the first event inside the constructor
  std::deque<v1::RoundEvent> queue_;
  bool writing_ = false;
  bool ended_ = false;
  bool finished_ = false;
};

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx, const Status& s) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpc(s));
  return reactor;
}

// A watch refused before it starts.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::RoundEvent> {
 public:
  explicit RefusedWatch(const Status& s) { Finish(ToGrpc(s)); }
  void OnDone() override { delete this; }
};

}  // namespace

Status OperatorServiceImpl::Admit(grpc::CallbackServerContext* ctx) const {
  return AdmitOperator(*ctx, policy_);
}

grpc::ServerUnaryReactor* OperatorServiceImpl::CreateJob(grpc::CallbackServerContext* ctx,
                                                         const v1::JobSpec* spec,
                                                         v1::JobInfo* reply) {
  if (Status s = Admit(ctx); !s.ok()) return Refuse(ctx, s);
  return Reply(ctx, control_->CreateJob(*spec), reply);
}

grpc::ServerUnaryReactor* OperatorServiceImpl::GetJob(grpc::CallbackServerContext* ctx,
                                                      const v1::JobRef* ref, v1::JobInfo* reply) {
  if (Status s = Admit(ctx); !s.ok()) return Refuse(ctx, s);
  return Reply(ctx, control_->GetJob(ref->job_id()), reply);
}

grpc::ServerUnaryReactor* OperatorServiceImpl::ListJobs(grpc::CallbackServerContext* ctx,
                                                        const v1::ListJobsRequest*,
                                                        v1::ListJobsReply* reply) {
  if (Status s = Admit(ctx); !s.ok()) return Refuse(ctx, s);
  for (auto& info : control_->ListJobs()) *reply->add_jobs() = std::move(info);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* OperatorServiceImpl::CancelJob(grpc::CallbackServerContext* ctx,
                                                         const v1::JobRef* ref,
                                                         v1::JobInfo* reply) {
  if (Status s = Admit(ctx); !s.ok()) return Refuse(ctx, s);
  return Reply(ctx, control_->CancelJob(ref->job_id()), reply);
}

grpc::ServerWriteReactor<v1::RoundEvent>* OperatorServiceImpl::WatchJob(
    grpc::CallbackServerContext* ctx, const v1::JobRef* ref) {
  if (Status s = Admit(ctx); !s.ok()) return new RefusedWatch(s);
  return new WatchReactor(control_, ref->job_id());
}

}  // namespace tributary::gateway
