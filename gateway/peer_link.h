// PeerLink: this node's calls to the other nodes of its group (serve --peers).
//
// A group is a fixed list of members, each named by the gRPC address the others reach it at.
// A job's home is the member that wins the rendezvous hash of the job id (every member
// computes the same one from the same list, and a member leaving moves only its own jobs).
// Calls other than CreateJob are queued and made in order by a thread per peer (a peer that
// hangs holds up only its own calls), so the control plane never waits on the network while
// it holds its lock; their `done` callbacks run on that thread. Tensors are streamed in chunks
// of 1 MiB from memory the caller keeps alive until `done`.
//
// Peers authenticate as operators (the node's operator token, when it has one). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "tributary/v1/job.pb.h"

namespace tributary::gateway {

struct PeerLinkOptions {
  std::string self;                // this node's address in the group
  std::vector<std::string> peers;  // the other members' addresses
  std::string operator_token;      // sent as `authorization: Bearer TOKEN` (empty: none)
  // TLS to the peers: PEM CA certificates that verify their server certificates (empty:
  // plaintext), and this node's client certificate chain and key for peers that require one
  // (mutual TLS; both empty: none).
  std::string tls_root_certs;
  std::string tls_cert_chain;
  std::string tls_private_key;
};

class PeerLink {
 public:
  using Done = std::function<void(const Status&)>;

  explicit PeerLink(PeerLinkOptions options);
  ~PeerLink();  // Stop()
  // Drops the calls still queued and waits for the one under way; later calls are dropped.
  void Stop();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  const std::string& self() const;
  const std::vector<std::string>& peers() const;
  // This node's position among the members sorted by address (0-based).
  uint32_t index() const;
  // The member that is home to `job`.
  const std::string& HomeOf(uint64_t job) const;

  // Creates job `id` on every peer; waits for them all. The first failure, if any.
  Status CreateJob(uint64_t id, const v1::JobSpec& spec);

  // Asks `home` where `client_id` of `job` is placed; waits for the answer.
  Result<std::string> Place(const std::string& home, uint64_t job, const std::string& client_id);

  // Queued calls.
  void Progress(const std::string& to, uint64_t job, uint32_t round, uint32_t accepted);
  void CancelJob(const std::string& to, uint64_t job);
  void CloseRound(const std::string& to, uint64_t job, uint32_t round, Done done);
  // The node's partial of `round`: the weighted mean of `updates` updates of total `weight`
  // (no data when `updates` is 0).
  void SendPartial(const std::string& to, uint64_t job, uint32_t round, uint32_t updates,
                   double weight, std::span<const std::byte> data, Done done);
  // The global model `version`, aggregated from `updates` updates across the group.
  void SendModel(const std::string& to, uint64_t job, uint32_t version, uint32_t updates,
                 std::span<const std::byte> data, Done done);

  // Payload bytes sent so far: partials, and published models.
  uint64_t partial_bytes_sent() const;
  uint64_t model_bytes_sent() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::gateway
