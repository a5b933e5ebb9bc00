#include "gateway/client_service.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <mutex>

#include "gateway/client_credentials.h"
#include "gateway/push_session.h"
#include "gateway/status_mapping.h"
#include "proto/wire_format.h"

namespace tributary::gateway {
namespace {

template <typename Message>
bool ParseMessage(const grpc::ByteBuffer& buffer, Message* out) {
  grpc::ByteBuffer copy(buffer);  // shares the slices; Deserialize consumes its argument
  return grpc::SerializationTraits<Message>::Deserialize(&copy, out).ok();
}

// One update streaming in: header, then chunks copied into the slot by a PushSession, then,
// where the header announced it, a trailer with the checksum.
class PushReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  PushReactor(ControlPlane* control, grpc::CallbackServerContext* ctx, PeerIdentity peer,
              const AccessPolicy* policy, grpc::ByteBuffer* reply)
      : session_(control), ctx_(ctx), peer_(std::move(peer)), policy_(policy), reply_(reply) {
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Complete();
      return;
    }
    Status s = !session_.begun() ? OnHeader()
               : have_trailer_   ? Status::InvalidArgument("nothing may follow the UpdateTrailer")
                                 : OnChunk();
    if (!s.ok()) {
      Fail(s);
      return;
    }
    message_.Clear();
    StartRead(&message_);
  }

  void OnDone() override { delete this; }  // the session aborts a push not committed

 private:
  Status OnHeader() {
    std::vector<grpc::Slice> slices;
    if (!message_.Dump(&slices).ok()) return Status::InvalidArgument("unreadable message");
    if (proto::FirstByte(slices) != proto::kHeaderTag) {
      return Status::InvalidArgument("the first message of a push must be its UpdateHeader");
    }
    v1::PushMessage msg;
    if (!ParseMessage(message_, &msg) || !msg.has_header()) {
      return Status::InvalidArgument("malformed UpdateHeader");
    }
    const v1::UpdateHeader& h = msg.header();
    TRIBUTARY_RETURN_IF_ERROR(session_.Begin(
        h, BearerToken(*ctx_), peer_, h.round() == 0 && AdmitOperator(*ctx_, *policy_).ok()));
    declared_checksum_ = h.checksum();  // replaced by the trailer's, where one comes
    return Status::Ok();
  }

  Status OnChunk() {
    std::vector<grpc::Slice> slices;
    if (!message_.Dump(&slices).ok()) return Status::InvalidArgument("unreadable message");
    const uint8_t tag = proto::FirstByte(slices);
    if (tag == proto::kHeaderTag) {
      return Status::InvalidArgument("a push carries exactly one UpdateHeader");
    }
    if (tag == proto::kTrailerTag) return OnTrailer();
    TRIBUTARY_ASSIGN_OR_RETURN(proto::ChunkPayload chunk, proto::ParseChunk(slices));
    if (chunk.length > kMaxChunkBytes) {
      return Status::InvalidArgument("chunk of " + std::to_string(chunk.length) +
                                     " bytes exceeds the 4 MiB limit");
    }
    if (chunk.length % sizeof(float) != 0) {
      return Status::InvalidArgument("chunk of " + std::to_string(chunk.length) +
                                     " bytes is not a whole number of float32 values");
    }
    std::size_t left = chunk.length;
    for (std::size_t i = chunk.slice; left > 0 && i < slices.size(); ++i) {
      const uint8_t* src = slices[i].begin() + (i == chunk.slice ? chunk.offset : 0);
      const std::size_t n = std::min(left, static_cast<std::size_t>(slices[i].end() - src));
      TRIBUTARY_RETURN_IF_ERROR(session_.Append(src, n));
      left -= n;
    }
    return Status::Ok();
  }

  Status OnTrailer() {
    if (!session_.header().checksum_in_trailer()) {
      return Status::InvalidArgument(
          "an UpdateTrailer came, but the UpdateHeader did not set checksum_in_trailer");
    }
    v1::PushMessage msg;
    if (!ParseMessage(message_, &msg) || !msg.has_trailer()) {
      return Status::InvalidArgument("malformed UpdateTrailer");
    }
    declared_checksum_ = msg.trailer().checksum();
    have_trailer_ = true;
    return Status::Ok();
  }

  void Complete() {
    if (ctx_->IsCancelled()) return Fail(Status::Cancelled("push cancelled by the client"));
    if (!session_.begun()) {
      return Fail(Status::InvalidArgument("push stream ended before its header"));
    }
    if (session_.received() == session_.expected() && session_.header().checksum_in_trailer() &&
        !have_trailer_) {
      return Fail(Status::InvalidArgument(
          "push stream ended without the UpdateTrailer its header announced"));
    }
    auto reply = session_.Finish(declared_checksum_);
    if (!reply) return Fail(reply.error());
    bool own = false;
    grpc::SerializationTraits<v1::PushReply>::Serialize(*reply, reply_, &own);
    Finish(grpc::Status::OK);
  }

  void Fail(const Status& s) {
    session_.Abort();
    spdlog::debug("push from '{}' refused: {}", session_.header().client_id(), s.ToString());
    Finish(ToGrpc(s));
  }

  PushSession session_;
  grpc::CallbackServerContext* ctx_;
  PeerIdentity peer_;
  const AccessPolicy* policy_;
  grpc::ByteBuffer* reply_;
  grpc::ByteBuffer message_;
  bool have_trailer_ = false;
  uint64_t declared_checksum_ = 0;  // from the header, or from the trailer where it announced one
};

// One model streaming out of shared memory, possibly after waiting for it to be published (its
// checksum then trails the chunks where the node was still hashing it: ModelChecksum).
class PullReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  PullReactor(ControlPlane* control, const PeerIdentity& peer, std::string_view token,
              const grpc::ByteBuffer* request)
      : control_(control) {
    v1::PullRequest req;
    if (!ParseMessage(*request, &req)) {
      FinishOnce(Status::InvalidArgument("malformed PullRequest"));
      return;
    }
    Status allowed = peer.AllowsClient(req.client_id());
    if (allowed.ok()) allowed = control_->AuthorizeClient(req.job_id(), req.client_id(), token);
    if (allowed.ok()) allowed = control_->BeginPull();
    if (!allowed.ok()) {
      FinishOnce(allowed);
      return;
    }
    counted_ = true;
    job_ = req.job_id();
    std::lock_guard lock(mu_);
    waiter_ = control_->PullModel(req.job_id(), req.version(), req.wait(),
                                  [this](Result<ModelRef> model) { OnModel(std::move(model)); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    if (!ok) return FinishLocked(Status::Cancelled("pull cancelled"));
    WriteNextLocked();
  }

  void OnCancel() override {
    control_->CancelPull(job_, waiter_);
    std::lock_guard lock(mu_);
    if (!writing_) FinishLocked(Status::Cancelled("pull cancelled by the client"));
  }

  void OnDone() override {
    control_->ReleaseModel(model_);
    if (counted_) control_->EndPull();
    delete this;
  }

 private:
  // Runs under the control plane's lock, possibly inside the constructor.
  void OnModel(Result<ModelRef> model) {
    std::lock_guard lock(mu_);
    if (finished_) {
      if (model) control_->ReleaseModel(*model);
      return;
    }
    if (!model) return FinishLocked(model.error());
    model_ = std::move(*model);
    writing_ = true;
    v1::PullMessage msg;
    *msg.mutable_header() = ModelHeaderOf(model_);
    bool own = false;
    grpc::SerializationTraits<v1::PullMessage>::Serialize(msg, &out_, &own);
    StartWrite(&out_);
  }

  void WriteNextLocked() {
    if (sent_ >= model_.bytes && model_.hashing && !trailed_) {
      trailed_ = true;
      v1::PullMessage msg;
      msg.mutable_trailer()->set_checksum(model_.hashing->Wait());
      bool own = false;
      grpc::SerializationTraits<v1::PullMessage>::Serialize(msg, &out_, &own);
      return StartWrite(&out_);
    }
    if (sent_ >= model_.bytes) return FinishLocked(Status::Ok());
    const std::size_t n = std::min(kPullChunkBytes, model_.bytes - sent_);
    out_ = proto::ChunkMessage(model_.pool->Bytes(model_.slot.index).data() + sent_, n);
    sent_ += n;
    StartWrite(&out_);
  }

  void FinishOnce(const Status& s) {
    std::lock_guard lock(mu_);
    FinishLocked(s);
  }

  void FinishLocked(const Status& s) {
    if (finished_) return;
    finished_ = true;
    Finish(ToGrpc(s));
  }

  ControlPlane* control_;
  // Recursive: OnModel may run inside the constructor (model already published) while the
  // constructor holds the lock, or later on the thread that published it.
  std::recursive_mutex mu_;
  bool finished_ = false;
  bool writing_ = false;
  bool counted_ = false;  // BeginPull admitted it
  uint64_t job_ = 0;
  uint64_t waiter_ = 0;
  ModelRef model_;
  std::size_t sent_ = 0;
  bool trailed_ = false;  // the ModelTrailer went out (a model still being hashed)
  grpc::ByteBuffer out_;
};

// A worker's mini-tasks in a round of a sequentially coded job, possibly after waiting for the
// round to open.
class TasksReactor final : public grpc::ServerUnaryReactor {
 public:
  TasksReactor(ControlPlane* control, const v1::TasksRequest* request, v1::TasksReply* reply)
      : control_(control), reply_(reply), job_(request->job_id()) {
    std::lock_guard lock(mu_);
    waiter_ = control_->AwaitTasks(job_, request->client_id(), request->round(), request->wait(),
                                   [this](Result<v1::TasksReply> r) { OnTasks(std::move(r)); });
  }

  void OnCancel() override {
    control_->CancelTasks(job_, waiter_);
    std::lock_guard lock(mu_);
    FinishLocked(Status::Cancelled("tasks request cancelled by the client"));
  }

  void OnDone() override { delete this; }

 private:
  // Runs under the control plane's lock, possibly inside the constructor.
  void OnTasks(Result<v1::TasksReply> tasks) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    if (tasks) *reply_ = std::move(*tasks);
    FinishLocked(tasks.status());
  }

  void FinishLocked(const Status& s) {
    if (finished_) return;
    finished_ = true;
    Finish(ToGrpc(s));
  }

  ControlPlane* control_;
  v1::TasksReply* reply_;
  uint64_t job_;
  uint64_t waiter_ = 0;
  std::recursive_mutex mu_;  // OnTasks may run inside the constructor
  bool finished_ = false;
};

}  // namespace

PeerIdentity ClientServiceImpl::Identity(grpc::CallbackServerContext* ctx) const {
  return PeerIdentity::Of(*ctx, policy_.mutual_tls);
}

grpc::ServerUnaryReactor* ClientServiceImpl::Join(grpc::CallbackServerContext* ctx,
                                                  const v1::JoinRequest* request,
                                                  v1::JoinReply* reply) {
  auto* reactor = ctx->DefaultReactor();
  if (Status allowed = Identity(ctx).AllowsClient(request->client_id()); !allowed.ok()) {
    reactor->Finish(ToGrpc(allowed));
    return reactor;
  }
  auto joined = control_->Join(request->job_id(), request->client_id(), request->enrolment_token());
  if (joined) {
    *reply = std::move(*joined);
    reply->set_max_chunk_bytes(kMaxChunkBytes);
    reply->set_bulk_port(bulk_port_);
  }
  reactor->Finish(ToGrpc(joined.status()));
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ClientServiceImpl::Pull(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) {
  return new PullReactor(control_, Identity(ctx), BearerToken(*ctx), request);
}

grpc::ServerReadReactor<grpc::ByteBuffer>* ClientServiceImpl::Push(grpc::CallbackServerContext* ctx,
                                                                   grpc::ByteBuffer* reply) {
  return new PushReactor(control_, ctx, Identity(ctx), &policy_, reply);
}

grpc::ServerUnaryReactor* ClientServiceImpl::Tasks(grpc::CallbackServerContext* ctx,
                                                   const v1::TasksRequest* request,
                                                   v1::TasksReply* reply) {
  Status allowed = Identity(ctx).AllowsClient(request->client_id());
  if (allowed.ok()) {
    allowed = control_->AuthorizeClient(request->job_id(), request->client_id(), BearerToken(*ctx));
  }
  if (!allowed.ok()) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(ToGrpc(allowed));
    return reactor;
  }
  return new TasksReactor(control_, request, reply);
}

}  // namespace tributary::gateway
