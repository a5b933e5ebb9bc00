#include "gateway/push_session.h"

namespace tributary::gateway {

PushSession::PushSession(ControlPlane* control) : control_(control) {}

PushSession::~PushSession() { Abort(); }

Status PushSession::Begin(const v1::UpdateHeader& header, std::string_view token,
                          const PeerIdentity& peer, bool operator_admitted) {
  if (begun_) return Status::InvalidArgument("a push carries exactly one UpdateHeader");
  header_ = header;
  TRIBUTARY_RETURN_IF_ERROR(peer.AllowsClient(header_.client_id()));
  // A job's initial model (round 0) is the operator's to set, or any admitted client's.
  if (header_.round() != 0 || !operator_admitted) {
    TRIBUTARY_RETURN_IF_ERROR(
        control_->AuthorizeClient(header_.job_id(), header_.client_id(), token));
  }
  TRIBUTARY_ASSIGN_OR_RETURN(ticket_, control_->BeginPush(header_));
  begun_ = true;
  writer_.emplace("update", ticket_.pool->Bytes(ticket_.slot.index).first(ticket_.expected_bytes));
  return Status::Ok();
}

Result<v1::PushReply> PushSession::Finish(uint64_t checksum) {
  TRIBUTARY_RETURN_IF_ERROR(writer_->Verify(checksum));
  ticket_.checksum = checksum;
  return control_->CommitPush(ticket_);
}

void PushSession::Abort() {
  if (begun_) control_->AbortPush(ticket_);  // no-op once committed
}

}  // namespace tributary::gateway
