// The BPF Router: descriptors are redirected inside the kernel by the sk_msg program of
// sk_msg_router.bpf.c, from the router's own sending socket to the socket of the routed
// aggregator instance, without passing through a userspace proxy.
//
// Create() loads the program, attaches it to the sockhash of instance sockets, and connects
// the sending socket (a loopback TCP pair whose peer collects any frame the program passes
// unrouted). Attach() takes a duplicate of the instance process's own socket (pidfd_getfd)
// into the sockhash, so redirected frames land on its receive queue; Route() writes the routing
// map; Send() is one 64-byte write on the sending socket. Counters come from the
// program's per-CPU map. Everything is detached and closed by the destructor. Requires root
// or CAP_BPF + CAP_NET_ADMIN; Create() fails with PERMISSION_DENIED otherwise, and callers
// fall back to the userspace router. Thread-safe.
#pragma once

#include <memory>

#include "common/result.h"
#include "ebpf/router.h"

namespace tributary::ebpf {

Result<std::unique_ptr<Router>> CreateBpfRouter();

}  // namespace tributary::ebpf
