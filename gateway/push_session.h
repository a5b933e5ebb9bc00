// PushSession: one update on its way into its shared-memory slot, whichever transport carries
// its bytes (ClientService.Push over gRPC, or a bulk connection, proto/bulk.h).
//
// Begin() authorizes the push and opens it (ControlPlane::BeginPush: the job, the round, the
// client, the size, a slot of the pool). The bytes then come either from a transport's own
// buffers (Append: a streamed copy with the non-finite check fused in) or are written into the
// slot by the transport itself (Unfilled(), then Filled(): a socket's recv() straight into
// shared memory). Either way each byte is hashed while it is still in cache and each float32
// is checked once. Finish() compares the checksum and commits; a session that ends any other
// way aborts its push, so its slot goes back to the pool and the client may push again.
// Not thread-safe: one transport drives a session. The control plane must outlive it.
#pragma once

#define XXH_INLINE_ALL  // inlined and compiled for this CPU (AVX2), not the generic library build
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "gateway/control_plane.h"
#include "gateway/peer_identity.h"

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

  // The next `n` bytes of the update, copied from `src`.
  Status Append(const uint8_t* src, std::size_t n);
  // The part of the slot still to be written, for a transport that writes it itself; it then
  // reports how many bytes it wrote with Filled().
  std::span<std::byte> Unfilled();
  Status Filled(std::size_t n);

  // Checks that every declared byte came and that they hash to `checksum`, then commits.
  Result<v1::PushReply> Finish(uint64_t checksum);
  // Gives the slot back (no-op once committed or when nothing was begun).
  void Abort();

  bool begun() const { return begun_; }
  const v1::UpdateHeader& header() const { return header_; }
  std::size_t received() const { return received_; }
  std::size_t expected() const { return ticket_.expected_bytes; }

 private:
  // Verifies the whole float32 values among the bytes received so far that are not yet
  // verified (from `checked_` on).
  Status CheckFinite();

  ControlPlane* control_;
  v1::UpdateHeader header_;
  PushTicket ticket_;
  bool begun_ = false;
  std::size_t received_ = 0;
  std::size_t checked_ = 0;  // bytes whose float32 values are known to be finite
  XXH3_state_t hash_;
};

}  // namespace tributary::gateway
