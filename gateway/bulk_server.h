// BulkServer: a node's listener for the bulk protocol (proto/bulk.h), which receives each
// update's payload with recv() straight into its shared-memory slot and sends each pulled model
// with send() straight from its slot.
//
// Event-driven, in the manner of the userspace router: `threads` threads, each with an epoll
// set of its own, share the listening socket (EPOLLEXCLUSIVE wakes one of them per arrival) and
// own the connections they accept, so one thread alone touches a connection. Sockets are
// non-blocking; a wakeup reads or sends at most 1 MiB of one connection. A push reads 256 KiB
// per recv(), and the connection's PushSession hashes and checks each piece while it is still
// in cache; the checks, status codes and messages are those of ClientService.Push (both drive a
// PushSession). A pull is admitted as ClientService.Pull admits it; the control plane hands the
// model, once published, to the connection's thread through a mailbox, and the thread sends it
// as the socket has room.
//
// Bounds: at most `max_connections` connections (later ones are closed at once); a connection
// that stalls in the middle of a Hello or a payload, sits idle between requests, or stops
// reading its model, for `idle_timeout` is closed, aborting its push or pull (a pull waiting for
// its model is not stalled; it counts against the node's max_streaming_pulls). A connection
// holds its Hello while it arrives (at most 8 KiB) and nothing else; payload bytes go to the
// slot or, once a push is refused, to a scratch buffer of its thread. The control plane must
// outlive the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "gateway/control_plane.h"
#include "gateway/peer_identity.h"

namespace tributary::gateway {

struct BulkServerOptions {
  std::string host = "127.0.0.1";  // address to listen on
  int port = 0;                    // 0: any free port
  unsigned threads = 0;            // 0: one per core, at most 4
  std::size_t max_connections = 4096;
  std::chrono::milliseconds idle_timeout{60'000};
  AccessPolicy policy;  // its operator token admits initial-model pushes (round 0)
};

class BulkServer {
 public:
  static Result<std::unique_ptr<BulkServer>> Start(ControlPlane* control,
                                                   BulkServerOptions options);
  // Stops the threads and closes every connection, aborting the pushes and pulls still open.
  ~BulkServer();

  int port() const;

  struct Stats {
    uint64_t connections_open = 0;
    uint64_t connections_accepted = 0;  // since the start
    uint64_t pushes_committed = 0;      // updates accepted over bulk connections
    uint64_t pulls_served = 0;          // models sent whole over bulk connections
  };
  Stats stats() const;

 private:
  class Impl;
  explicit BulkServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::gateway
