// The BPF Router: descriptors are redirected inside the kernel by the sk_msg program of
// sk_msg_router.bpf.c, from the router's own sending socket to the socket of the routed
// aggregator instance, without passing through a userspace proxy.
//
// Create() loads the program, attaches it to the sockhash of instance sockets, and connects
// the sending socket (a loopback TCP pair whose peer collects any frame the program passes
// unrouted). Attach() takes a duplicate of the instance process's own socket (pidfd_getfd)
// into the sockhash, so redirected frames land on its receive queue; Route() writes the routing
// map; Send() is one 64-byte write on the sending socket. Counters come from the
// program's per-CPU map, which is also pinned (with the other maps) under a per-node bpffs
// directory, mode 0600, for tools and other processes of the node (`bpftool map dump pinned
// ...`). Pins left by a run that crashed are replaced at creation. Everything is detached,
// unpinned and closed by the destructor. Requires root
// or CAP_BPF + CAP_NET_ADMIN; Create() fails with PERMISSION_DENIED otherwise, and callers
// fall back to the userspace router. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "ebpf/router.h"

namespace tributary::ebpf {

struct BpfRouterOptions {
  // bpffs directory for the pinned maps (created 0700, mounted at /sys/fs/bpf if missing);
  // empty: no pins. Default: empty.
  std::string pin_dir;
};

Result<std::unique_ptr<Router>> CreateBpfRouter(const BpfRouterOptions& options = {});

}  // namespace tributary::ebpf
