// PeerServiceImpl: the internal node API (proto/tributary/internal/peer.proto) that the other
// members of a group (serve --peers) call: job replicas, round progress and closes, and the
// partials and models streamed between a job's home and the other nodes, written straight
// into slots of the job's pool. Callers are admitted as operators (the node's operator token).
//
// Synchronous gRPC service; the control plane must outlive it.
#pragma once

#include "gateway/control_plane.h"
#include "gateway/peer_identity.h"
#include "tributary/internal/peer.grpc.pb.h"

namespace tributary::gateway {

class PeerServiceImpl final : public internal::PeerService::Service {
 public:
  PeerServiceImpl(ControlPlane* control, AccessPolicy policy)
      : control_(control), policy_(std::move(policy)) {}

  grpc::Status CreateJob(grpc::ServerContext* ctx, const internal::PeerJob* request,
                         internal::PeerAck* reply) override;
  grpc::Status Progress(grpc::ServerContext* ctx, const internal::RoundProgress* request,
                        internal::PeerAck* reply) override;
  grpc::Status CloseRound(grpc::ServerContext* ctx, const internal::RoundRef* request,
                          internal::PeerAck* reply) override;
  grpc::Status PushPartial(grpc::ServerContext* ctx,
                           grpc::ServerReader<internal::PartialChunk>* reader,
                           internal::PeerAck* reply) override;
  grpc::Status PublishModel(grpc::ServerContext* ctx,
                            grpc::ServerReader<internal::ModelChunk>* reader,
                            internal::PeerAck* reply) override;
  grpc::Status Place(grpc::ServerContext* ctx, const internal::PlaceRequest* request,
                     internal::PlaceReply* reply) override;
  grpc::Status CancelJob(grpc::ServerContext* ctx, const internal::RoundRef* request,
                         internal::PeerAck* reply) override;

 private:
  ControlPlane* control_;
  AccessPolicy policy_;
};

}  // namespace tributary::gateway
