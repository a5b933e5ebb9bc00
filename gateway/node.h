// Node: one running Tributary node, the embedded default of `tributary serve`.
//
// Wires the parts of the single-node data path together: the Router, the node runtime with its
// warm pool of aggregator processes, the control plane, and the gRPC server with the client and
// operator services (and an optional Prometheus /metrics endpoint). Start() returns once every
// part is up; the destructor shuts them down in reverse order and removes the shared memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace tributary::gateway {

struct NodeOptions {
  std::string listen = "127.0.0.1:7070";  // gRPC address; port 0 picks a free port
  std::string metrics_listen;             // HOST:PORT of /metrics (port 0: any); empty: none
  // HOST:PORT of the bulk listener (proto/bulk.h; port 0: any). Empty (default): the
  // host of `listen`, any port, where the gRPC port is plaintext, and none under TLS; "off":
  // none.
  std::string bulk_listen;
  std::string router = "auto";            // auto | userspace | bpf
  std::vector<std::string> worker_argv;   // aggregator program (required)
  uint32_t aggregators = 0;               // warm pool size (0: one per core)
  double scale_to_zero_after_s = 0;       // idle seconds before the pool scales to zero (0: never)
  // Autoscaling: the pool starts with one process and follows the arrival rate up to
  // `aggregators` (see gateway/autoscaler.h).
  bool autoscale = false;
  double instance_service_rate = 0;       // descriptors/s one process folds (0: measured)
  std::string node_id;                    // names shared memory (empty: the pid)
  // A group of nodes (see proto/tributary/internal/peer.proto): the other members' gRPC
  // addresses, and this node's as they reach it (default: `listen`). Empty: this node alone.
  std::vector<std::string> peers;
  std::string advertise;
  double peer_timeout_s = 30;  // see ControlPlaneOptions::peer_timeout
  // A group under TLS (tls_cert_file set) dials its peers over TLS: PEM CA certificates that
  // verify their server certificates (required there). Under mutual TLS, this node's client
  // certificate and key for its peers (required there), whose CN the peers must admit as an
  // operator (operator_ids).
  std::string peer_tls_ca_file;
  std::string peer_cert_file;
  std::string peer_key_file;
  std::size_t shm_budget_bytes = 0;       // 0: half of physical memory
  // Where job pools live: "posix" (POSIX shared memory), "dpdk" (memzones in hugepages, this
  // process the EAL primary; needs root) or "auto" (dpdk where it starts, else posix).
  std::string shm_backend = "posix";
  // The directory of the posix backend's pools: "auto" (the tmpfs with 2 MiB pages of
  // shm/huge_tmpfs.h where it can be had, else /dev/shm) or a directory, best a tmpfs.
  std::string shm_dir = "auto";
  std::size_t dpdk_memory_bytes = 1024u << 20;  // dpdk: hugepage memory for the pools
  uint32_t retained_versions = 2;         // published models kept per job (latest included)
  uint32_t max_streaming_pushes = 4096;   // pushes streaming at once (0: no limit)
  uint32_t max_streaming_pulls = 4096;    // pulls streaming or waiting at once (0: no limit)
  double push_rate_per_client = 0;        // push attempts per second per client (0: no limit)
  double push_burst = 4;                  // attempts a client may make at once
  std::vector<std::string> rule_plugins;  // C ABI rule plug-ins (`plugin:NAME` rules)
  std::vector<std::string> python_paths;  // sys.path entries for `python:module.func` rules
  // TLS on the gRPC port. Both empty (default): plaintext. Both set: PEM certificate chain and
  // private key of the server.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM CA certificates that sign client certificates; set (with tls_cert_file): mutual TLS,
  // every caller must present a certificate they verify, and its subject CN is the caller's
  // identity (see gateway/peer_identity.h). Empty (default): no client certificates.
  std::string tls_client_ca_file;
  // Under mutual TLS, the identities the operator service admits (default: "operator").
  std::vector<std::string> operator_ids{"operator"};
  // A file holding the operator token every operator call must carry (`authorization: Bearer
  // TOKEN`, at least 16 characters); empty (default): operator calls need no token.
  std::string operator_token_file;
  // The key of restricted jobs' access tokens (see gateway/client_credentials.h), created when
  // missing; empty (default): a fresh key per process, so tokens do not outlive it.
  std::string token_key_file;
  // Where jobs are checkpointed and resumed from after a restart (see
  // gateway/checkpoint_store.h); empty (default): jobs live as long as the process.
  std::string checkpoint_dir;
  // The least time between two model files of a job (ControlPlaneOptions).
  double model_write_interval_s = 1;
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Start(const NodeOptions& options);
  ~Node();
  // The port the gRPC server listens on.
  int port() const;
  // The port of /metrics (0 when not served).
  int metrics_port() const;
  // The port of the bulk listener (0 when there is none).
  int bulk_port() const;
  // Blocks until Shutdown() is called (from a signal handler thread, say).
  void Wait();
  // The first half of a graceful stop: health turns NOT_SERVING and the control plane drains
  // (see ControlPlane::Drain); returns once the rounds in progress are published or `timeout`
  // passed, saying which in the log.
  void Drain(std::chrono::milliseconds timeout);
  void Shutdown();

 private:
  class Impl;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::gateway
