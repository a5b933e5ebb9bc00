// The aggregator function: the main loop of one aggregator process.
//
// A worker connects to its node runtime over loopback TCP, announces itself with a HELLO
// descriptor, then sleeps in recv() until descriptors arrive (no polling: an idle worker uses
// no CPU). Each wakeup drains every queued frame. UPDATE folds the worker's shard of an update
// (or of a tree node's partial), read in place from the job's shared-memory pool, into the
// rule of its task lane; FINISH writes the round's result into the output slot and FLUSH a
// tree node's partial into its slot, each answered by DONE (or FAILED with the reason's code,
// its text left in the target slot). Any instance runs any task of any level: a leaf that
// flushed is ready to fold a middle's or the top's inputs next. User rules (`plugin:`, `python:`) run here, never in the
// gateway, so one that crashes takes down only this process.
//
// Pools are opened on first use by name (prefix + job id) and dropped on JOB_ENDED. Between
// descriptors the process sleeps in recv() and uses no CPU. Single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpu/device.h"

namespace tributary::aggregator {

struct WorkerOptions {
  std::string host = "127.0.0.1";  // node runtime address
  int port = 0;                    // node runtime port (required)
  uint64_t instance = 0;           // instance id the runtime assigned (required)
  std::string pool_prefix;         // shm name of job J's pool is pool_prefix + J (required)
  std::vector<std::string> rule_plugins;  // shared objects of `plugin:` rules, loaded at start
  std::vector<std::string> python_paths;  // put in front of sys.path for `python:` rules
  gpu::DeviceChoice device = gpu::DeviceChoice::kCpu;  // where fedavg and robust rules run
};

// Runs until the runtime closes the connection. Returns a process exit code.
int RunWorker(const WorkerOptions& options);

}  // namespace tributary::aggregator
