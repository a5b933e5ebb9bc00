// The C++ SDK of Tributary: what an FL client links to join a job, pull global models and push
// its updates.
//
// Updates and models travel as streams of raw chunks (no protobuf copy of the payload): a push
// sends a header and then slices that point into the caller's buffer; a pull writes the
// received chunks straight into the caller's vector and verifies the model's checksum. Where
// the node offers a bulk port (plaintext nodes do, see ClientOptions::use_bulk_port), pushes
// and pulls of a joined job go over a plain TCP connection instead: the node receives the
// caller's buffer straight into shared memory and sends a model straight from it, which the
// Client receives straight into the caller's vector.
// Calls that fail with UNAVAILABLE or RESOURCE_EXHAUSTED (server busy, pool full) are retried
// with exponential backoff and jitter; every other error is returned at once.
//
// TLS: set tls_ca_file (the gateway's CA) to connect over TLS, and tls_cert_file with
// tls_key_file to present a client certificate (mutual TLS; its CN must equal client_id).
// Restricted jobs (JobAccess): Join presents options.enrolment_token and keeps the access token
// it returns, which the Client then sends with every Push, Pull and Tasks call of that job.
//
// Thread safety: a Client may be used from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "tributary/v1/client.pb.h"

namespace grpc {
class Channel;
}

namespace tributary::client {

class BulkClient;

struct ClientOptions {
  std::string target;                   // HOST:PORT of a gateway (required)
  std::string client_id;                // this client's id within its jobs (required)
  int max_attempts = 8;                 // per call, first try included
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  std::size_t chunk_bytes = 1u << 20;   // push chunk size, at most 4 MiB
  std::chrono::seconds call_timeout{600};  // deadline of one attempt
  // PEM files; all empty (default): plaintext. Any set: TLS, verifying the gateway against
  // tls_ca_file (empty: the system's roots); tls_cert_file and tls_key_file, together, are this
  // client's certificate for mutual TLS.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string enrolment_token;  // presented by Join to jobs that have one (see JobAccess)
  // Sent as `authorization: Bearer` with calls of jobs this Client has not joined; for example
  // the operator token, with which SetInitialModel sets a restricted job's initial model.
  std::string access_token;
  // Push and pull over the node's bulk port (proto/bulk.h: plain TCP, to and from shared
  // memory with no other copy) where its JoinReply names one and this Client does not use TLS;
  // over gRPC otherwise, and when that port cannot be reached.
  bool use_bulk_port = true;
};

// A channel to options.target with the credentials its tls_* fields ask for; an error when a
// file cannot be read or only one of tls_cert_file and tls_key_file is set.
Result<std::shared_ptr<grpc::Channel>> CreateChannel(const ClientOptions& options);

struct Model {
  uint32_t version = 0;
  std::vector<float> values;
};

class Client {
 public:
  // A channel of its own (CreateChannel); when that fails every call returns its error.
  explicit Client(ClientOptions options);
  // Shares an existing channel (many simulated clients over one connection).
  Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel);
  ~Client();

  // Joins `job`; the reply carries the job's spec and state, and the access token this Client
  // sends with its later calls of `job`. In a group of nodes the job's home may place the
  // client on another node (JoinReply.node): the Client joins there and makes its later calls
  // of `job` there; when that node becomes unreachable, it joins again through its own target,
  // which places it anew.
  Result<v1::JoinReply> Join(uint64_t job);
  // Where the calls of `job` go: the node it was placed on, or options().target.
  std::string TargetOf(uint64_t job) const;
  // The global model `version` (0: initial; -1: latest). With `wait`, blocks until that version
  // is published.
  Result<Model> Pull(uint64_t job, int64_t version = -1, bool wait = true);
  // Pull into an existing vector (reused across rounds: no reallocation).
  Result<uint32_t> PullInto(uint64_t job, int64_t version, bool wait, std::vector<float>* out);
  // Pushes an update for `round`, weighted by `num_examples`.
  Result<v1::PushReply> Push(uint64_t job, uint32_t round, std::span<const float> update,
                             uint64_t num_examples);
  // Sets the job's initial model (version 0, zeros unless set): a push to round 0, accepted
  // until round 1 receives its first update.
  Result<v1::PushReply> SetInitialModel(uint64_t job, std::span<const float> model);
  // Sequentially coded jobs: this worker's mini-tasks in `round` (with `wait`, blocks until
  // the round opens), and the push of one mini-task's result (MiniTask.slot = `task`).
  Result<v1::TasksReply> Tasks(uint64_t job, uint32_t round, bool wait = true);
  Result<v1::PushReply> PushTaskResult(uint64_t job, uint32_t round, uint32_t task,
                                       std::span<const float> result);
  // One attempt, no retry: exposes the server's answer as it is.
  Result<v1::PushReply> PushOnce(uint64_t job, uint32_t round, std::span<const float> update,
                                 uint64_t num_examples, uint32_t task = 0);

  const ClientOptions& options() const { return options_; }

 private:
  // Runs `attempt` until it succeeds, fails for good or max_attempts ran out; between two
  // attempts it waits the backoff on `channel` (see WaitOutBackoff in client.cc).
  template <typename F>
  auto WithRetries(const std::shared_ptr<grpc::Channel>& channel, F&& attempt)
      -> decltype(attempt());
  Result<uint32_t> PullOnce(uint64_t job, int64_t version, bool wait, std::vector<float>* out);
  // The access token Join returned for `job`; options_.access_token before joining it.
  std::string AccessToken(uint64_t job) const;
  // The bulk port of `job`'s node (0: none, or not to be used).
  uint16_t BulkPortOf(uint64_t job) const;
  Result<v1::JoinReply> JoinOnce(uint64_t job, const std::shared_ptr<grpc::Channel>& channel);
  // The channel of `job`'s node.
  std::shared_ptr<grpc::Channel> ChannelOf(uint64_t job) const;
  // Runs `call`; when it fails UNAVAILABLE on the node `job` was placed on, joins again
  // through options_.target and runs it once more.
  template <typename F>
  auto WithPlacement(uint64_t job, F&& call) -> decltype(call());

  ClientOptions options_;
  mutable std::mutex tokens_mu_;
  std::unordered_map<uint64_t, std::string> access_tokens_;
  // Jobs placed on another node: its address and channel (under tokens_mu_).
  std::unordered_map<uint64_t, std::pair<std::string, std::shared_ptr<grpc::Channel>>> placed_;
  // Bulk ports of joined jobs' nodes (under tokens_mu_).
  std::unordered_map<uint64_t, uint16_t> bulk_ports_;
  std::shared_ptr<grpc::Channel> channel_;
  Status channel_error_;  // why there is no channel_ (OK when there is one)
  std::unique_ptr<BulkClient> bulk_;
};

}  // namespace tributary::client
