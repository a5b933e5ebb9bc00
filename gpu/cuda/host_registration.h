// HostRegistration: page-locks the caller's host buffers (cudaHostRegister) for as long as the
// object lives, so that copies to and from them run asynchronously at full PCIe/NVLink speed
// without an extra staging copy.
//
// Ranges are widened to whole pages and merged first: the rows of one .npy matrix, or the
// slots of one shared-memory pool, share pages at their edges, and CUDA refuses to register a
// page twice. A range that is locked already (gpu/host_pinning.h) is left as it is.
// Registration is best effort: memory CUDA cannot lock (partly registered by someone else, or
// locked-memory limits) stays pageable and copies from it still work, only without overlap. REQUIRES: the buffers outlive the object and are not freed while it lives.
//
// Thread safety: not thread-safe; one object per call that streams the buffers.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace tributary::gpu::cuda {

// Whether CUDA holds [data, data + bytes) page-locked already (registered by an owner that
// outlives the caller, or allocated with cudaMallocHost): its first and last byte tell.
bool IsPageLocked(const void* data, std::size_t bytes);

class HostRegistration {
 public:
  // Each range is (start, bytes).
  explicit HostRegistration(std::span<const std::pair<const void*, std::size_t>> ranges);
  ~HostRegistration();
  HostRegistration(const HostRegistration&) = delete;
  HostRegistration& operator=(const HostRegistration&) = delete;

  // Bytes page-locked (0 when CUDA refused every range).
  std::size_t locked_bytes() const { return locked_bytes_; }

 private:
  std::vector<void*> registered_;
  std::size_t locked_bytes_ = 0;
};

}  // namespace tributary::gpu::cuda
