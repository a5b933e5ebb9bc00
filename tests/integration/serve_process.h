// ServeProcess: a real `tributary serve` started by a test, on a free port (unless `extra_args`
// set --listen), with its own data directory and node id (unless `extra_args` set --node-id;
// on a data directory the test keeps, the same id for each serve started on it), and without a
// drain on SIGTERM unless `extra_args` set --drain-timeout-s; stopped with SIGTERM (or killed) by
// the destructor. The path of the tributary binary comes from the TRIBUTARY_BINARY compile
// definition.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clients/cpp/client.h"
#include "tributary/v1/operator.grpc.pb.h"

namespace tributary::testing {

// The value of an unlabelled sample in a /metrics text, or -1 when it is missing.
double MetricValue(const std::string& metrics, const std::string& name);

// Where a serve started by these tests keeps its POSIX pools (--shm-dir auto): the tmpfs with
// huge pages once a serve could mount it (as root), else /dev/shm.
std::string NodeShmDir();

class ServeProcess {
 public:
  // Starts serve with `extra_args` and waits until its port file appears. `prefix` runs before
  // the binary (a command that drops privileges, say). The tls_* files of `op_tls` secure op()'s
  // channel (default: plaintext). `data_dir`: serve's --data-dir, which the test owns and
  // keeps (a serve restarted on it resumes its jobs); empty: a fresh one, removed at the end.
  explicit ServeProcess(std::vector<std::string> extra_args = {},
                        std::vector<std::string> prefix = {},
                        const client::ClientOptions& op_tls = {}, std::string data_dir = {});
  ~ServeProcess();

  bool ok() const { return port_ > 0; }
  std::string target() const { return host_ + ":" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }  // its --data-dir
  // Waits up to `timeout` for serve to exit on its own; its wait status, or -1 on timeout.
  int WaitForExit(std::chrono::milliseconds timeout);
  // The /metrics text (serve must run with --metrics-listen 127.0.0.1:0); empty on failure.
  std::string Metrics() const;
  // Polls /metrics for up to 5 s until the unlabelled sample `name` equals `value`.
  bool AwaitMetric(const std::string& name, double value) const;
  // Process ids of the aggregator processes serve started (its children).
  std::vector<pid_t> Children() const;

  v1::OperatorService::Stub& op() { return *operator_; }
  // CreateJob with the essentials; returns the job id (0 on failure, with the error logged).
  uint64_t CreateJob(uint64_t params, uint32_t rounds, uint32_t clients_per_round,
                     uint32_t shards = 0, double deadline_s = 0, uint32_t min_clients = 0);
  // CreateJob with a whole spec (named "test" when it has no name).
  uint64_t CreateJob(v1::JobSpec spec);
  v1::JobInfo GetJob(uint64_t job);

  // The node id of the serves started on `data_dir`, a directory the test keeps.
  static std::string NodeIdOf(const std::string& data_dir);
  // Removes the pools and BPF pins of `node`, whose serve has ended.
  static void RemoveNodeState(const std::string& node);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string host_ = "127.0.0.1";  // of --listen, when extra_args set it
  std::string dir_;
  bool owns_dir_ = true;
  std::string node_;  // its --node-id, when the test gave one or this fixture chose it
  std::unique_ptr<v1::OperatorService::Stub> operator_;
};

// Removes `data_dir`, a data directory a test kept across serves, and what their node left
// (pools, BPF pins); the serves have ended.
void RemoveDataDir(const std::string& data_dir);

// Runs `tributary ARGS...` to completion; returns its exit status and fills `output` with
// stdout and stderr. `on_first_output` is called once, when the command's first bytes arrive.
int RunTributary(const std::vector<std::string>& args, std::string* output,
                 const std::function<void()>& on_first_output = {});

// The number on the last non-empty line of a command's output (`job create` prints the job id
// there); 0 when there is none.
uint64_t LastLineNumber(const std::string& output);

// Writes `values` to a fresh temporary version 1.0 .npy file of a float32 vector, as
// numpy.save writes it (`job create --initial-model`); returns its path.
std::string WriteNpy(const std::vector<float>& values);

}  // namespace tributary::testing
