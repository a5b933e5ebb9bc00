// Router: moves descriptors from the gateway to the aggregator function chosen for them.
//
// The control plane decides where each (job, round, shard) goes with Route(), and the data
// path calls Send() for each descriptor; the router delivers it to the socket of the routed
// instance. Two implementations share this interface: the BPF router (an sk_msg program
// redirecting inside the kernel) and the userspace router (a lookup and a write on loopback
// TCP). Counters are the per-instance metrics a sidecar would have collected.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "shm/descriptor.h"

namespace tributary::ebpf {

using InstanceId = uint64_t;

struct RouteKey {
  uint64_t job = 0;
  uint32_t round = 0;
  uint32_t shard = 0;
  bool operator==(const RouteKey&) const = default;
};

// How a router reaches an instance: the node's end of the instance's loopback TCP connection,
// and where the instance's own end lives (its process and fd number there), for routers that
// deliver straight into the instance's receive queue.
struct InstanceSocket {
  int fd = -1;               // the node's end (accepted by the node runtime)
  pid_t pid = -1;            // the instance process
  int fd_in_instance = -1;   // the instance's end, as numbered in that process
};

struct InstanceCounters {
  InstanceId instance = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t last_seen_ns = 0;  // CLOCK_MONOTONIC of the last delivery
};

class Router {
 public:
  virtual ~Router() = default;

  // "userspace" or "bpf".
  virtual std::string_view Kind() const = 0;
  // Registers how `instance` receives descriptors. The router keeps its own duplicate of the
  // socket it uses until Detach.
  virtual Status Attach(InstanceId instance, const InstanceSocket& socket) = 0;
  // Forgets an instance and every route to it.
  virtual Status Detach(InstanceId instance) = 0;
  // Sends descriptors for `key` to `instance` from now on (replacing an earlier route).
  virtual Status Route(const RouteKey& key, InstanceId instance) = 0;
  virtual Status Unroute(const RouteKey& key) = 0;
  // Delivers `d` to the instance routed for (d.job, d.round, d.shard). NOT_FOUND when there is
  // no route, UNAVAILABLE when the instance's socket is gone.
  virtual Status Send(const shm::Descriptor& d) = 0;
  virtual std::vector<InstanceCounters> Counters() const = 0;
  // Descriptors that reached no instance: no route, or (BPF) a frame the program passed.
  virtual uint64_t Undelivered() const = 0;
};

}  // namespace tributary::ebpf
