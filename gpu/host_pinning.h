// HostPinning: keeps a long-lived host region, such as a job's shared-memory slot pool, page-
// locked for the CUDA backend while the object lives.
//
// The CUDA rules stream updates to the device with asynchronous copies, which need page-locked
// memory; ChunkPipeline pins a round's buffers for the round when nobody did before, and that
// pinning costs about as much as the copies. An aggregator that reads a pool round after round
// pins the whole mapping once, when it first opens the pool, and each round's pinning is then
// a no-op. Pinning is best effort, as in cuda/host_registration.h: memory that cannot be locked
// stays pageable and still works.
//
// Thread safety: not thread-safe; one owner per object.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "gpu/device.h"

namespace tributary::gpu {

class HostPinning {
 public:
  // Pins `region` when the choice is not kCpu, this build has the CUDA backend, a device is
  // present and `rule` has a CUDA implementation; otherwise pins nothing (locked_bytes() 0).
  static std::unique_ptr<HostPinning> ForRule(DeviceChoice choice, std::string_view rule,
                                              std::span<const std::byte> region);
  ~HostPinning();
  HostPinning(const HostPinning&) = delete;
  HostPinning& operator=(const HostPinning&) = delete;

  std::size_t locked_bytes() const;

 private:
  struct Registration;
  explicit HostPinning(std::unique_ptr<Registration> registration);

  std::unique_ptr<Registration> registration_;
};

}  // namespace tributary::gpu
