// ClientService: the gRPC API of FL clients (join, pull, push, tasks), served with the callback
// API.
//
// Push and Pull are raw-ByteBuffer methods: a pushed chunk is copied from gRPC's receive slices
// straight into the update's shared-memory slot (the one copy the platform makes), hashed and
// checked for non-finite values on the way (see push_session.h; Join names the node's bulk
// push port, where the kernel's copy puts the bytes in the slot and no other copy is made); a
// pulled model is sent as slices that point into shared memory, without any copy. Under mutual TLS
// every method first checks that the request's client_id is the caller's certificate identity (see
// peer_identity.h); Push, Pull and Tasks of a restricted job then check the call's access token
// (see client_credentials.h). Thread-safe; the control plane must outlive the service.
#pragma once

#include "gateway/control_plane.h"
#include "gateway/peer_identity.h"
#include "tributary/v1/client.grpc.pb.h"

namespace tributary::gateway {

inline constexpr std::size_t kMaxChunkBytes = 4u << 20;   // the API's chunk limit
inline constexpr std::size_t kPullChunkBytes = 1u << 20;  // chunk size of pulled models

class ClientServiceImpl final
    : public v1::ClientService::WithCallbackMethod_Join<
          v1::ClientService::WithRawCallbackMethod_Pull<
              v1::ClientService::WithRawCallbackMethod_Push<
                  v1::ClientService::WithCallbackMethod_Tasks<v1::ClientService::Service>>>> {
 public:
  // `bulk_port`: the node's bulk listener, which Join names to clients (0: none).
  ClientServiceImpl(ControlPlane* control, AccessPolicy policy = {}, uint32_t bulk_port = 0)
      : control_(control), policy_(std::move(policy)), bulk_port_(bulk_port) {}

  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* ctx, const v1::JoinRequest* request,
                                 v1::JoinReply* reply) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Pull(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request) override;
  grpc::ServerReadReactor<grpc::ByteBuffer>* Push(grpc::CallbackServerContext* ctx,
                                                  grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* Tasks(grpc::CallbackServerContext* ctx,
                                  const v1::TasksRequest* request,
                                  v1::TasksReply* reply) override;

 private:
  PeerIdentity Identity(grpc::CallbackServerContext* ctx) const;

  ControlPlane* control_;
  AccessPolicy policy_;
  uint32_t bulk_port_;
};

}  // namespace tributary::gateway
