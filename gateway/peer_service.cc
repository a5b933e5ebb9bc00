#include "gateway/peer_service.h"

#include "gateway/slot_writer.h"
#include "gateway/status_mapping.h"

namespace tributary::gateway {
namespace {

// Reads the data chunks of a transfer into its slot, every byte and no more, each float32
// finite, then the trailer whose checksum they must match.
template <typename Chunk>
Status ReadInto(grpc::ServerReader<Chunk>* reader, PeerTransfer& t, const char* what) {
  Chunk chunk;
  if (t.expected_bytes == 0) {  // the node accepted nothing: nothing follows the header
    if (reader->Read(&chunk)) {
      return Status::InvalidArgument(std::string(what) + " of no updates carries data");
    }
    return Status::Ok();
  }
  SlotWriter slot(what, t.pool->Bytes(t.slot.index).first(t.expected_bytes));
  while (reader->Read(&chunk)) {
    if (chunk.kind_case() == Chunk::kTrailer) {
      const uint64_t checksum = chunk.trailer().checksum();
      if (reader->Read(&chunk)) return Status::InvalidArgument("a message after the trailer");
      return slot.Verify(checksum);
    }
    if (chunk.kind_case() != Chunk::kData) {
      return Status::InvalidArgument("a second header in the stream");
    }
    TRIBUTARY_RETURN_IF_ERROR(slot.Append(chunk.data().data(), chunk.data().size()));
  }
  return Status::DataLoss(std::string(what) + " stream ended after " +
                          std::to_string(slot.received()) + " of " +
                          std::to_string(t.expected_bytes) + " bytes, without its trailer");
}

// Reads a partial or model stream: its header, which `describe` turns into the transfer to
// begin, then its data into the transfer's slot; commits it.
template <typename Chunk, typename Describe>
grpc::Status Transfer(ControlPlane* control, grpc::ServerReader<Chunk>* reader, const char* what,
                      Describe describe) {
  Chunk first;
  if (!reader->Read(&first) || !first.has_header()) {
    return ToGrpc(Status::InvalidArgument(std::string("a ") + what + " starts with its header"));
  }
  auto t = control->BeginPeerTransfer(describe(first.header()));
  if (!t) return ToGrpc(t.error());
  if (Status s = ReadInto(reader, *t, what); !s.ok()) {
    control->AbortPeerTransfer(*t);
    return ToGrpc(s);
  }
  return ToGrpc(control->CommitPeerTransfer(*t));
}

}  // namespace

grpc::Status PeerServiceImpl::CreateJob(grpc::ServerContext* ctx, const internal::PeerJob* request,
                                        internal::PeerAck*) {
  if (Status s = AdmitOperator(*ctx, policy_); !s.ok()) return ToGrpc(s);
  return ToGrpc(control_->CreateReplica(request->job_id(), request->spec()));
}

grpc::Status PeerServiceImpl::Progress(grpc::ServerContext* ctx,
                                       const internal::RoundProgress* request, internal::PeerAck*) {
  if (Status s = AdmitOperator(*ctx, policy_); !s.ok()) return ToGrpc(s);
  const auto& r = request->round();
  control_->OnPeerProgress(r.job_id(), r.round(), r.node(), request->accepted());
  return grpc::Status::OK;
}

grpc::Status PeerServiceImpl::CloseRound(grpc::ServerContext* ctx,
                                         const internal::RoundRef* request, internal::PeerAck*) {
  if (Status s = AdmitOperator(*ctx, policy_); !s.ok()) return ToGrpc(s);
  return ToGrpc(control_->OnPeerCloseRound(request->job_id(), request->round()));
}

grpc::Status PeerServiceImpl::PushPartial(grpc::ServerContext* ctx,
                                          grpc::ServerReader<internal::PartialChunk>* reader,
                                          internal::PeerAck*) {
  if (Status s = AdmitOperator(*ctx, policy_); !s.ok()) return ToGrpc(s);
  return Transfer(control_, reader, "partial", [](const internal::PartialChunk::Header& h) {
    return PeerTransfer{.job = h.round().job_id(),
                        .round = h.round().round(),
                        .node = h.round().node(),
                        .updates = h.updates(),
                        .weight = h.weight(),
                        .expected_bytes = h.total_bytes()};
  });
}

grpc::Status PeerServiceImpl::PublishModel(grpc::ServerContext* ctx,
                                           grpc::ServerReader<internal::ModelChunk>* reader,
                                           internal::PeerAck*) {
  if (Status s = AdmitOperator(*ctx, policy_); !s.ok()) return ToGrpc(s);
  return Transfer(control_, reader, "model", [](const internal::ModelChunk::Header& h) {
    return PeerTransfer{.job = h.version().job_id(),
                        .round = h.version().round(),
                        .node = h.version().node(),
                        .updates = h.updates(),
                        .model = true,
                        .expected_bytes = h.total_bytes()};
  });
}

grpc::Status PeerServiceImpl::Place(grpc::ServerContext* ctx, const internal::PlaceRequest* request,
                                    internal::PlaceReply* reply) {
  if (Status s = AdmitOperator(*ctx, policy_); !s.ok()) return ToGrpc(s);
  auto node = control_->PlaceClient(request->job_id(), request->client_id(), request->node());
  if (!node) return ToGrpc(node.error());
  reply->set_node(*node);
  return grpc::Status::OK;
}

grpc::Status PeerServiceImpl::CancelJob(grpc::ServerContext* ctx, const internal::RoundRef* request,
                                        internal::PeerAck*) {
  if (Status s = AdmitOperator(*ctx, policy_); !s.ok()) return ToGrpc(s);
  return ToGrpc(control_->CancelJob(request->job_id(), /*from_peer=*/true).status());
}

}  // namespace tributary::gateway
