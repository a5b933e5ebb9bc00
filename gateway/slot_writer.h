// SlotWriter: the bytes of an update, a partial or a model arriving in pieces into their
// shared-memory slot, whichever transport carries them (a client's push over gRPC or the bulk
// port, a peer node's partial or model).
//
// The bytes come either from a transport's own buffers (Append: a streamed copy with the
// non-finite check fused in, common/stream_copy.h) or are written into the slot by the transport
// itself (Unfilled(), then Filled(): a socket's recv() straight into shared memory). Either way
// each byte is hashed (XXH3-64, seed 0) while it is still in cache and each float32 is checked
// once, so a NaN or Inf is refused as soon as it lands. Verify() then checks that every byte came
// and that they hash to the checksum the sender sent.
//
// Not thread-safe: one transport drives a writer. The slot must outlive it.
#pragma once

#define XXH_INLINE_ALL  // inlined and compiled for this CPU (AVX2), not the generic library build
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tributary::gateway {

class SlotWriter {
 public:
  // Fills `slot` (exactly the bytes expected); `what` names them in errors ("update", ...).
  SlotWriter(std::string_view what, std::span<std::byte> slot);
  SlotWriter(const SlotWriter&) = delete;
  SlotWriter& operator=(const SlotWriter&) = delete;

  // The next `n` bytes, copied from `src`. InvalidArgument past the slot's end or for a
  // non-finite float32.
  Status Append(const void* src, std::size_t n);
  // The part of the slot still to be written, for a transport that writes it itself; it then
  // reports how many bytes it wrote with Filled().
  std::span<std::byte> Unfilled() const { return slot_.subspan(received_); }
  Status Filled(std::size_t n);

  // OK when every byte came (InvalidArgument: truncated) and they hash to `checksum`
  // (DataLoss otherwise).
  Status Verify(uint64_t checksum) const;
  // The hash of the bytes received so far.
  uint64_t Digest() const { return XXH3_64bits_digest(&hash_); }

  std::size_t received() const { return received_; }
  std::size_t expected() const { return slot_.size(); }

 private:
  // Verifies the whole float32 values among the bytes received so far that are not yet
  // verified (from `checked_` on).
  Status CheckFinite();

  std::string what_;
  std::span<std::byte> slot_;
  std::size_t received_ = 0;
  std::size_t checked_ = 0;  // bytes whose float32 values are known to be finite
  XXH3_state_t hash_;
};

}  // namespace tributary::gateway
