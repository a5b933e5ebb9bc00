// OperatorService: the gRPC API of operators (create, get, list, cancel and watch jobs),
// served with the callback API. Thread-safe; the control plane must outlive the service.
#pragma once

#include "gateway/control_plane.h"
#include "tributary/v1/operator.grpc.pb.h"

namespace tributary::gateway {

class OperatorServiceImpl final : public v1::OperatorService::CallbackService {
 public:
  explicit OperatorServiceImpl(ControlPlane* control) : control_(control) {}

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
  ControlPlane* control_;
};

}  // namespace tributary::gateway
