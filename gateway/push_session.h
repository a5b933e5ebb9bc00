// PushSession: one update on its way into its shared-memory slot, whichever transport carries
// its bytes (ClientService.Push over gRPC, or a bulk connection, proto/bulk.h).
//
// Begin() authorizes the push and opens it (ControlPlane::BeginPush: the job, the round, the
// client, the size, a slot of the pool). The bytes then come into the slot through a
// SlotWriter: copied from a transport's own buffers (Append) or written by the transport itself
// (Unfilled(), then Filled()), each byte hashed while in cache and each float32 checked once.
// Finish() compares the checksum and commits; a session that ends any other way aborts its
// push, so its slot goes back to the pool and the client may push again.
// Not thread-safe: one transport drives a session. The control plane must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "gateway/control_plane.h"
#include "gateway/peer_identity.h"
#include "gateway/slot_writer.h"

namespace tributary::gateway {

class PushSession {
 public:
  explicit PushSession(ControlPlane* control);
  ~PushSession();
  PushSession(const PushSession&) = delete;
  PushSession& operator=(const PushSession&) = delete;

  // Opens the push `header` describes for the caller `peer`, who presented `token` (empty:
  // none). `operator_admitted`: the caller passed the operator checks, so it may set a job's
  // initial model (round 0) without having joined.
  Status Begin(const v1::UpdateHeader& header, std::string_view token, const PeerIdentity& peer,
               bool operator_admitted);

  // The update's bytes, as SlotWriter takes them. REQUIRES: begun().
  Status Append(const uint8_t* src, std::size_t n) { return writer_->Append(src, n); }
  std::span<std::byte> Unfilled() const { return writer_->Unfilled(); }
  Status Filled(std::size_t n) { return writer_->Filled(n); }

  // Checks that every declared byte came and that they hash to `checksum`, then commits.
  Result<v1::PushReply> Finish(uint64_t checksum);
  // Gives the slot back (no-op once committed or when nothing was begun).
  void Abort();

  bool begun() const { return begun_; }
  const v1::UpdateHeader& header() const { return header_; }
  std::size_t received() const { return writer_ ? writer_->received() : 0; }
  std::size_t expected() const { return ticket_.expected_bytes; }

 private:
  ControlPlane* control_;
  v1::UpdateHeader header_;
  PushTicket ticket_;
  bool begun_ = false;
  std::optional<SlotWriter> writer_;  // from Begin() on
};

}  // namespace tributary::gateway
