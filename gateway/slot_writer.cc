#include "gateway/slot_writer.h"

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

SlotWriter::SlotWriter(std::string_view what, std::span<std::byte> slot)
    : what_(what), slot_(slot) {
  XXH3_64bits_reset(&hash_);
}

Status SlotWriter::Append(const void* src, std::size_t n) {
  if (n > expected() - received_) {
    return Status::InvalidArgument(what_ + " stream carries more than the " +
                                   std::to_string(expected()) + " bytes its header declared");
  }
  XXH3_64bits_update(&hash_, src, n);  // while the source is hot in cache
  const bool flagged = StreamCopy(Unfilled().data(), src, n);
  received_ += n;
  // Unflagged, every float32 the copy touched was finite; flagged, look closer.
  if (!flagged) checked_ = received_ / sizeof(float) * sizeof(float);
  return CheckFinite();
}

Status SlotWriter::Filled(std::size_t n) {
  XXH3_64bits_update(&hash_, Unfilled().data(), n);  // just received: still in cache
  received_ += n;
  return CheckFinite();
}

Status SlotWriter::CheckFinite() {
  const std::size_t end = received_ / sizeof(float) * sizeof(float);
  if (end <= checked_) return Status::Ok();
  const auto* values = reinterpret_cast<const float*>(slot_.data() + checked_);
  const std::size_t count = (end - checked_) / sizeof(float);
  if (std::size_t bad = FirstNonFinite(values, count); bad < count) {
    return Status::InvalidArgument(what_ + " value " +
                                   std::to_string(checked_ / sizeof(float) + bad) +
                                   " is not finite (NaN or Inf)");
  }
  checked_ = end;
  return Status::Ok();
}

Status SlotWriter::Verify(uint64_t checksum) const {
  if (received_ != expected()) {
    return Status::InvalidArgument(what_ + " stream was truncated: " + std::to_string(received_) +
                                   " of " + std::to_string(expected()) + " bytes");
  }
  if (Digest() != checksum) {
    return Status::DataLoss(what_ + " checksum does not match its bytes");
  }
  return Status::Ok();
}

}  // namespace tributary::gateway
