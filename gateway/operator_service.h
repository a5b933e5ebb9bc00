// OperatorService: the gRPC API of operators (create, get, list, cancel and watch jobs),
// served with the callback API. Under mutual TLS only callers whose certificate identity is
// listed in AccessPolicy::operators are served; others get PERMISSION_DENIED. With an operator
// token every call must carry it as `authorization: Bearer TOKEN` (UNAUTHENTICATED otherwise).
// Thread-safe; the control plane must outlive the service.
#pragma once

#include "gateway/control_plane.h"
#include "gateway/peer_identity.h"
#include "tributary/v1/operator.grpc.pb.h"

namespace tributary::gateway {

class OperatorServiceImpl final : public v1::OperatorService::CallbackService {
 public:
  OperatorServiceImpl(ControlPlane* control, AccessPolicy policy = {})
      : control_(control), policy_(std::move(policy)) {}

  grpc::ServerUnaryReactor* CreateJob(grpc::CallbackServerContext* ctx, const v1::JobSpec* spec,
                                      v1::JobInfo* reply) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx, const v1::JobRef* ref,
                                   v1::JobInfo* reply) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsReply* reply) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx, const v1::JobRef* ref,
                                      v1::JobInfo* reply) override;
  grpc::ServerWriteReactor<v1::RoundEvent>* WatchJob(grpc::CallbackServerContext* ctx,
                                                     const v1::JobRef* ref) override;

 private:
  // OK when the caller of `ctx` may use the operator service.
  Status Admit(grpc::CallbackServerContext* ctx) const;

  ControlPlane* control_;
  AccessPolicy policy_;
};

}  // namespace tributary::gateway
