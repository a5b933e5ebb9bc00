// ControlPlane: jobs, their rounds, and the bookkeeping of the single-node data path.
//
// Owns each job's shared-memory pool and drives its round state machine: a round opens, accepts
// updates until clients_per_round arrived (or its deadline passed with at least min_clients),
// asks its aggregators to finish, publishes the new global model version when they are done,
// and opens the next round. A job with a fan-in aggregates in a tree (aggregation_tree.h):
// leaves fold the updates, middles the leaves' partials, the top publishes; the autoscaler
// (autoscaler.h) sizes the pool of aggregator processes that run the tree's tasks. Accepted updates are handed to the aggregators as
// descriptors through the Router as soon as they are complete (eager aggregation); the control
// plane keeps one reference on every accepted update until its round is published, so a shard
// whose aggregator dies is re-run on another instance from the same slots, exactly.
//
// The gateway's RPC handlers call BeginPush/CommitPush/AbortPush around the streaming of one
// update into its slot, and PullModel/ReleaseModel around streaming a model out.
//
// Sequentially coded jobs (SR-SGC, M-SGC) decouple rounds of work from published versions:
// each round, every worker pushes one result per mini-task the scheduler gave it; the round
// closes as soon as the stragglers stay inside the bursty model, and each version is aggregated
// from its decoding's results once it and every earlier version are decodable.
//
// Thread safety: every method may be called from any thread. Callbacks given to PullModel,
// AwaitTasks and Subscribe run with the control plane's lock held: they must only hand work off
// (start an asynchronous write), never block or call back into the control plane.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "ebpf/router.h"
#include "gateway/client_credentials.h"
#include "gateway/model_checksum.h"
#include "gateway/peer_link.h"
#include "shm/slot_pool.h"
#include "tributary/v1/client.pb.h"
#include "tributary/v1/operator.pb.h"

namespace tributary::gateway {

struct ControlPlaneOptions {
  std::string pool_prefix;              // shm name of job J is pool_prefix + J (required)
  std::size_t shm_budget_bytes = 8ull << 30;  // shared memory all job pools may use together
  uint32_t retained_versions = 2;       // published models kept per job (latest included)
  std::chrono::milliseconds tick{20};   // how often round deadlines are checked
  // Limits (RESOURCE_EXHAUSTED beyond them; the SDKs back off and retry):
  uint32_t max_streaming_pushes = 4096;  // pushes streaming at once, all jobs (0: no limit)
  uint32_t max_streaming_pulls = 4096;   // pulls streaming or waiting at once (0: no limit)
  double push_rate_per_client = 0;       // push attempts per second per client and job (0: none)
  double push_burst = 4;                 // attempts a client may make at once before the rate
  // Issues and checks the access tokens of restricted jobs (null: a fresh in-memory key).
  std::shared_ptr<const ClientCredentials> credentials;
  // Where jobs are checkpointed (see checkpoint_store.h) and resumed from by Resume(); empty:
  // nowhere, jobs live as long as the process.
  std::string checkpoint_dir;
  // The least time between two model files of a job: a version published sooner waits, and a
  // newer one replaces it while it waits; a job's final model is written at once. Its newest
  // model on disk stays listed in its checkpoint (and its file kept) until a newer one is
  // written, so a node that lost its shared memory resumes from it. 0: write every version.
  std::chrono::milliseconds model_write_interval{1000};
  // After this long without aggregation work (no update accepted or streaming, no round
  // aggregating), the aggregator processes are scaled to zero; the next push or round starts
  // warm_instances again and replays what they must see. 0: never.
  std::chrono::milliseconds scale_to_zero_after{0};
  uint32_t warm_instances = 1;
  // Autoscaling (see autoscaler.h): with max_instances > 0 the aggregator processes follow the
  // arrival rate of descriptors between warm_instances and max_instances (scaling down only
  // between rounds); 0 keeps the pool at the size it was started with.
  uint32_t max_instances = 0;
  double instance_service_rate = 0;  // descriptors per second one instance folds (0: measured)
  // A group of nodes (serve --peers; see proto/tributary/internal/peer.proto): jobs are created
  // on every member, and each job's home folds one partial per member into its rounds'
  // models. Null: this node alone.
  PeerLink* peers = nullptr;
  // How long a job's home waits, after closing a round, for another node's partial before the
  // round goes on without that node.
  std::chrono::milliseconds peer_timeout{30000};
};

// The aggregator instances of the node; implemented by the node runtime.
class InstanceDirectory {
 public:
  virtual ~InstanceDirectory() = default;
  virtual std::vector<ebpf::InstanceId> LiveInstances() const = 0;
  // Sends `d` to every live instance (job-wide notices such as JOB_ENDED).
  virtual void Broadcast(const shm::Descriptor& d) = 0;
  // Keeps `n` instances from now on (0: none; see ControlPlaneOptions::scale_to_zero_after).
  virtual void ScaleTo(uint32_t n) = 0;
};

// The scaling signal of one job (see ControlPlane::Loads).
struct JobLoad {
  uint64_t job = 0;
  // Updates its current round still waits for (while open) or is aggregating (once closed);
  // 0 between rounds and once the job ended.
  uint64_t pending_updates = 0;
  // Partials of an aggregation tree's nodes not yet folded by the nodes above (the middle and
  // top tiers' queue; 0 for flat jobs).
  uint64_t pending_partials = 0;
  bool active = false;  // a round is open or being aggregated
};

// A slot reserved for one update while it streams in.
struct PushTicket {
  uint64_t job = 0;
  uint32_t round = 0;
  uint64_t client_index = 0;
  uint32_t task = 0;  // sequentially coded jobs: the mini-task's slot
  double weight = 0;
  std::size_t expected_bytes = 0;
  uint64_t checksum = 0;  // XXH3-64 of the bytes, as received and checked before CommitPush
  std::shared_ptr<shm::SlotPool> pool;
  shm::SlotHandle slot;
  bool open = false;  // true until committed or aborted
};

// A partial (at a job's home) or a published model (at the other nodes of a group) streaming
// in from another node, into its slot.
struct PeerTransfer {
  uint64_t job = 0;
  uint32_t round = 0;    // the round, or the version of a model
  std::string node;      // the sender
  uint32_t updates = 0;  // updates the partial or the model aggregates
  double weight = 0;     // a partial's total weight
  bool model = false;
  std::size_t expected_bytes = 0;
  std::shared_ptr<shm::SlotPool> pool;
  shm::SlotHandle slot;
  bool open = false;
};

// A published model held for reading.
struct ModelRef {
  uint64_t job = 0;
  uint32_t version = 0;
  std::size_t bytes = 0;
  uint64_t checksum = 0;
  std::shared_ptr<shm::SlotPool> pool;
  shm::SlotHandle slot;
  // Set while the model is still being hashed (`checksum` is then 0): the pull sends the
  // checksum after the bytes, from here.
  std::shared_ptr<const ModelChecksum> hashing;
};

// What a pull of `model` sends before its bytes.
v1::ModelHeader ModelHeaderOf(const ModelRef& model);

class ControlPlane {
 public:
  ControlPlane(ControlPlaneOptions options, ebpf::Router* router,
               InstanceDirectory* instances);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // With options.checkpoint_dir: resumes the jobs checkpointed there (see
  // checkpoint_store.h), then checkpoints every job from now on. Call once, before serving.
  Status Recover();

  // Operator API.
  Result<v1::JobInfo> CreateJob(const v1::JobSpec& spec);
  Result<v1::JobInfo> GetJob(uint64_t job) const;
  std::vector<v1::JobInfo> ListJobs() const;
  // In a group the job ends on every node (`from_peer`: another node's cancel, not passed on).
  Result<v1::JobInfo> CancelJob(uint64_t job, bool from_peer = false);
  // Events of `job` are passed to `sink` until Unsubscribe or a terminal event. Returns a
  // subscription id.
  Result<uint64_t> Subscribe(uint64_t job, std::function<void(const v1::RoundEvent&)> sink);
  void Unsubscribe(uint64_t job, uint64_t subscription);

  // Client API.
  // Registers the client (idempotent) once the job's access settings admit it (see JobAccess
  // in job.proto); the reply carries its access token and, for a coded job, its worker task.
  Result<v1::JoinReply> Join(uint64_t job, const std::string& client_id,
                             std::string_view enrolment_token = {});
  // OK when a Push, Pull or Tasks call naming `client_id` in `job` and carrying the access
  // token `token` (empty: none) may go on: always for open jobs; for restricted jobs when the
  // token is the one Join issued to that client for that job (UNAUTHENTICATED otherwise).
  Status AuthorizeClient(uint64_t job, std::string_view client_id, std::string_view token);
  Result<PushTicket> BeginPush(const v1::UpdateHeader& header);
  Result<v1::PushReply> CommitPush(PushTicket& ticket);
  void AbortPush(PushTicket& ticket);
  // Brackets one Pull call: RESOURCE_EXHAUSTED when max_streaming_pulls are streaming or
  // waiting already; every successful BeginPull is matched by one EndPull.
  Status BeginPull();
  void EndPull();
  // Delivers the model `version` (-1: latest) to `done`, at once when it is published, later
  // when `wait` and it is not yet. Returns a waiter id for CancelPull (0 when `done` already
  // ran).
  uint64_t PullModel(uint64_t job, int64_t version, bool wait,
                     std::function<void(Result<ModelRef>)> done);
  void CancelPull(uint64_t job, uint64_t waiter);
  void ReleaseModel(ModelRef& model);
  // Sequentially coded jobs: delivers the mini-tasks of `client_id` in `round` to `done`, at
  // once when the round is open (or closed: an error), later when `wait` and it is not open
  // yet. Returns a waiter id for CancelTasks (0 when `done` already ran).
  uint64_t AwaitTasks(uint64_t job, const std::string& client_id, uint32_t round, bool wait,
                      std::function<void(Result<v1::TasksReply>)> done);
  void CancelTasks(uint64_t job, uint64_t waiter);

  // Node groups: the calls of the other members (see PeerLink and peer.proto).
  // Creates job `id` as its creating node planned `spec`.
  Status CreateReplica(uint64_t id, const v1::JobSpec& spec);
  // At the job's home: the node `client_id` is placed on, asked by `requester`, the node it
  // joined through (see JoinReply.node).
  Result<std::string> PlaceClient(uint64_t job, const std::string& client_id,
                                  const std::string& requester);
  // At the job's home: `node` accepted `accepted` updates in `round` so far.
  void OnPeerProgress(uint64_t job, uint32_t round, const std::string& node, uint32_t accepted);
  // At another node: the home closed `round`; the node's partial follows.
  Status OnPeerCloseRound(uint64_t job, uint32_t round);
  // A partial or a model streaming in: its slot (bytes == 0: nothing to write), then Commit
  // once every byte is in it, or Abort.
  Result<PeerTransfer> BeginPeerTransfer(PeerTransfer header);
  Status CommitPeerTransfer(PeerTransfer& transfer);
  void AbortPeerTransfer(PeerTransfer& transfer);

  // Node runtime events.
  void OnAggregatorReply(const shm::Descriptor& d);
  // `cause` says how the process ended ("killed by signal 11 (Segmentation fault)").
  void OnInstanceLost(ebpf::InstanceId instance, pid_t pid, const std::string& cause);
  void OnInstanceReady(ebpf::InstanceId instance);

  // Shutdown: from Drain() on, new jobs and pushes into rounds that have no update yet are
  // refused with UNAVAILABLE (the client retries elsewhere or later), while rounds that hold
  // accepted or streaming updates run to publication. Drained() once none is left. A round
  // still holding accepted updates when the control plane goes is not lost where it has a
  // checkpoint directory: its job's shared memory stays for the next start on that directory,
  // which takes the round back as after a crash (KeepsUnfinishedRounds() says so).
  void Drain();
  bool Drained() const;
  bool KeepsUnfinishedRounds() const;

  // Scaling signal (the KEDA external scaler): every job's load, ended ones included.
  std::vector<JobLoad> Loads() const;
  // `changed` receives Loads() at once, then whenever a round opens, closes or is published
  // and when a job starts or ends. Returns an id for UnwatchLoads.
  uint64_t WatchLoads(std::function<void(const std::vector<JobLoad>&)> changed);
  void UnwatchLoads(uint64_t id);

  // Prometheus text exposition of the control plane's counters.
  std::string MetricsText() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tributary::gateway
