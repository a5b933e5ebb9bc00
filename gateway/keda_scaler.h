// KedaScaler: KEDA's external-scaler gRPC interface (externalscaler.ExternalScaler), served on
// the gateway's port, so a ScaledObject scales the aggregators from the platform's own queue
// depth rather than from CPU or request counts.
//
// The metric is the number of updates pending in the current round of the jobs a trigger
// names (see JobLoad): what the round still waits for while it is open, what it aggregates once
// closed. A trigger is active while any of those jobs has a round open or being aggregated;
// StreamIsActive (trigger type `external-push`) pushes the change the moment a round opens or
// the last one is published, instead of waiting for KEDA's next poll.
//
// Jobs aggregated in a tree (JobSpec.fan_in) have two tiers: `leaf` (the client updates above)
// and `inner` (partials of finished nodes that the middles and the top have still to fold), so
// each tier's aggregators can be scaled by a trigger of its own.
//
// Trigger metadata (ScaledObjectRef.scalerMetadata):
//   job                   a job id; absent: every job on this node
//   tier                  leaf | inner | all (default: all, their sum)
//   targetPendingUpdates  updates one aggregator replica should take (default 8, > 0)
// Metric names: "tributary-pending-updates", then "-job-ID" for one job, then "-tier-TIER" for
// one tier.
//
// Thread-safe; the control plane must outlive the service.
#pragma once

#include "externalscaler/externalscaler.grpc.pb.h"
#include "gateway/control_plane.h"

namespace tributary::gateway {

class KedaScaler final : public externalscaler::ExternalScaler::CallbackService {
 public:
  explicit KedaScaler(ControlPlane* control) : control_(control) {}

  grpc::ServerUnaryReactor* IsActive(grpc::CallbackServerContext* ctx,
                                     const externalscaler::ScaledObjectRef* ref,
                                     externalscaler::IsActiveResponse* reply) override;
  grpc::ServerWriteReactor<externalscaler::IsActiveResponse>* StreamIsActive(
      grpc::CallbackServerContext* ctx, const externalscaler::ScaledObjectRef* ref) override;
  grpc::ServerUnaryReactor* GetMetricSpec(grpc::CallbackServerContext* ctx,
                                          const externalscaler::ScaledObjectRef* ref,
                                          externalscaler::GetMetricSpecResponse* reply) override;
  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* ctx,
                                       const externalscaler::GetMetricsRequest* request,
                                       externalscaler::GetMetricsResponse* reply) override;

 private:
  ControlPlane* control_;
};

}  // namespace tributary::gateway
