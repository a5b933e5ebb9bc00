#include "gateway/push_session.h"

#include <algorithm>

#include "common/stream_copy.h"

namespace tributary::gateway {
namespace {

// Index of the first non-finite float32 in [data, data + n), or n.
std::size_t FirstNonFinite(const float* data, std::size_t n) {
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(data);
  constexpr std::size_t kBlock = 4096;
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t end = std::min(n, start + kBlock);
    uint32_t bad = 0;
    for (std::size_t i = start; i < end; ++i) bad |= ((bits[i] & 0x7f800000u) == 0x7f800000u);
    if (!bad) continue;
    for (std::size_t i = start; i < end; ++i) {
      if ((bits[i] & 0x7f800000u) == 0x7f800000u) return i;
    }
  }
  return n;
}

}  // namespace

PushSession::PushSession(ControlPlane* control) : control_(control) { XXH3_64bits_reset(&hash_); }

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
  return Status::Ok();
}

Status PushSession::Append(const uint8_t* src, std::size_t n) {
  if (received_ + n > ticket_.expected_bytes) {
    return Status::InvalidArgument("update stream carries more than the " +
                                   std::to_string(ticket_.expected_bytes) +
                                   " bytes its header declared");
  }
  XXH3_64bits_update(&hash_, src, n);  // while the source is hot in cache
  const bool flagged = StreamCopy(Unfilled().data(), src, n);
  received_ += n;
  // Unflagged, every float32 the copy touched was finite; flagged, look closer.
  if (!flagged) checked_ = received_ / sizeof(float) * sizeof(float);
  return CheckFinite();
}

std::span<std::byte> PushSession::Unfilled() {
  return ticket_.pool->Bytes(ticket_.slot.index).subspan(received_, expected() - received_);
}

Status PushSession::Filled(std::size_t n) {
  XXH3_64bits_update(&hash_, Unfilled().data(), n);  // just received: still in cache
  received_ += n;
  return CheckFinite();
}

Status PushSession::CheckFinite() {
  const std::size_t end = received_ / sizeof(float) * sizeof(float);
  if (end <= checked_) return Status::Ok();
  const auto* values =
      reinterpret_cast<const float*>(ticket_.pool->Bytes(ticket_.slot.index).data() + checked_);
  const std::size_t count = (end - checked_) / sizeof(float);
  if (std::size_t bad = FirstNonFinite(values, count); bad < count) {
    return Status::InvalidArgument("update value " +
                                   std::to_string(checked_ / sizeof(float) + bad) +
                                   " is not finite (NaN or Inf)");
  }
  checked_ = end;
  return Status::Ok();
}

Result<v1::PushReply> PushSession::Finish(uint64_t checksum) {
  if (received_ != ticket_.expected_bytes) {
    return Status::InvalidArgument("update stream was truncated: " + std::to_string(received_) +
                                   " of " + std::to_string(ticket_.expected_bytes) + " bytes");
  }
  ticket_.checksum = XXH3_64bits_digest(&hash_);
  if (ticket_.checksum != checksum) {
    return Status::DataLoss("update checksum does not match its bytes");
  }
  return control_->CommitPush(ticket_);
}

void PushSession::Abort() {
  if (begun_) control_->AbortPush(ticket_);  // no-op once committed
}

}  // namespace tributary::gateway
