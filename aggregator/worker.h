// The aggregator function: the main loop of one aggregator process.
//
// A worker connects to its node runtime over loopback TCP, announces itself with a HELLO
// descriptor, then sleeps in recv() until descriptors arrive (no polling: an idle worker uses
// no CPU). Each wakeup drains every queued frame. UPDATE folds the worker's shard of an update,
// read in place from the job's shared-memory pool, into the shard's rule; FINISH writes the
// shard's result into the output slot and answers DONE (or FAILED with the reason's code).
//
// Pools are opened on first use by name (prefix + job id) and dropped on JOB_ENDED. Between
// descriptors the process sleeps in recv() and uses no CPU. Single-threaded.
#pragma once

#include <cstdint>
#include <string>

namespace tributary::aggregator {

struct WorkerOptions {
  std::string host = "127.0.0.1";  // node runtime address
  int port = 0;                    // node runtime port (required)
  uint64_t instance = 0;           // instance id the runtime assigned (required)
  std::string pool_prefix;         // shm name of job J's pool is pool_prefix + J (required)
};

// Runs until the runtime closes the connection. Returns a process exit code.
int RunWorker(const WorkerOptions& options);

}  // namespace tributary::aggregator
