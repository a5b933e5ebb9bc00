// NodeRuntime: the warm pool of aggregator function processes on one node.
//
// Starts `instances` aggregator processes (the `tributary aggregator-worker` command), accepts
// their loopback TCP connections, checks their HELLO, and attaches each socket to the Router so
// that descriptors reach them. One event thread sleeps in epoll on every instance socket:
// replies (DONE, FAILED) are handed to the owner's callback; an instance whose socket closes
// (exit, crash, SIGKILL) is reaped, detached, reported as lost with its pid (so the owner can
// reclaim its shared-memory references and re-route its work) and replaced by a new process.
// ScaleTo changes the pool's size, down to zero.
//
// Lifetime: the Router must outlive the runtime. The destructor closes every connection,
// which makes the workers exit, and reaps them. Thread safety: public methods may be called
// from any thread; callbacks run on the event thread and may call back into the runtime.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "ebpf/router.h"
#include "shm/descriptor.h"

namespace tributary::runtime {

struct NodeRuntimeOptions {
  // Program and leading arguments of an aggregator process; the runtime appends
  // --port P --instance I --pool-prefix X. Required.
  std::vector<std::string> worker_argv;
  uint32_t instances = 2;     // warm pool size (default: one per core, chosen by the caller)
  std::string pool_prefix;    // passed to workers: shm name of job J is pool_prefix + J
  std::chrono::milliseconds start_timeout{15000};  // for every instance to say HELLO
};

struct RuntimeCallbacks {
  std::function<void(const shm::Descriptor&)> on_reply;       // DONE / FAILED from a worker
  // The instance, its pid, and how it ended ("killed by signal 9 (Killed)").
  std::function<void(ebpf::InstanceId, pid_t, const std::string&)> on_instance_lost;
  std::function<void(ebpf::InstanceId)> on_instance_ready;    // a replacement came up
};

class NodeRuntime {
 public:
  static Result<std::unique_ptr<NodeRuntime>> Start(const NodeRuntimeOptions& options,
                                                    ebpf::Router* router,
                                                    RuntimeCallbacks callbacks);
  ~NodeRuntime();
  NodeRuntime(const NodeRuntime&) = delete;
  NodeRuntime& operator=(const NodeRuntime&) = delete;

  // Instances attached and alive, in start order.
  std::vector<ebpf::InstanceId> LiveInstances() const;
  // Process id of a live instance, or -1.
  pid_t PidOf(ebpf::InstanceId instance) const;
  // Aggregator processes started so far (the warm pool plus replacements).
  uint64_t processes_started() const;
  // Writes `d` to every live instance on its connection (not through the router).
  void Broadcast(const shm::Descriptor& d);
  // Keeps `instances` processes from now on: starts the missing ones, or retires live ones
  // (detached from the router and their connection closed, so they exit; not reported lost,
  // not replaced). 0 scales the pool to zero.
  void ScaleTo(uint32_t instances);

 private:
  class Impl;
  explicit NodeRuntime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::runtime
