// The userspace Router: a hash lookup and a write of the 64-byte frame on the routed
// instance's loopback TCP socket. The fallback when BPF cannot be loaded; behaves exactly
// like the BPF router. Thread-safe.
#pragma once

#include <memory>

#include "ebpf/router.h"

namespace tributary::ebpf {

std::unique_ptr<Router> CreateUserspaceRouter();

}  // namespace tributary::ebpf
