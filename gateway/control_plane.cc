#include "gateway/control_plane.h"

#include <signal.h>

#define XXH_INLINE_ALL  // inlined and compiled for this CPU (AVX2)
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <utility>
#include <variant>

#include "aggregator/rule_registry.h"
#include "common/metrics_text.h"
#include "gateway/aggregation_tree.h"
#include "gateway/autoscaler.h"
#include "gateway/checkpoint_store.h"
#include "robust/coding/gradient_code.h"
#include "robust/coding/sequential_scheduler.h"
#include "shm/descriptor.h"
#include "shm/dpdk_memory.h"
#include "shm/huge_tmpfs.h"
#include "shm/segment.h"

namespace tributary::gateway {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxClientIdLength = 128;
constexpr int kMaxAllowedClients = 100000;  // JobAccess.allowed_clients
constexpr uint64_t kMaxJobId = uint64_t{1} << 53;  // ids resumed from checkpoints
constexpr std::size_t kMinEnrolmentToken = 16, kMaxEnrolmentToken = 1024;
constexpr std::size_t kMinShardBytes = 1u << 20;  // below this, more shards cost more than they gain
constexpr uint64_t kInitialModelSender = ~uint64_t{0};  // in_flight key of a round-0 push
constexpr uint64_t kPeerPartial = ~uint64_t{0} - 1;     // client index of another node's partial
constexpr uint32_t kMaxDeathsInRule = 2;  // aggregator deaths inside a round's rule before it fails
// Sequentially coded jobs keep a ledger entry per version, worker and mini-task slot (W-1+B of
// them): rounds x workers x (W+B) is bounded (4M entries, 64 MiB).
constexpr uint64_t kMaxSequentialWork = 1u << 22;

int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string JobName(uint64_t job) { return "job " + std::to_string(job); }

bool ValidClientId(const std::string& id) {
  if (id.empty() || id.size() > kMaxClientIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

struct AcceptedUpdate {
  uint64_t client_index;
  shm::SlotHandle slot;
  double weight;
  uint64_t checksum = 0;  // XXH3-64 of its bytes (checked when a restart finds it again)
};

// A push in flight or accepted within a round: the client and, for sequentially coded jobs,
// the slot of its mini-task (0 otherwise).
using PushKey = std::pair<uint64_t, uint32_t>;

// A sequentially coded job's result, kept until the version it belongs to is published.
struct CodedResult {
  shm::SlotHandle slot;
  uint32_t version;
};

// A worker of a sequentially coded job waiting for a round to open.
struct TaskWaiter {
  uint64_t id;
  uint64_t worker;
  std::function<void(Result<v1::TasksReply>)> done;
};

struct PublishedModel {
  uint32_t version;
  shm::SlotHandle slot;
  uint64_t checksum;
  bool on_disk = false;  // its bytes are in the checkpoint store
  std::shared_ptr<ModelChecksum> hashing;  // only inside Publish, while the model is hashed
};

// kOpen: the round takes updates; kClosed: its aggregation runs; kIdle: neither (sequentially
// coded jobs: between a round's close and the next version's aggregation or round).
enum class Phase { kOpen, kClosed, kIdle };

struct Job {
  uint64_t id = 0;
  v1::JobSpec spec;
  v1::JobState state = v1::JOB_STATE_RUNNING;
  std::string message;
  std::shared_ptr<shm::SlotPool> pool;
  uint32_t shards = 1;
  std::size_t model_bytes = 0;
  std::map<std::string, uint64_t> clients;  // client id -> index (a coded job's worker index)
  // JobAccess: a restricted job admits only `allowed` (empty: anyone) with the enrolment token.
  bool restricted = false;
  std::unordered_set<std::string> allowed;
  // Coded jobs: updates are weighted by decoding coefficients known only once the arrived set
  // is decodable, so they are dispatched to the aggregators when the round closes. Other jobs
  // dispatch each update as soon as it is accepted (eager aggregation).
  std::optional<robust::coding::GradientCode> code;
  // Sequentially coded jobs (SR-SGC, M-SGC): rounds of work and published versions decouple.
  // Round r's results stay in the pool, keyed by (round, worker, slot), until the version they
  // belong to is published; when a round closes, the versions that became decodable are
  // aggregated and published in order, then the next round opens.
  std::unique_ptr<robust::coding::SequentialScheduler> sequence;
  std::map<std::tuple<int, int, int>, CodedResult> results;
  std::set<uint32_t> decodable;  // versions decodable but not yet aggregated
  std::size_t refused_close_at = SIZE_MAX;  // results in the round when closing was refused
  std::multimap<uint32_t, TaskWaiter> task_waiters;  // by round
  // Push attempts' token buckets by client index (ControlPlaneOptions::push_rate_per_client).
  std::map<uint64_t, std::pair<double, Clock::time_point>> push_tokens;
  bool eager() const { return !code.has_value() && !sequence; }
  // Whether the current round's shards are routed to aggregators.
  bool routed() const { return sequence ? phase == Phase::kClosed : phase != Phase::kIdle; }

  // The current round, and the version its aggregation publishes (the same except for
  // sequentially coded jobs).
  uint32_t round = 0;
  uint32_t aggregating = 0;
  Phase phase = Phase::kIdle;
  Clock::time_point opened_at, closed_at;
  shm::SlotHandle output;
  std::vector<AcceptedUpdate> accepted;
  std::set<PushKey> accepted_clients;
  std::set<PushKey> in_flight;
  // Who the last published round accepted: a client retrying a push whose acknowledgement it
  // lost learns that it was accepted (ALREADY_EXISTS), not that the round is closed.
  uint32_t last_round = 0;
  std::set<PushKey> last_round_clients;
  // The aggregation of job.aggregating: a tree of nodes (one, the top, when flat), each node
  // folded by `shards` tasks, one per shard, routed by lane (node x shards + shard).
  uint32_t fan_in = 0;  // eager jobs of a tree-aggregated rule: JobSpec.fan_in
  AggregationTree tree{0, 0};
  // Node groups (ControlPlaneOptions::peers): the job's home node (empty: a job of this node
  // alone) and, at the home, the round's progress on the other nodes: updates each accepted,
  // nodes whose partial has not come since the close, and the partials that came (in the pool,
  // folded like updates with the weight of what they average).
  std::string home;
  bool is_home = false;
  std::map<std::string, uint32_t> peer_accepted;
  std::set<std::string> peers_pending;
  std::vector<AcceptedUpdate> peer_partials;
  // At the home: where each client is placed (client id -> node), and how many on each node.
  std::map<std::string, std::string> placement;
  std::map<std::string, uint32_t> placed;
  uint32_t round_updates = 0;  // updates the aggregation takes across the group (events)
  bool grouped() const { return !home.empty(); }
  bool at_home() const { return home.empty() || is_home; }
  std::vector<ebpf::InstanceId> lane_instance;  // 0: not assigned (no live instance yet)
  std::vector<bool> lane_done;
  std::vector<uint32_t> node_pending;  // tasks of each node not done yet
  std::vector<shm::SlotHandle> partials;  // partial slots held (until their parent is done)
  uint32_t partials_reserved = 0;  // pool slots kept for the round's partials not allocated yet
  // By tree node: the slot its tasks keep their running state in (AggregationRule's
  // RoundInfo::accumulator). The flat aggregation's one node keeps it in the round's output; a tree
  // node in a partial slot taken with the node, which its FLUSH then writes in place (the top's
  // FINISH writes the round's output from it).
  std::vector<shm::SlotHandle> accumulators;
  // Partials of flushed nodes, written or being written, that their parent has not folded yet.
  uint32_t partials_flushed = 0;
  // Aggregator processes that died while holding this round's data (inside the rule): one is
  // survived by replaying the shard elsewhere, a second fails the job.
  uint32_t deaths_in_rule = 0;

  std::vector<PublishedModel> versions;  // oldest first
  // The newest version whose model file is on disk (it may be older than every retained one),
  // and when the last model file of the job began to be written.
  struct ModelOnDisk {
    uint32_t version;
    uint64_t checksum;
  };
  std::optional<ModelOnDisk> newest_on_disk;
  Clock::time_point model_write_started{};
  std::multimap<uint32_t, std::pair<uint64_t, std::function<void(Result<ModelRef>)>>> waiters;
  std::map<uint64_t, std::function<void(const v1::RoundEvent&)>> subscribers;
};

}  // namespace

class ControlPlane::Impl {
 public:
  Impl(ControlPlaneOptions o, ebpf::Router* router, InstanceDirectory* instances)
      : options_(std::move(o)), router_(router), instances_(instances) {
    if (!options_.credentials) {
      options_.credentials = std::make_shared<const ClientCredentials>(
          ClientCredentials::LoadOrCreate("").value());
    }
    ticker_ = std::thread([this] { TickLoop(); });
  }

  Status Recover() {
    if (options_.checkpoint_dir.empty()) return Status::Ok();
    TRIBUTARY_ASSIGN_OR_RETURN(auto store, CheckpointStore::Open(options_.checkpoint_dir));
    std::vector<std::string> problems;
    auto stored = store.LoadAll(&problems);
    for (const auto& p : problems) spdlog::warn("checkpoints: {}", p);
    std::lock_guard lock(mu_);
    if (store_) return Status::FailedPrecondition("checkpoints were recovered already");
    store_.emplace(std::move(store));
    for (const auto& job : stored) ResumeJob(job);
    RemoveUnclaimedPools();
    checkpoint_writer_ = std::thread([this] { CheckpointLoop(); });
    return Status::Ok();
  }

  ~Impl() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    tick_cv_.notify_all();
    checkpoint_cv_.notify_all();
    ticker_.join();
    if (checkpoint_writer_.joinable()) checkpoint_writer_.join();  // writes what is queued
    std::lock_guard lock(mu_);
    for (auto& [id, job] : jobs_) {
      if (!job->pool) continue;
      if (KeepsPoolForRestart(*job)) {
        job->pool->KeepReferencesOnClose();  // the next start adopts the accepted slots
        spdlog::warn("{}: round {} holds {} accepted updates; its shared memory ({}) stays for "
                     "the next start on this data directory",
                     JobName(job->id), job->round, job->accepted.size(), job->pool->name());
        continue;
      }
      (void)shm::SlotPool::Remove(job->pool->name());
    }
  }

  bool KeepsUnfinishedRounds() const {
    std::lock_guard lock(mu_);
    return store_.has_value();
  }

  // A job whose unpublished round holds accepted updates, on a node that checkpoints: the
  // updates' bytes live only in its pool, which a restart adopts (sequentially coded jobs are
  // not resumed, so theirs goes).
  bool KeepsPoolForRestart(const Job& job) const {
    return store_ && job.state == v1::JOB_STATE_RUNNING && !job.sequence &&
           !job.accepted.empty();
  }

  // ---- operator API ----

  // What a job spec asks of the node, once checked and normalized: its rule, code, pool size.
  struct JobPlan {
    v1::JobSpec spec;
    aggregator::RuleParams rule_params;
    bool splits = false;
    std::optional<robust::coding::GradientCode> code;
    std::unique_ptr<robust::coding::SequentialScheduler> sequence;
    std::size_t model_bytes = 0;
    uint32_t slots = 0;
    uint64_t needed = 0;  // shared-memory bytes of its pool
  };

  Result<JobPlan> PlanJob(const v1::JobSpec& in) const {
    v1::JobSpec spec = in;
    if (spec.dtype() == v1::DTYPE_UNSPECIFIED) spec.set_dtype(v1::DTYPE_FLOAT32);
    if (spec.rule().empty()) spec.set_rule("fedavg");
    if (spec.min_clients() == 0) spec.set_min_clients(spec.clients_per_round());
    if (spec.params() == 0) return Status::InvalidArgument("params must be > 0");
    if (spec.params() > (1ull << 34)) return Status::InvalidArgument("params exceeds 2^34");
    if (spec.dtype() != v1::DTYPE_FLOAT32) {
      return Status::InvalidArgument("dtype " + v1::DType_Name(spec.dtype()) +
                                     " is not supported; jobs aggregate DTYPE_FLOAT32");
    }
    if (spec.rounds() == 0) return Status::InvalidArgument("rounds must be > 0");
    if (spec.clients_per_round() == 0) {
      return Status::InvalidArgument("clients_per_round must be > 0");
    }
    if (spec.min_clients() > spec.clients_per_round()) {
      return Status::InvalidArgument("min_clients exceeds clients_per_round");
    }
    if (!(spec.deadline_s() >= 0) || !std::isfinite(spec.deadline_s())) {
      return Status::InvalidArgument("deadline_s must be finite and >= 0");
    }
    TRIBUTARY_RETURN_IF_ERROR(CheckAccess(spec.access()));
    if (spec.update_kind() == v1::UPDATE_KIND_UNSPECIFIED) {
      spec.set_update_kind(v1::UPDATE_KIND_MODEL);
    }
    if (spec.update_kind() != v1::UPDATE_KIND_MODEL && spec.update_kind() != v1::UPDATE_KIND_DELTA) {
      return Status::InvalidArgument("unknown update_kind " + std::to_string(spec.update_kind()));
    }
    if (!(spec.server_learning_rate() >= 0) || !std::isfinite(spec.server_learning_rate())) {
      return Status::InvalidArgument("server_learning_rate must be finite and >= 0");
    }
    if (spec.update_kind() == v1::UPDATE_KIND_DELTA) {
      if (spec.server_learning_rate() == 0) spec.set_server_learning_rate(1);
    } else if (spec.server_learning_rate() != 0) {
      return Status::InvalidArgument("server_learning_rate applies to UPDATE_KIND_DELTA jobs");
    }
    const aggregator::RuleParams rule_params(spec.rule_params().begin(),
                                             spec.rule_params().end());
    if (Status s = aggregator::CheckRule(spec.rule(), rule_params, spec.min_clients()); !s.ok()) {
      return Status::InvalidArgument(s.message());
    }
    const bool splits = aggregator::SplitsByCoordinate(spec.rule());
    if (!splits && spec.shards() > 1) {
      return Status::InvalidArgument("rule " + spec.rule() +
                                     " compares whole updates; it cannot be sharded");
    }
    if (spec.shards() > 4096) return Status::InvalidArgument("shards exceeds 4096");
    if (spec.fan_in() == 1) {
      return Status::InvalidArgument("fan_in must be >= 2 (or 0: flat aggregation)");
    }
    if (spec.fan_in() >= 2 && (!in.coding().scheme().empty() || spec.rule() != "fedavg")) {
      return Status::InvalidArgument(
          "fan_in applies to fedavg jobs: a tree re-adds weighted means, which rule " +
          (spec.rule().empty() ? std::string("of a coded job") : spec.rule()) + " does not");
    }
    const uint64_t tree_nodes = AggregationTree::MaxNodes(spec.fan_in(), spec.clients_per_round());
    if (tree_nodes * std::max<uint32_t>(1, spec.shards()) > shm::kMaxLanes) {
      return Status::InvalidArgument(
          "a round's tree of " + std::to_string(tree_nodes) + " nodes x " +
          std::to_string(std::max<uint32_t>(1, spec.shards())) + " shards exceeds " +
          std::to_string(shm::kMaxLanes) + " tasks; raise fan_in or lower shards");
    }
    std::optional<robust::coding::GradientCode> code;
    std::unique_ptr<robust::coding::SequentialScheduler> sequence;
    if (!spec.coding().scheme().empty()) {
      if (!in.rule().empty()) {
        return Status::InvalidArgument(
            "a coded job publishes the decoded sum of its partition gradients; leave rule unset");
      }
      if (spec.update_kind() != v1::UPDATE_KIND_MODEL) {
        return Status::InvalidArgument(
            "a coded job publishes sums of partition gradients; update_kind must be MODEL");
      }
      if (auto sequential = robust::coding::ParseSequentialScheme(spec.coding().scheme());
          sequential && *sequential != robust::coding::SequentialScheme::kGc) {
        TRIBUTARY_ASSIGN_OR_RETURN(sequence, CreateSequence(*sequential, spec));
        spec.mutable_coding()->set_stragglers(static_cast<uint32_t>(sequence->code().s()));
      } else {
        TRIBUTARY_ASSIGN_OR_RETURN(auto scheme,
                                   robust::coding::ParseScheme(spec.coding().scheme()));
        auto built = robust::coding::GradientCode::Create(
            {.scheme = scheme,
             .n = static_cast<int>(spec.clients_per_round()),
             .s = static_cast<int>(spec.coding().stragglers()),
             .seed = spec.coding().seed() ? spec.coding().seed() : 1});
        if (!built) return built.error().WithContext("gradient code");
        code = std::move(*built);
        spec.set_min_clients(spec.clients_per_round() - spec.coding().stragglers());
        spec.mutable_coding()->set_scheme(std::string(robust::coding::SchemeName(code->scheme())));
      }
      spec.set_rule("weighted-sum");
    }

    if (options_.peers && (code || sequence)) {
      return Status::InvalidArgument(
          "coded jobs run on one node; this node is in a group (serve --peers)");
    }
    if (options_.peers && spec.rule() != "fedavg") {
      return Status::InvalidArgument(
          "rule " + spec.rule() +
          " needs every update of a round in one place, and a group (serve --peers) folds each "
          "node's partial, a weighted mean, into the model: only fedavg jobs run in a group");
    }
    const std::size_t model_bytes = spec.params() * sizeof(float);
    // Every accepted update of the open round (for sequentially coded jobs: every result of
    // the rounds whose versions are not published yet, at most delay + 1 rounds of them), its
    // output, the retained models, and spare slots for pushes still streaming.
    const uint64_t per_round = sequence ? uint64_t(sequence->n()) *
                                              sequence->max_tasks_per_round() *
                                              (sequence->delay() + 1)
                                        : spec.clients_per_round();
    const uint64_t spare = std::max<uint64_t>(2, per_round / 8);
    // A tree's partials: one per node, the top's included (its running state).
    const uint64_t partials = spec.fan_in() >= 2 ? tree_nodes : 0;
    // In a group: the home's slots for the other nodes' partials, another node's for the model.
    const uint64_t group = options_.peers ? options_.peers->peers().size() + 1 : 0;
    const uint64_t slots = per_round + 1 + options_.retained_versions + spare + partials + group;
    if (slots > UINT32_MAX) return Status::InvalidArgument("the job needs too many slots");
    const uint64_t needed = shm::SlotPool::SegmentBytes(model_bytes, static_cast<uint32_t>(slots));
    return JobPlan{std::move(spec), rule_params, splits, std::move(code), std::move(sequence),
                   model_bytes, static_cast<uint32_t>(slots), needed};

  }

  // A job of `plan` with id `id` and `shards` shards (0: chosen from the model size), without
  // its pool.
  std::shared_ptr<Job> NewJob(uint64_t id, JobPlan& plan, uint32_t shards) const {
    auto job = std::make_shared<Job>();
    job->id = id;
    job->spec = plan.spec;
    job->restricted = plan.spec.access().allowed_clients_size() > 0 ||
                      !plan.spec.access().enrolment_token().empty();
    job->allowed.insert(plan.spec.access().allowed_clients().begin(),
                        plan.spec.access().allowed_clients().end());
    job->model_bytes = plan.model_bytes;
    job->code = std::move(plan.code);
    job->sequence = std::move(plan.sequence);
    const std::size_t live = std::max<std::size_t>(
        1, options_.max_instances ? options_.max_instances : instances_->LiveInstances().size());
    const uint64_t tree_nodes =
        AggregationTree::MaxNodes(plan.spec.fan_in(), plan.spec.clients_per_round());
    job->fan_in = plan.spec.fan_in();
    job->shards = !plan.splits    ? 1
                  : shards        ? shards
                  : plan.spec.shards() ? plan.spec.shards()
                                       : static_cast<uint32_t>(std::clamp<std::size_t>(
                                             plan.model_bytes / kMinShardBytes, 1,
                                             std::min<uint64_t>(live, shm::kMaxLanes / tree_nodes)));
    return job;
  }

  // Creates the shared-memory pool of `job` as `plan` sizes it.
  Result<std::shared_ptr<shm::SlotPool>> CreatePool(const Job& job, const JobPlan& plan) const {
    nlohmann::json meta = {{"job", job.id},
                           {"params", plan.spec.params()},
                           {"rule", plan.spec.rule()},
                           {"rule_params", plan.rule_params},
                           {"dtype", "float32"},
                           {"shards", job.shards},
                           {"delta_updates", plan.spec.update_kind() == v1::UPDATE_KIND_DELTA},
                           {"server_learning_rate", plan.spec.server_learning_rate()}};
    auto pool = shm::SlotPool::Create({.name = PoolName(job.id),
                                       .slot_bytes = plan.model_bytes,
                                       .num_slots = plan.slots,
                                       .metadata = meta.dump()});
    if (!pool) return pool.error().WithContext("creating the pool of " + JobName(job.id));
    const std::size_t pool_bytes = std::size_t(plan.slots) * plan.model_bytes;
    if (!shm::DpdkMemory::Attached() && shm::IsHugeTmpfs(shm::PosixSegmentDir())) {
      const std::size_t huge = shm::HugeMappedBytes(shm::PosixSegmentPath(PoolName(job.id)));
      if (huge < pool_bytes * 9 / 10) {
        spdlog::warn(
            "{}: only {} of its pool's {} MiB are in 2 MiB pages (memory is "
            "fragmented); the rest pays for 4 KiB pages",
            JobName(job.id), huge >> 20, pool_bytes >> 20);
      }
    }
    return std::shared_ptr<shm::SlotPool>(std::move(pool).value());
  }

  std::string PoolName(uint64_t job) const { return options_.pool_prefix + std::to_string(job); }

  Result<v1::JobInfo> CreateJob(const v1::JobSpec& in) { return CreateJobAs(0, in); }

  Status CreateReplica(uint64_t id, const v1::JobSpec& spec) {
    if (!options_.peers) return Status::FailedPrecondition("this node is in no group");
    return CreateJobAs(id, spec).status();
  }

  // Creates a job: a new one (`replica_of` 0), whose id a group's members never share (the
  // creating member's index is in its low byte) and which every other member then creates
  // too; or the replica of job `replica_of` another member created.
  Result<v1::JobInfo> CreateJobAs(uint64_t replica_of, const v1::JobSpec& in) {
    TRIBUTARY_ASSIGN_OR_RETURN(JobPlan plan, PlanJob(in));
    std::unique_lock lock(mu_);
    if (draining_) {
      return Status::Unavailable("the node is shutting down; create the job on another node");
    }
    if (replica_of && jobs_.count(replica_of)) {
      return Status::AlreadyExists(JobName(replica_of) + " exists on this node");
    }
    TRIBUTARY_RETURN_IF_ERROR(CheckBudget(plan.needed));
    const uint64_t id = replica_of       ? replica_of
                        : options_.peers ? next_job_id_++ << 8 | (options_.peers->index() + 1)
                                         : next_job_id_++;
    auto job = NewJob(id, plan, 0);
    lock.unlock();  // creating and pre-faulting a large pool takes a while
    if (options_.peers) {
      job->home = options_.peers->HomeOf(id);
      job->is_home = job->home == options_.peers->self();
      if (!replica_of) TRIBUTARY_RETURN_IF_ERROR(options_.peers->CreateJob(id, plan.spec));
    }
    TRIBUTARY_ASSIGN_OR_RETURN(job->pool, CreatePool(*job, plan));
    // Version 0, the initial global model: zeros.
    auto v0 = job->pool->Allocate();
    if (!v0) return v0.error();
    std::memset(job->pool->Bytes(v0->index).data(), 0, plan.model_bytes);
    uint64_t checksum = XXH3_64bits(job->pool->Bytes(v0->index).data(), plan.model_bytes);
    lock.lock();
    used_bytes_ += plan.needed;
    job_bytes_[id] = plan.needed;
    job->versions.push_back({0, *v0, checksum});
    jobs_[id] = job;
    spdlog::info("{} created: {} params, {} rounds x {} clients, rule {}, {} shards, {} slots{}",
                 JobName(id), plan.spec.params(), plan.spec.rounds(),
                 plan.spec.clients_per_round(), plan.spec.rule(), job->shards, plan.slots,
                 job->grouped() ? ", home " + job->home : std::string());
    PersistVersion(*job, job->versions.back());
    OpenRound(*job, 1);
    return Info(*job);
  }

  Status CheckBudget(uint64_t needed) const {
    if (used_bytes_ + needed <= options_.shm_budget_bytes) return Status::Ok();
    return Status::ResourceExhausted(
        "job needs " + std::to_string(needed >> 20) + " MiB of shared memory; " +
        std::to_string((options_.shm_budget_bytes - used_bytes_) >> 20) + " MiB are free");
  }

  Result<v1::JobInfo> GetJob(uint64_t id) const {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return Status::NotFound(JobName(id) + " does not exist");
    return Info(*it->second);
  }

  std::vector<v1::JobInfo> ListJobs() const {
    std::lock_guard lock(mu_);
    std::vector<v1::JobInfo> out;
    for (const auto& [id, job] : jobs_) out.push_back(Info(*job));
    return out;
  }

  Result<v1::JobInfo> CancelJob(uint64_t id, bool from_peer) {
    std::lock_guard lock(mu_);
    TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(id));
    if (job->state != v1::JOB_STATE_RUNNING) {
      return Status::FailedPrecondition(JobName(id) + " is not running (" +
                                        v1::JobState_Name(job->state) + ")");
    }
    EndJob(*job, v1::JOB_STATE_CANCELLED, "cancelled by the operator");
    if (job->grouped() && !from_peer) {
      for (const auto& peer : options_.peers->peers()) options_.peers->CancelJob(peer, id);
    }
    return Info(*job);
  }

  Result<uint64_t> Subscribe(uint64_t id, std::function<void(const v1::RoundEvent&)> sink) {
    std::lock_guard lock(mu_);
    TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(id));
    const uint64_t sub = next_waiter_id_++;
    // A new subscriber first learns where the job stands.
    v1::RoundEvent now = Event(*job, v1::RoundEvent::ROUND_OPENED);
    if (job->state != v1::JOB_STATE_RUNNING) {
      now.set_kind(TerminalKind(job->state));
      now.set_message(job->message);
      sink(now);
      return sub;
    }
    if (job->phase == Phase::kOpen) sink(now);
    job->subscribers[sub] = std::move(sink);
    return sub;
  }

  void Unsubscribe(uint64_t id, uint64_t sub) {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it != jobs_.end()) it->second->subscribers.erase(sub);
  }

  // ---- client API ----

  // In a group, the job's home places the client first (JoinReply.node); the client is
  // registered here either way, so one that does not move still pushes here.
  Result<v1::JoinReply> Join(uint64_t id, const std::string& client_id,
                             std::string_view enrolment_token) {
    if (!ValidClientId(client_id)) {
      return Status::InvalidArgument("client_id must be 1 to 128 printable characters");
    }
    std::string home;
    {
      std::lock_guard lock(mu_);
      TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(id));
      home = job->home;
    }
    std::string node;
    if (!home.empty()) {
      const std::string& self = options_.peers->self();
      auto placed = home == self ? PlaceClient(id, client_id, self)
                                 : options_.peers->Place(home, id, client_id);
      if (placed) {
        node = *placed;
      } else {
        spdlog::warn("{}: client '{}' stays on this node: {}", JobName(id), client_id,
                     placed.error().ToString());
        node = self;
      }
    }
    TRIBUTARY_ASSIGN_OR_RETURN(v1::JoinReply reply, JoinHere(id, client_id, enrolment_token));
    reply.set_node(node);
    return reply;
  }

  Result<std::string> PlaceClient(uint64_t id, const std::string& client_id,
                                  const std::string& requester) {
    std::lock_guard lock(mu_);
    TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(id));
    if (!job->is_home) {
      return Status::FailedPrecondition("this node is not home to " + JobName(id) + " (" +
                                        job->home + " is)");
    }
    std::vector<std::string> members = options_.peers->peers();
    members.push_back(options_.peers->self());
    const bool member = std::find(members.begin(), members.end(), requester) != members.end();
    std::string& at = job->placement[client_id];
    if (!at.empty() && (at == requester || !member)) return at;  // kept where it is
    if (!at.empty()) {
      // It came through another node: it could not reach its own, or moved. It stays there.
      --job->placed[at];
      at = requester;
    } else {
      // The member with the fewest of the job's clients; the one it reached first on a tie.
      std::stable_partition(members.begin(), members.end(),
                            [&](const auto& m) { return m == requester; });
      at = *std::min_element(members.begin(), members.end(), [&](const auto& a, const auto& b) {
        return job->placed[a] < job->placed[b];
      });
    }
    ++job->placed[at];
    return at;
  }

  Result<v1::JoinReply> JoinHere(uint64_t id, const std::string& client_id,
                                 std::string_view enrolment_token) {
    std::lock_guard lock(mu_);
    TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(id));
    TRIBUTARY_RETURN_IF_ERROR(AdmitToJoin(*job, client_id, enrolment_token));
    auto known = job->clients.find(client_id);
    if (known == job->clients.end()) {
      const int workers = job->code ? job->code->n() : job->sequence ? job->sequence->n() : 0;
      if (workers && job->clients.size() >= static_cast<std::size_t>(workers)) {
        return Status::FailedPrecondition(JobName(id) + " is coded for " +
                                          std::to_string(workers) +
                                          " workers, and all of them have joined");
      }
      known = job->clients.emplace(client_id, job->clients.size()).first;
      internal::JournalRecord r;
      r.mutable_joined()->set_client_id(client_id);
      r.mutable_joined()->set_index(known->second);
      Journal(*job, r);
    }
    v1::JoinReply reply;
    *reply.mutable_job() = Info(*job);
    reply.set_access_token(options_.credentials->Issue(id, client_id));
    if (job->code) {
      const int worker = static_cast<int>(known->second);
      const auto task = job->code->Task(worker);
      auto* t = reply.mutable_task();
      t->set_worker(worker);
      t->set_workers(job->code->n());
      for (int p : task.partitions) t->add_partitions(p);
      for (double c : task.coefficients) t->add_coefficients(c);
    }
    return reply;
  }

  Status AuthorizeClient(uint64_t id, std::string_view client_id, std::string_view token) {
    std::lock_guard lock(mu_);
    TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(id));
    if (!job->restricted) return Status::Ok();
    return options_.credentials->Verify(id, client_id, token);
  }

  Result<PushTicket> BeginPush(const v1::UpdateHeader& h) {
    std::lock_guard lock(mu_);
    ++pushes_started_;
    TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(h.job_id()));
    TRIBUTARY_RETURN_IF_ERROR(CheckNotAcceptedBefore(*job, h));
    if (job->state != v1::JOB_STATE_RUNNING) {
      return Status::FailedPrecondition(JobName(job->id) + " is " +
                                        v1::JobState_Name(job->state) + "; it takes no updates");
    }
    if (h.task() != 0 && (!job->sequence || h.round() == 0)) {
      return Status::InvalidArgument("task applies to the rounds of sequentially coded jobs");
    }
    PushKey key{kInitialModelSender, 0};
    std::string what = "an update";
    if (h.round() == 0) {
      TRIBUTARY_RETURN_IF_ERROR(CheckInitialModelOpen(*job));
    } else {
      auto client = job->clients.find(h.client_id());
      if (client == job->clients.end()) {
        return Status::FailedPrecondition("client '" + h.client_id() + "' has not joined " +
                                          JobName(job->id));
      }
      TRIBUTARY_RETURN_IF_ERROR(TakePushToken(*job, client->second, h.client_id()));
      key = {client->second, h.task()};
      TRIBUTARY_RETURN_IF_ERROR(CheckRoundOpen(*job, h.round()));
      if (job->sequence) {
        TRIBUTARY_RETURN_IF_ERROR(FindTask(*job, client->second, h.task()).status());
        what = "the result of task " + std::to_string(h.task());
      }
      if (job->accepted_clients.count(key)) {
        return Status::AlreadyExists("client '" + h.client_id() + "' already pushed " + what +
                                     " for round " + std::to_string(h.round()));
      }
    }
    if (job->in_flight.count(key)) {
      return Status::AlreadyExists(what + " from client '" + h.client_id() + "' for round " +
                                   std::to_string(h.round()) + " is already streaming");
    }
    if (draining_ && job->accepted_clients.empty() && job->in_flight.empty()) {
      return Status::Unavailable("the node is shutting down: round " + std::to_string(h.round()) +
                                 " of " + JobName(job->id) +
                                 " has no update here yet; retry after the restart or elsewhere");
    }
    if (h.dtype() != job->spec.dtype()) {
      return Status::InvalidArgument("update dtype " + v1::DType_Name(h.dtype()) +
                                     " does not match the job's " +
                                     v1::DType_Name(job->spec.dtype()));
    }
    if (h.total_bytes() != job->model_bytes) {
      return Status::InvalidArgument("update has " + std::to_string(h.total_bytes()) +
                                     " bytes; " + JobName(job->id) + " expects " +
                                     std::to_string(job->model_bytes) + " (" +
                                     std::to_string(job->spec.params()) + " float32 values)");
    }
    if (h.num_examples() == 0) {
      return Status::InvalidArgument("num_examples must be > 0 (it is the update's weight)");
    }
    if (options_.max_streaming_pushes && streaming_pushes_ >= options_.max_streaming_pushes) {
      ++pushes_throttled_;
      return Status::ResourceExhausted(std::to_string(streaming_pushes_) +
                                       " pushes are streaming, the most this node takes at once; "
                                       "retry later");
    }
    // Slots the round's tree may still need for its partials, and in a group the slots of the
    // other nodes' partials (at the home) or of the home's model (elsewhere), are not for
    // updates.
    const std::size_t group_reserve =
        !job->grouped() ? 0 : job->is_home ? options_.peers->peers().size() : 1;
    auto slot = job->pool->FreeSlots() > job->partials_reserved + group_reserve
                    ? job->pool->Allocate()
                    : Result<shm::SlotHandle>(Status::ResourceExhausted("no free slot"));
    if (!slot) {
      ++pushes_exhausted_;
      return Status::ResourceExhausted("shared-memory pool of " + JobName(job->id) +
                                       " is full; retry later");
    }
    job->in_flight.insert(key);
    ++streaming_pushes_;
    Warm();  // after a scale to zero, the processes start while the update streams in
    PushTicket t;
    t.job = job->id;
    t.round = h.round();
    t.client_index = key.first;
    t.task = key.second;
    t.weight = static_cast<double>(h.num_examples());
    t.expected_bytes = job->model_bytes;
    t.pool = job->pool;
    t.slot = *slot;
    t.open = true;
    return t;
  }

  Result<v1::PushReply> CommitPush(PushTicket& t) {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(t.job);
    if (!t.open || it == jobs_.end()) return Status::Internal("push ticket is not open");
    Job& job = *it->second;
    t.open = false;
    --streaming_pushes_;
    job.in_flight.erase({t.client_index, t.task});
    if (t.round == 0) return CommitInitialModel(job, t);
    if (job.state != v1::JOB_STATE_RUNNING || job.round != t.round || job.phase != Phase::kOpen) {
      (void)t.pool->Release(t.slot);
      return Status::FailedPrecondition("round " + std::to_string(t.round) + " of " +
                                        JobName(job.id) + " closed while the update streamed");
    }
    job.accepted_clients.insert({t.client_index, t.task});
    ++updates_accepted_;
    bytes_accepted_ += t.expected_bytes;
    v1::PushReply reply;
    reply.set_round(job.round);
    reply.set_updates_in_round(static_cast<uint32_t>(job.accepted_clients.size()));
    if (job.sequence) {
      const int sgc_round = static_cast<int>(job.round) - 1;
      const auto* task = FindTask(job, t.client_index, t.task).value();
      job.results[{sgc_round, static_cast<int>(t.client_index), task->slot}] = {
          t.slot, static_cast<uint32_t>(task->job + 1)};
      CloseSequentialRoundIfAllowed(job);
      return reply;
    }
    job.accepted.push_back({t.client_index, t.slot, t.weight, t.checksum});
    internal::JournalRecord r;
    *r.mutable_accepted() = Record(job, job.accepted.back());
    Journal(job, r);
    if (job.eager()) {
      Place(job, job.accepted.back());
      if (!job.at_home()) {
        options_.peers->Progress(job.home, job.id, job.round,
                                 static_cast<uint32_t>(job.accepted.size()));
      } else if (job.state == v1::JOB_STATE_RUNNING &&
                 RoundUpdates(job) >= job.spec.clients_per_round()) {
        CloseRound(job);
      }
    } else {
      CloseIfDecodable(job);
    }
    return reply;
  }

  void AbortPush(PushTicket& t) {
    if (!t.open) return;
    std::lock_guard lock(mu_);
    t.open = false;
    --streaming_pushes_;
    (void)t.pool->Release(t.slot);
    auto it = jobs_.find(t.job);
    if (it != jobs_.end()) it->second->in_flight.erase({t.client_index, t.task});
  }

  Status BeginPull() {
    std::lock_guard lock(mu_);
    if (options_.max_streaming_pulls && streaming_pulls_ >= options_.max_streaming_pulls) {
      ++pulls_throttled_;
      return Status::ResourceExhausted(std::to_string(streaming_pulls_) +
                                       " pulls are streaming or waiting, the most this node "
                                       "serves at once; retry later");
    }
    ++streaming_pulls_;
    return Status::Ok();
  }

  void EndPull() {
    std::lock_guard lock(mu_);
    --streaming_pulls_;
  }

  uint64_t PullModel(uint64_t id, int64_t version, bool wait,
                     std::function<void(Result<ModelRef>)> done) {
    std::lock_guard lock(mu_);
    auto found = Find(id);
    if (!found) {
      done(found.error());
      return 0;
    }
    Job& job = **found;
    if (version < -1 || version > int64_t(job.spec.rounds())) {
      done(Status::OutOfRange("model version " + std::to_string(version) + " is outside 0.." +
                              std::to_string(job.spec.rounds()) + " of " + JobName(id)));
      return 0;
    }
    const uint32_t latest = job.versions.back().version;
    const uint32_t v = version < 0 ? latest : static_cast<uint32_t>(version);
    if (v <= latest) {
      done(Hold(job, v));
      return 0;
    }
    if (!wait || job.state != v1::JOB_STATE_RUNNING) {
      done(Status::NotFound("model version " + std::to_string(v) + " of " + JobName(id) +
                            " is not published yet (latest is " + std::to_string(latest) + ")"));
      return 0;
    }
    const uint64_t waiter = next_waiter_id_++;
    job.waiters.emplace(v, std::make_pair(waiter, std::move(done)));
    return waiter;
  }

  void CancelPull(uint64_t id, uint64_t waiter) {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    std::erase_if(it->second->waiters, [&](const auto& kv) { return kv.second.first == waiter; });
  }

  uint64_t AwaitTasks(uint64_t id, const std::string& client_id, uint32_t round, bool wait,
                      std::function<void(Result<v1::TasksReply>)> done) {
    std::lock_guard lock(mu_);
    auto found = Find(id);
    if (!found) {
      done(found.error());
      return 0;
    }
    Job& job = **found;
    if (!job.sequence) {
      done(Status::FailedPrecondition(
          JobName(id) + " is not sequentially coded; Join tells a coded worker its task"));
      return 0;
    }
    auto client = job.clients.find(client_id);
    if (client == job.clients.end()) {
      done(Status::FailedPrecondition("client '" + client_id + "' has not joined " + JobName(id)));
      return 0;
    }
    if (round == 0 || round > static_cast<uint32_t>(job.sequence->rounds())) {
      done(Status::OutOfRange("round " + std::to_string(round) + " is outside 1.." +
                              std::to_string(job.sequence->rounds()) + " of " + JobName(id)));
      return 0;
    }
    if (job.state == v1::JOB_STATE_COMPLETED) {
      done(Status::OutOfRange(JobName(id) + " completed; it has no further rounds"));
      return 0;
    }
    if (job.state != v1::JOB_STATE_RUNNING) {
      done(Status::FailedPrecondition(JobName(id) + " ended: " + job.message));
      return 0;
    }
    if (round <= job.round || !wait) {
      Status open = CheckRoundOpen(job, round);
      done(open.ok() ? Result<v1::TasksReply>(TasksOf(job, client->second)) : open);
      return 0;
    }
    const uint64_t waiter = next_waiter_id_++;
    job.task_waiters.emplace(round, TaskWaiter{waiter, client->second, std::move(done)});
    return waiter;
  }

  void CancelTasks(uint64_t id, uint64_t waiter) {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    std::erase_if(it->second->task_waiters,
                  [&](const auto& kv) { return kv.second.id == waiter; });
  }

  void ReleaseModel(ModelRef& m) {
    if (!m.pool) return;
    (void)m.pool->Release(m.slot);
    m.pool.reset();
  }

  // ---- node groups ----

  void OnPeerProgress(uint64_t id, uint32_t round, const std::string& node, uint32_t accepted) {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    Job& job = *it->second;
    if (!job.is_home || job.state != v1::JOB_STATE_RUNNING || job.round != round ||
        job.phase != Phase::kOpen) {
      return;
    }
    uint32_t& known = job.peer_accepted[node];
    known = std::max(known, accepted);  // calls may overtake each other
    if (RoundUpdates(job) >= job.spec.clients_per_round()) CloseRound(job);
  }

  Status OnPeerCloseRound(uint64_t id, uint32_t round) {
    std::lock_guard lock(mu_);
    TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(id));
    if (!job->grouped() || job->is_home) {
      return Status::FailedPrecondition("this node is home to " + JobName(id));
    }
    if (job->state != v1::JOB_STATE_RUNNING || job->round != round) {
      return Status::FailedPrecondition(JobName(id) + " is not in round " + std::to_string(round) +
                                        " here");
    }
    if (job->phase == Phase::kOpen) CloseRound(*job);
    return Status::Ok();
  }

  // A node the home could not reach when closing the round: the round goes on without what
  // that node accepted.
  void OnPeerUnreachable(uint64_t id, uint32_t round, const std::string& peer, const Status& s) {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    Job& job = *it->second;
    if (job.state != v1::JOB_STATE_RUNNING || job.round != round) return;
    LeaveOut(job, peer, "is unreachable (" + s.ToString() + ")");
  }

  // The home gives up on `peer`'s partial of the closed round.
  void LeaveOut(Job& job, const std::string& peer, const std::string& why) {
    if (!job.peers_pending.erase(peer)) return;
    spdlog::warn("{} round {}: node {} {}; the round goes on without its updates",
                 JobName(job.id), job.round, peer, why);
    job.peer_accepted.erase(peer);
    ++peers_left_out_;
    if (job.peers_pending.empty()) CloseAggregation(job);
  }

  // Another node's round is aggregated (or had nothing): its partial goes to the home, and the
  // round waits for the home's model.
  void SendPartialHome(Job& job) {
    const uint32_t updates = job.round_updates;
    double weight = 0;
    for (const auto& u : job.accepted) weight += u.weight;
    std::span<const std::byte> data;
    if (updates) {
      data = job.pool->Bytes(job.output.index).first(job.model_bytes);
      (void)job.pool->Acquire(job.output);  // until sent
    }
    options_.peers->SendPartial(
        job.home, job.id, job.round, updates, weight, data,
        [this, id = job.id, round = job.round, pool = job.pool, slot = job.output,
         updates](const Status& s) {
          if (updates) (void)pool->Release(slot);
          if (s.ok()) return;
          std::lock_guard lock(mu_);
          auto it = jobs_.find(id);
          if (it == jobs_.end() || it->second->round != round ||
              it->second->state != v1::JOB_STATE_RUNNING) {
            return;
          }
          EndJob(*it->second, v1::JOB_STATE_FAILED,
                 "round " + std::to_string(round) + ": sending this node's partial to the home " +
                     it->second->home + " failed: " + s.ToString());
        });
  }

  Result<PeerTransfer> BeginPeerTransfer(PeerTransfer t) {
    std::lock_guard lock(mu_);
    TRIBUTARY_ASSIGN_OR_RETURN(Job * job, Find(t.job));
    const std::string what = t.model ? "model version " + std::to_string(t.round)
                                     : "partial of round " + std::to_string(t.round);
    if (job->state != v1::JOB_STATE_RUNNING || job->phase != Phase::kClosed ||
        job->round != t.round) {
      return Status::FailedPrecondition(JobName(t.job) + " does not wait for a " + what +
                                        " (round " + std::to_string(job->round) + ")");
    }
    if (t.model ? job->at_home() : !job->is_home || !job->peers_pending.count(t.node)) {
      return Status::FailedPrecondition(JobName(t.job) + " takes no " + what + " from " +
                                        t.node + " here");
    }
    const std::size_t expected = (t.model || t.updates) ? job->model_bytes : 0;
    if (t.expected_bytes != expected) {
      return Status::InvalidArgument(what + " has " + std::to_string(t.expected_bytes) +
                                     " bytes; expected " + std::to_string(expected));
    }
    if (!t.model && t.updates > 0 && !(t.weight > 0 && std::isfinite(t.weight))) {
      return Status::InvalidArgument(what + ": weight must be finite and > 0");
    }
    t.pool = job->pool;
    if (expected) {
      auto slot = job->pool->Allocate();
      if (!slot) return slot.error().WithContext(what);
      t.slot = *slot;
    }
    t.open = true;
    return t;
  }

  Status CommitPeerTransfer(PeerTransfer& t) {
    std::lock_guard lock(mu_);
    t.open = false;
    auto it = jobs_.find(t.job);
    const bool has_slot = t.expected_bytes > 0;
    auto give_back = [&](Status s) {
      if (has_slot) (void)t.pool->Release(t.slot);
      return s;
    };
    if (it == jobs_.end()) return give_back(Status::NotFound(JobName(t.job) + " ended"));
    Job& job = *it->second;
    if (job.state != v1::JOB_STATE_RUNNING || job.round != t.round ||
        job.phase != Phase::kClosed || job.pool != t.pool) {
      return give_back(Status::FailedPrecondition(JobName(t.job) + " moved on"));
    }
    if (t.model) {
      peer_model_bytes_ += t.expected_bytes;
      (void)job.pool->Release(job.output);  // this node's partial, sent
      job.output = t.slot;
      job.round_updates = t.updates;
      Publish(job);
      return Status::Ok();
    }
    if (!job.peers_pending.erase(t.node)) {
      return give_back(Status::AlreadyExists("the partial of " + t.node + " is in already"));
    }
    peer_partial_bytes_ += t.expected_bytes;
    if (t.updates) {
      job.peer_partials.push_back({kPeerPartial, t.slot, t.weight});
      job.round_updates += t.updates;
      Place(job, job.peer_partials.back());
    }
    if (job.peers_pending.empty()) CloseAggregation(job);
    return Status::Ok();
  }

  void AbortPeerTransfer(PeerTransfer& t) {
    if (!t.open) return;
    t.open = false;
    if (t.expected_bytes > 0) (void)t.pool->Release(t.slot);
  }

  // The home sends a version it published to every other node.
  void SendModelToPeers(Job& job, const PublishedModel& v) {
    for (const auto& peer : options_.peers->peers()) {
      if (!job.pool->Acquire(v.slot).ok()) return;
      options_.peers->SendModel(
          peer, job.id, v.version, job.round_updates,
          job.pool->Bytes(v.slot.index).first(job.model_bytes),
          [pool = job.pool, slot = v.slot, peer, id = job.id](const Status& s) {
            (void)pool->Release(slot);
            if (!s.ok()) {
              spdlog::warn("{}: sending the model to {}: {}", JobName(id), peer, s.ToString());
            }
          });
    }
  }
  // ---- node runtime events ----

  void OnAggregatorReply(const shm::Descriptor& d) {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(d.job);
    if (it == jobs_.end()) return;
    Job& job = *it->second;
    const uint32_t lane = d.shard;
    if (job.state != v1::JOB_STATE_RUNNING || job.aggregating != d.round || !job.routed() ||
        lane >= job.lane_done.size() || job.lane_done[lane] ||
        !job.tree.node(lane / job.shards).flushed) {
      return;  // a late or repeated reply for work that is already settled
    }
    const uint32_t node = lane / job.shards;
    if (shm::KindOf(d) == shm::DescriptorKind::kFailed) {
      const auto code = static_cast<StatusCode>(d.client);
      const auto& n = job.tree.node(node);
      EndJob(job, v1::JOB_STATE_FAILED,
             "aggregating shard " + std::to_string(lane % job.shards) +
                 (job.tree.size() > 1 ? " of tree node " + std::to_string(n.level) + "." +
                                            std::to_string(n.index)
                                      : std::string()) +
                 " of round " + std::to_string(d.round) + " failed: " +
                 std::string(StatusCodeName(code)) + ": " + FailureMessage(job, d));
      return;
    }
    job.lane_done[lane] = true;
    autoscaler_.ObserveService(d.client, d.weight);
    if (--job.node_pending[node] == 0) NodeDone(job, node);
  }

  void OnInstanceLost(ebpf::InstanceId instance, pid_t pid, const std::string& cause) {
    std::lock_guard lock(mu_);
    ++instances_lost_;
    for (auto& [id, job] : jobs_) {
      if (!job->pool) continue;
      // A worker holds references only while it is inside the rule (Add or Finish), so the
      // jobs with references to reclaim are the ones whose rule was running when it died.
      const uint32_t held = job->pool->Reclaim(pid);
      if (held) {
        spdlog::info("{}: reclaimed {} slot references of dead aggregator pid {}", JobName(id),
                     held, pid);
      }
      if (job->state != v1::JOB_STATE_RUNNING || !job->routed()) continue;
      if (held && ++job->deaths_in_rule >= kMaxDeathsInRule) {
        EndJob(*job, v1::JOB_STATE_FAILED,
               "round " + std::to_string(job->round) + ": the aggregator process running rule " +
                   job->spec.rule() + " died " + std::to_string(job->deaths_in_rule) +
                   " times (last " + cause + ")");
        continue;
      }
      for (uint32_t lane = 0; lane < job->lane_instance.size(); ++lane) {
        if (job->lane_instance[lane] == instance && !job->lane_done[lane]) {
          job->lane_instance[lane] = 0;
          AssignTask(*job, lane);
        }
      }
    }
  }

  void OnInstanceReady(ebpf::InstanceId) {
    std::lock_guard lock(mu_);
    // The idle time before a scale to zero counts from here at the earliest: a pool still
    // starting (the node's first processes, or after Warm) is not idle.
    last_busy_ = Clock::now();
    instance_seen_ = true;
    if (warming_since_ != Clock::time_point()) {
      spdlog::info("first aggregator process back {:.3f} s after work arrived",
                   Seconds(Clock::now() - warming_since_));
      warming_since_ = {};
    }
    for (auto& [id, job] : jobs_) {
      if (job->state != v1::JOB_STATE_RUNNING || !job->routed()) continue;
      for (uint32_t lane = 0; lane < job->lane_instance.size(); ++lane) {
        if (job->lane_instance[lane] == 0 && !job->lane_done[lane]) AssignTask(*job, lane);
      }
    }
  }

  void Drain() {
    std::lock_guard lock(mu_);
    draining_ = true;
  }

  bool Drained() const {
    std::lock_guard lock(mu_);
    return std::none_of(jobs_.begin(), jobs_.end(), [](const auto& kv) {
      const Job& job = *kv.second;
      return job.state == v1::JOB_STATE_RUNNING &&
             (job.phase == Phase::kClosed ||
              (job.phase == Phase::kOpen &&
               (!job.accepted_clients.empty() || !job.in_flight.empty())));
    });
  }

  std::vector<JobLoad> Loads() const {
    std::lock_guard lock(mu_);
    return LoadsLocked();
  }

  uint64_t WatchLoads(std::function<void(const std::vector<JobLoad>&)> changed) {
    std::lock_guard lock(mu_);
    const uint64_t id = next_waiter_id_++;
    changed(LoadsLocked());
    load_watchers_[id] = std::move(changed);
    return id;
  }

  void UnwatchLoads(uint64_t id) {
    std::lock_guard lock(mu_);
    load_watchers_.erase(id);
  }

  std::string MetricsText() const {
    std::lock_guard lock(mu_);
    std::ostringstream o;
    auto metric = [&](const char* name, const char* type, const char* help, auto value) {
      WriteMetric(o, name, type, help, value);
    };
    metric("tributary_pushes_started_total", "counter", "Push streams that sent a header.",
           pushes_started_);
    metric("tributary_updates_accepted_total", "counter", "Updates accepted into a round.",
           updates_accepted_);
    metric("tributary_update_bytes_accepted_total", "counter", "Payload bytes accepted.",
           bytes_accepted_);
    metric("tributary_pushes_pool_full_total", "counter",
           "Pushes refused because the job's pool was full.", pushes_exhausted_);
    metric("tributary_pushes_throttled_total", "counter",
           "Pushes refused by the per-client rate or the streaming-push limit.",
           pushes_throttled_);
    metric("tributary_pushes_streaming", "gauge", "Pushes streaming now.", streaming_pushes_);
    metric("tributary_pulls_streaming", "gauge",
           "Pulls streaming or waiting for their version now.", streaming_pulls_);
    metric("tributary_pulls_throttled_total", "counter",
           "Pulls refused by the streaming-pull limit.", pulls_throttled_);
    metric("tributary_rounds_published_total", "counter", "Global model versions published.",
           rounds_published_);
    metric("tributary_aggregators_scaled_to_zero", "gauge",
           "1 while the aggregator processes are scaled to zero for lack of work.",
           scaled_to_zero_ ? 1 : 0);
    metric("tributary_aggregator_scale_events_total", "counter",
           "Scales of the aggregator processes to zero and back.", scale_events_);
    metric("tributary_checkpoint_errors_total", "counter",
           "Checkpoints, journal records and model files that could not be written.",
           checkpoint_errors_);
    metric("tributary_model_files_written_total", "counter",
           "Published models written to the data directory.", model_files_written_);
    metric("tributary_model_files_skipped_total", "counter",
           "Published models not written because a newer one of the job was published first.",
           model_files_skipped_);
    metric("tributary_aggregator_instances_lost_total", "counter",
           "Aggregator processes that died.", instances_lost_);
    if (options_.peers) {
      metric("tributary_peer_partial_bytes_received_total", "counter",
             "Bytes of other nodes' partials received (at their jobs' home).",
             peer_partial_bytes_);
      metric("tributary_peer_rounds_left_out_total", "counter",
             "Rounds that went on without a node that was unreachable or sent no partial.",
             peers_left_out_);
      metric("tributary_peer_model_bytes_received_total", "counter",
             "Bytes of models received from their jobs' home.", peer_model_bytes_);
      metric("tributary_peer_partial_bytes_sent_total", "counter",
             "Bytes of this node's partials sent to their jobs' home.",
             options_.peers->partial_bytes_sent());
      metric("tributary_peer_model_bytes_sent_total", "counter",
             "Bytes of models this node sent as their jobs' home.",
             options_.peers->model_bytes_sent());
    }
    metric("tributary_aggregator_instances", "gauge", "Aggregator processes live now.",
           instances_->LiveInstances().size());
    metric("tributary_aggregator_instances_promoted_total", "counter",
           "Middle and top tasks given to an instance that had run a leaf of the same round.",
           instances_promoted_);
    metric("tributary_aggregator_arrival_rate", "gauge",
           "Descriptors per second reaching the aggregators (EWMA of the router's counters).",
           autoscaler_.arrival_rate());
    metric("tributary_aggregator_service_rate", "gauge",
           "Descriptors per second one aggregator folds (measured, or set by the operator).",
           autoscaler_.service_rate());
    metric("tributary_shm_bytes_reserved", "gauge", "Shared memory reserved by job pools.",
           used_bytes_);
    o << "# HELP tributary_job_free_slots Free slots in each job's pool.\n"
         "# TYPE tributary_job_free_slots gauge\n";
    for (const auto& [id, job] : jobs_) {
      if (job->pool) o << "tributary_job_free_slots{job=\"" << id << "\"} " << job->pool->FreeSlots() << '\n';
    }
    return o.str();
  }

 private:
  // The text a failing aggregator left at the start of its shard of the descriptor's target
  // slot (d.bytes long; see TRIBUTARY_DESC_FAILED).
  static std::string FailureMessage(const Job& job, const shm::Descriptor& d) {
    if (d.target_slot >= job.pool->num_slots()) return "(no message)";
    const shm::ShardRange r = shm::ShardOf(job.spec.params(), job.shards, shm::ShardIndexOf(d));
    const auto text = job.pool->Bytes(d.target_slot)
                          .subspan(r.begin * sizeof(float), r.size() * sizeof(float));
    const std::size_t n = std::min<std::size_t>(d.bytes, text.size());
    if (n == 0) return "(no message)";
    return std::string(reinterpret_cast<const char*>(text.data()), n);
  }

  static Result<std::unique_ptr<robust::coding::SequentialScheduler>> CreateSequence(
      robust::coding::SequentialScheme scheme, const v1::JobSpec& spec) {
    const v1::CodingSpec& c = spec.coding();
    if (c.burst() == 0 || c.window() == 0 || c.window_stragglers() == 0) {
      return Status::InvalidArgument(c.scheme() +
                                     " needs burst, window and window_stragglers (all >= 1)");
    }
    if (c.window() > 64) return Status::InvalidArgument("window exceeds 64 rounds");
    if (double(spec.rounds()) * spec.clients_per_round() * (double(c.window()) + c.burst()) >
        kMaxSequentialWork) {
      return Status::InvalidArgument(
          c.scheme() + " jobs are limited to rounds x clients_per_round x (window + burst) <= " +
          std::to_string(kMaxSequentialWork));
    }
    auto built = robust::coding::SequentialScheduler::Create(
        {.scheme = scheme,
         .n = static_cast<int>(spec.clients_per_round()),
         .burst = static_cast<int>(c.burst()),
         .window = static_cast<int>(c.window()),
         .lambda = static_cast<int>(c.window_stragglers()),
         .jobs = static_cast<int>(spec.rounds()),
         .seed = c.seed() ? c.seed() : 1});
    if (!built) return built.error().WithContext(c.scheme());
    return std::move(*built);
  }

  // One push attempt from a client of `job`, against its token bucket (refill rate
  // push_rate_per_client, capacity push_burst). Refused attempts count too: a client retrying
  // in a tight loop is what the limit is for.
  Status TakePushToken(Job& job, uint64_t client, const std::string& client_id) {
    if (options_.push_rate_per_client <= 0) return Status::Ok();
    const auto now = Clock::now();
    const double burst = std::max(1.0, options_.push_burst);
    auto [it, fresh] = job.push_tokens.try_emplace(client, burst, now);
    auto& [tokens, at] = it->second;
    tokens = std::min(burst, tokens + Seconds(now - at) * options_.push_rate_per_client);
    at = now;
    if (tokens < 1) {
      ++pushes_throttled_;
      return Status::ResourceExhausted(
          "client '" + client_id + "' exceeds " + std::to_string(options_.push_rate_per_client) +
          " pushes per second on " + JobName(job.id) + "; retry later");
    }
    tokens -= 1;
    return Status::Ok();
  }

  Result<Job*> Find(uint64_t id) const {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return Status::NotFound(JobName(id) + " does not exist");
    return it->second.get();
  }

  // Version 0 may be replaced until round 1 accepts its first update.
  static Status CheckInitialModelOpen(const Job& job) {
    if (job.state == v1::JOB_STATE_RUNNING && job.round == 1 && job.phase == Phase::kOpen &&
        job.accepted_clients.empty() && job.versions.size() == 1) {
      return Status::Ok();
    }
    return Status::FailedPrecondition("the initial model of " + JobName(job.id) +
                                      " can be set only before round 1 receives an update");
  }

  Result<v1::PushReply> CommitInitialModel(Job& job, PushTicket& t) {
    if (Status s = CheckInitialModelOpen(job); !s.ok()) {
      (void)t.pool->Release(t.slot);
      return s;
    }
    PublishedModel& v0 = job.versions.front();
    (void)job.pool->Release(v0.slot);  // pulls still reading it hold their own reference
    v0.slot = t.slot;
    v0.checksum = XXH3_64bits(job.pool->Bytes(t.slot.index).data(), job.model_bytes);
    v0.on_disk = false;
    PersistVersion(job, v0);
    spdlog::info("{}: initial model set", JobName(job.id));
    v1::PushReply reply;
    reply.set_round(0);
    return reply;
  }

  // ALREADY_EXISTS for a push retried after its round closed (or its job completed) with the
  // update accepted: the client lost the acknowledgement, not the update.
  static Status CheckNotAcceptedBefore(const Job& job, const v1::UpdateHeader& h) {
    auto client = job.clients.find(h.client_id());
    if (h.round() == 0 || client == job.clients.end()) return Status::Ok();
    const PushKey key{client->second, h.task()};
    const bool accepted =
        (h.round() == job.round && job.phase != Phase::kOpen && job.accepted_clients.count(key)) ||
        (h.round() == job.last_round && job.last_round_clients.count(key));
    if (!accepted) return Status::Ok();
    return Status::AlreadyExists("client '" + h.client_id() + "' already pushed for round " +
                                 std::to_string(h.round()) + ", which accepted it");
  }

  static Status CheckRoundOpen(const Job& job, uint32_t round) {
    if (round == job.round && job.phase == Phase::kOpen) return Status::Ok();
    if (round <= job.round) {
      return Status::FailedPrecondition(
          "round " + std::to_string(round) + " of " + JobName(job.id) +
          " is closed; the open round is " +
          (job.phase == Phase::kOpen ? std::to_string(job.round) : std::string("none yet")));
    }
    return Status::FailedPrecondition("round " + std::to_string(round) + " of " +
                                      JobName(job.id) + " is not open yet; the open round is " +
                                      std::to_string(job.round));
  }

  static v1::RoundEvent::Kind TerminalKind(v1::JobState s) {
    switch (s) {
      case v1::JOB_STATE_COMPLETED: return v1::RoundEvent::JOB_COMPLETED;
      case v1::JOB_STATE_CANCELLED: return v1::RoundEvent::JOB_CANCELLED;
      default: return v1::RoundEvent::JOB_FAILED;
    }
  }

  // ---- checkpoints ----

  // Rebuilds a job from its checkpoint and journal. A running job takes its pool back when
  // the shared memory outlived the node's process (a crash rather than a reboot): the retained
  // models and the updates its open round had accepted are found in place and checked against
  // their checksums; models missing there are read from the store, and accepted updates
  // missing there are lost (their clients push them again). The job goes on from the round
  // after its latest surviving model.
  void ResumeJob(const StoredJob& stored) {
    const internal::JobCheckpoint& c = stored.checkpoint;
    const uint64_t id = c.job_id();
    if (id == 0 || id > kMaxJobId || jobs_.count(id)) {
      spdlog::warn("checkpoints: job id {} is not one this node gives; skipped", id);
      return;
    }
    next_job_id_ = std::max(next_job_id_, id + 1);
    v1::JobSpec spec = c.spec();
    if (!spec.coding().scheme().empty()) spec.clear_rule();  // derived from the code
    auto plan = PlanJob(spec);
    std::shared_ptr<Job> job;
    if (plan) {
      job = NewJob(id, *plan, c.shards());
    } else {
      job = std::make_shared<Job>();
      job->id = id;
      job->spec = c.spec();
    }
    jobs_[id] = job;
    job->state = c.state();
    job->message = c.message();
    for (const auto& [client, index] : c.clients()) job->clients[client] = index;
    std::vector<internal::AcceptedUpdate> accepted(c.accepted().begin(), c.accepted().end());
    for (const auto& r : stored.journal) {
      if (r.has_joined()) job->clients.emplace(r.joined().client_id(), r.joined().index());
      if (r.has_accepted()) accepted.push_back(r.accepted());
    }
    for (const auto& v : c.versions()) {
      job->versions.push_back({v.version(), {v.slot(), v.generation()}, v.checksum(), v.on_disk()});
    }
    if (job->versions.empty()) job->versions.push_back({0, {}, 0, false});
    auto fail = [&](const std::string& why) {
      job->state = v1::JOB_STATE_FAILED;
      job->message = why;
      job->versions.erase(job->versions.begin(), job->versions.end() - 1);  // the label only
      spdlog::warn("{} not resumed: {}", JobName(id), why);
      Checkpoint(*job);
    };
    if (!plan) return fail("its spec no longer holds: " + plan.error().message());
    if (c.state() < v1::JOB_STATE_RUNNING || c.state() > v1::JOB_STATE_FAILED) {
      return fail("its checkpoint holds no job state");
    }
    // Client indices are 0..n-1 in the order clients joined (a coded job's worker indices).
    std::vector<bool> taken(job->clients.size(), false);
    for (const auto& [client, index] : job->clients) {
      if (index >= taken.size() || taken[index]) return fail("its client table is inconsistent");
      taken[index] = true;
    }
    const std::size_t workers =
        job->code ? job->code->n() : job->sequence ? job->sequence->n() : SIZE_MAX;
    if (job->clients.size() > workers) return fail("more clients joined it than it has workers");
    if (job->state == v1::JOB_STATE_COMPLETED) return ResumeFinalModel(*job, *plan);
    if (job->state != v1::JOB_STATE_RUNNING) return;
    if (job->sequence) {
      if (IsPoolOf(c.pool(), id)) (void)shm::SlotPool::Remove(c.pool());
      return fail("sequentially coded jobs do not resume after a restart of the node");
    }
    if (Status s = CheckBudget(plan->needed); !s.ok()) return fail(s.message());
    auto adopted = AdoptPool(c.pool(), id, *plan);
    if (adopted) {
      job->pool = *adopted;
    } else {
      spdlog::info("{}: {}; its open round starts again", JobName(id), adopted.error().message());
      auto created = CreatePool(*job, *plan);
      if (!created) return fail(created.error().message());
      job->pool = *created;
    }
    used_bytes_ += plan->needed;
    job_bytes_[id] = plan->needed;
    // Take what the pool still holds before dropping the dead process's references to it.
    auto from_pool = [&](shm::SlotHandle slot, uint64_t checksum) {
      if (!adopted || slot.index >= job->pool->num_slots() || !job->pool->Acquire(slot).ok()) {
        return false;
      }
      if (XXH3_64bits(job->pool->Bytes(slot.index).data(), job->model_bytes) == checksum) {
        return true;
      }
      (void)job->pool->Release(slot);
      return false;
    };
    std::vector<PublishedModel> missing;
    std::vector<PublishedModel> kept;
    for (const auto& v : job->versions) (from_pool(v.slot, v.checksum) ? kept : missing).push_back(v);
    std::vector<AcceptedUpdate> carried;
    std::set<uint64_t> seen;
    for (const auto& u : accepted) {
      if (u.round() != c.round() || u.client_index() >= job->clients.size() ||
          !std::isfinite(u.weight()) || (job->eager() && !(u.weight() > 0)) ||
          !seen.insert(u.client_index()).second) {
        continue;
      }
      const shm::SlotHandle slot{u.slot(), u.generation()};
      if (from_pool(slot, u.checksum())) {
        carried.push_back({u.client_index(), slot, u.weight(), u.checksum()});
      }
    }
    if (adopted) {
      const uint32_t dropped = job->pool->ReclaimDead();
      spdlog::info("{}: took its pool back; {} references of the previous process dropped",
                   JobName(id), dropped);
    }
    for (auto v : missing) {  // from the store
      if (!v.on_disk) continue;
      auto slot = job->pool->Allocate();
      if (!slot) continue;
      auto bytes = job->pool->Bytes(slot->index).first(job->model_bytes);
      if (!store_->ReadModel(id, v.version, bytes).ok() ||
          XXH3_64bits(bytes.data(), bytes.size()) != v.checksum) {
        (void)job->pool->Release(*slot);
        continue;
      }
      v.slot = *slot;
      kept.push_back(v);
    }
    std::sort(kept.begin(), kept.end(),
              [](const auto& a, const auto& b) { return a.version < b.version; });
    if (kept.empty()) {
      job->pool.reset();
      (void)shm::SlotPool::Remove(PoolName(id));
      used_bytes_ -= plan->needed;
      job_bytes_.erase(id);
      return fail("none of its published models survived the restart");
    }
    for (const auto& v : kept) {
      if (v.on_disk) job->newest_on_disk = Job::ModelOnDisk{v.version, v.checksum};
    }
    while (kept.size() > options_.retained_versions) {  // an older one on disk came back too
      (void)job->pool->Release(kept.front().slot);
      kept.erase(kept.begin());
    }
    job->versions = std::move(kept);
    const uint32_t latest = job->versions.back().version;
    const std::size_t lost = seen.size() - carried.size();
    if (latest + 1 != c.round()) {
      for (const auto& u : carried) (void)job->pool->Release(u.slot);
      carried.clear();
    }
    spdlog::info("{} resumed: model versions {}..{}, round {} with {} accepted updates{}",
                 JobName(id), job->versions.front().version, latest, latest + 1, carried.size(),
                 lost ? " (" + std::to_string(lost) + " lost: their clients push again)" : "");
    if (latest >= job->spec.rounds()) return EndJob(*job, v1::JOB_STATE_COMPLETED, "");
    OpenRound(*job, latest + 1, std::move(carried));
  }

  // Removes the shared memory a previous process of this node left that no resumed job took
  // back (pools of jobs that ended, final models, which come back from the store).
  void RemoveUnclaimedPools() {
    std::set<std::string> claimed;
    for (const auto& [id, job] : jobs_) {
      if (job->pool) claimed.insert(job->pool->name());
    }
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(shm::PosixSegmentDir(), ec)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(options_.pool_prefix) && !claimed.count(name)) {
        spdlog::info("removing shared memory {} that no resumed job claims", name);
        (void)shm::SlotPool::Remove(name);
      }
    }
  }

  // The pool `name` of a previous process, renamed to this node's name for job `id` (which
  // its aggregators open); an error when there is none fit for `plan`.
  Result<std::shared_ptr<shm::SlotPool>> AdoptPool(const std::string& name, uint64_t id,
                                                   const JobPlan& plan) {
    const std::string own = PoolName(id);
    std::error_code ec;
    if (!IsPoolOf(name, id) || !std::filesystem::exists(shm::PosixSegmentPath(name), ec)) {
      return Status::NotFound("its shared memory did not outlive the node");
    }
    if (name != own) {
      // Another node's pool: taken only from a node process that is gone.
      unsigned long pid = 0;
      if (std::sscanf(name.c_str(), "tributary-p%lu-", &pid) != 1 || pid == 0 ||
          kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) {
        return Status::NotFound("its pool " + name + " belongs to a node that still runs");
      }
      std::filesystem::rename(shm::PosixSegmentPath(name), shm::PosixSegmentPath(own), ec);
    }
    if (ec) return Status::FromErrno("renaming the pool " + name, ec.value());
    auto pool = shm::SlotPool::Open(own);
    if (!pool) return pool.error();
    if ((*pool)->slot_bytes() < plan.model_bytes) {
      return Status::FailedPrecondition("its pool no longer fits the model");
    }
    return std::shared_ptr<shm::SlotPool>(std::move(pool).value());
  }

  // Whether `name` can be the pool some node of this machine made for job `id`: a plain shm
  // name (a checkpoint is data, not a path to follow).
  static bool IsPoolOf(const std::string& name, uint64_t id) {
    const std::string suffix = "-job-" + std::to_string(id);
    return name.starts_with("tributary-") && name.ends_with(suffix) &&
           name.size() > 10 + suffix.size() && name.size() <= 200 &&
           name.find('/') == std::string::npos;
  }

  // A completed job keeps its final model readable, from the store.
  void ResumeFinalModel(Job& job, const JobPlan& plan) {
    const PublishedModel last = job.versions.back();
    job.versions = {last};
    job.message = "its final model did not survive the restart of the node";
    if (!last.on_disk || !CheckBudget(shm::SlotPool::SegmentBytes(plan.model_bytes, 1)).ok()) {
      return;
    }
    const std::string name = PoolName(job.id) + "-final";
    auto pool = shm::SlotPool::Create(
        {.name = name, .slot_bytes = plan.model_bytes, .num_slots = 1, .metadata = "{}"});
    if (!pool) return;
    auto slot = (*pool)->Allocate();
    auto bytes = (*pool)->Bytes(slot ? slot->index : 0).first(plan.model_bytes);
    if (!slot || !store_->ReadModel(job.id, last.version, bytes).ok() ||
        XXH3_64bits(bytes.data(), bytes.size()) != last.checksum) {
      (void)shm::SlotPool::Remove(name);
      return;
    }
    job.message.clear();
    job.pool = std::shared_ptr<shm::SlotPool>(std::move(pool).value());
    job.versions.back().slot = *slot;
    const uint64_t used = job.pool->Mapping().size();
    used_bytes_ += used;
    job_bytes_[job.id] = used;
  }

  internal::AcceptedUpdate Record(const Job& job, const AcceptedUpdate& u) const {
    internal::AcceptedUpdate r;
    r.set_round(job.round);
    r.set_client_index(u.client_index);
    r.set_slot(u.slot.index);
    r.set_generation(u.slot.generation);
    r.set_weight(u.weight);
    r.set_checksum(u.checksum);
    return r;
  }

  // Writes the checkpoint of `job` as it stands (see checkpoint_store.h), or, given
  // `empty_round`, as it stands with that round open and no update accepted in it.
  // Jobs of a group are not checkpointed: their rounds span the group's nodes.
  void Checkpoint(const Job& job, std::optional<uint32_t> empty_round = std::nullopt) {
    if (!store_ || job.grouped()) return;
    internal::JobCheckpoint c;
    c.set_job_id(job.id);
    *c.mutable_spec() = job.spec;
    c.set_state(job.state);
    c.set_message(job.message);
    c.set_shards(job.shards);
    if (job.pool) c.set_pool(job.pool->name());
    c.set_round(job.state != v1::JOB_STATE_RUNNING ? 0 : empty_round.value_or(job.round));
    std::vector<uint32_t> retained;
    // The newest model on disk, when no longer retained, comes first (the oldest) and names no
    // slot: a restart that lost the pool reads it from its file.
    const auto& disk = job.newest_on_disk;
    if (disk && std::none_of(job.versions.begin(), job.versions.end(),
                             [&](const auto& v) { return v.version == disk->version; })) {
      auto* r = c.add_versions();
      r->set_version(disk->version);
      r->set_checksum(disk->checksum);
      r->set_slot(UINT32_MAX);
      r->set_on_disk(true);
      retained.push_back(disk->version);
    }
    for (const auto& v : job.versions) {
      auto* r = c.add_versions();
      r->set_version(v.version);
      r->set_checksum(v.checksum);
      r->set_slot(v.slot.index);
      r->set_generation(v.slot.generation);
      r->set_on_disk(v.on_disk);
      retained.push_back(v.version);
    }
    for (const auto& [client, index] : job.clients) (*c.mutable_clients())[client] = index;
    if (job.state == v1::JOB_STATE_RUNNING && !job.sequence && !empty_round) {
      for (const auto& u : job.accepted) *c.add_accepted() = Record(job, u);
    }
    if (Status s = store_->Write(c); !s.ok()) {
      ++checkpoint_errors_;
      spdlog::error("{}: checkpoint: {}", JobName(job.id), s.ToString());
      return;
    }
    // Queued behind the writes of the retained versions, so those are never removed.
    model_files_.push_back(ModelRemoval{job.id, std::move(retained)});
    checkpoint_cv_.notify_one();
  }

  void Journal(const Job& job, const internal::JournalRecord& r) {
    if (!store_ || job.sequence || job.grouped()) return;
    if (Status s = store_->Append(job.id, r); !s.ok()) {
      ++checkpoint_errors_;
      spdlog::error("{}: journal: {}", JobName(job.id), s.ToString());
    }
  }

  // Queues the bytes of `v` for the store, holding a reference on its slot until they are
  // written; from then on the job's checkpoints list it as on disk. It is due
  // model_write_interval after the job's last model file began (a running job's; at once
  // otherwise). A version of the job still queued is dropped for it: when rounds publish
  // faster than that, only the newest model is worth writing (a restart resumes from the newest
  // one on disk), and the queue holds at most one model per job, whatever the pace.
  void PersistVersion(Job& job, const PublishedModel& v) {
    if (!store_ || !job.pool->Acquire(v.slot).ok()) return;
    std::erase_if(model_files_, [&](auto& task) {
      auto* older = std::get_if<ModelWrite>(&task);
      if (!older || older->job != job.id) return false;
      (void)older->pool->Release(older->slot);
      ++model_files_skipped_;
      return true;
    });
    const Clock::time_point due = job.state == v1::JOB_STATE_RUNNING
                                      ? job.model_write_started + options_.model_write_interval
                                      : Clock::time_point{};
    model_files_.push_back(
        ModelWrite{job.id, v.version, v.checksum, job.pool, v.slot, job.model_bytes, due});
    checkpoint_cv_.notify_one();
  }

  // Makes the model file of `job` still queued due at once (its final model).
  void WriteModelNow(const Job& job) {
    for (auto& task : model_files_) {
      if (auto* w = std::get_if<ModelWrite>(&task); w && w->job == job.id) w->due = {};
    }
    checkpoint_cv_.notify_one();
  }

  // Does the queued file work in order, each task once due (all of it once stopping).
  void CheckpointLoop() {
    auto due_at = [](const auto& task) {
      const auto* w = std::get_if<ModelWrite>(&task);
      return w ? w->due : Clock::time_point{};
    };
    std::unique_lock lock(mu_);
    for (;;) {
      checkpoint_cv_.wait(lock, [&] { return stopping_ || !model_files_.empty(); });
      if (model_files_.empty()) return;
      const auto now = Clock::now();
      auto next = std::find_if(model_files_.begin(), model_files_.end(),
                               [&](const auto& t) { return stopping_ || due_at(t) <= now; });
      if (next == model_files_.end()) {
        auto soonest = Clock::time_point::max();
        for (const auto& t : model_files_) soonest = std::min(soonest, due_at(t));
        checkpoint_cv_.wait_until(lock, soonest);
        continue;
      }
      auto task = std::move(*next);
      model_files_.erase(next);
      if (auto* w = std::get_if<ModelWrite>(&task)) {
        if (auto it = jobs_.find(w->job); it != jobs_.end()) {
          it->second->model_write_started = now;
        }
      }
      lock.unlock();
      if (auto* removal = std::get_if<ModelRemoval>(&task)) {
        store_->RemoveModelsExcept(removal->job, removal->keep);
        lock.lock();
        continue;
      }
      ModelWrite& w = std::get<ModelWrite>(task);
      Status s = store_->WriteModel(w.job, w.version, w.pool->Bytes(w.slot.index).first(w.bytes));
      (void)w.pool->Release(w.slot);
      lock.lock();
      if (!s.ok()) {
        ++checkpoint_errors_;
        spdlog::error("{}: writing model version {}: {}", JobName(w.job), w.version,
                      s.ToString());
        continue;
      }
      ++model_files_written_;
      auto it = jobs_.find(w.job);
      if (it == jobs_.end()) continue;
      Job& job = *it->second;
      for (auto& v : job.versions) {
        if (v.version == w.version && v.checksum == w.checksum) v.on_disk = true;
      }
      if (job.newest_on_disk && job.newest_on_disk->version > w.version) continue;
      job.newest_on_disk = Job::ModelOnDisk{w.version, w.checksum};
      // Removals queued before would take the new file: the checkpoint queues one that keeps it.
      std::erase_if(model_files_, [&](const auto& task) {
        const auto* removal = std::get_if<ModelRemoval>(&task);
        return removal && removal->job == job.id;
      });
      Checkpoint(job);
    }
  }

  static Status CheckAccess(const v1::JobAccess& access) {
    if (access.allowed_clients_size() > kMaxAllowedClients) {
      return Status::InvalidArgument("access lists more than " +
                                     std::to_string(kMaxAllowedClients) + " allowed clients");
    }
    for (const auto& id : access.allowed_clients()) {
      if (!ValidClientId(id)) {
        return Status::InvalidArgument("allowed client ids must be 1 to 128 printable "
                                       "characters");
      }
    }
    const std::size_t token = access.enrolment_token().size();
    if (token != 0 && (token < kMinEnrolmentToken || token > kMaxEnrolmentToken)) {
      return Status::InvalidArgument("an enrolment token has 16 to 1024 bytes");
    }
    if (access.enrolment_token_set()) {
      return Status::InvalidArgument("enrolment_token_set is reported by the node, not set");
    }
    return Status::Ok();
  }

  // OK when `client_id` may join `job` presenting `enrolment_token` (see JobAccess).
  static Status AdmitToJoin(const Job& job, const std::string& client_id,
                            std::string_view enrolment_token) {
    if (!job.restricted) return Status::Ok();
    if (!job.allowed.empty() && !job.allowed.count(client_id)) {
      spdlog::warn("{}: refused client '{}', which is not on its access list", JobName(job.id),
                   client_id);
      return Status::PermissionDenied("client '" + client_id + "' is not allowed to join " +
                                      JobName(job.id));
    }
    const std::string& expected = job.spec.access().enrolment_token();
    if (expected.empty()) return Status::Ok();
    if (enrolment_token.empty()) {
      return Status::Unauthenticated(JobName(job.id) + " needs its enrolment token to join");
    }
    if (!SecretsEqual(enrolment_token, expected)) {
      spdlog::warn("{}: client '{}' presented a wrong enrolment token", JobName(job.id),
                   client_id);
      return Status::Unauthenticated("the enrolment token of " + JobName(job.id) +
                                     " is not valid");
    }
    return Status::Ok();
  }

  v1::JobInfo Info(const Job& job) const {
    v1::JobInfo info;
    info.set_job_id(job.id);
    *info.mutable_spec() = job.spec;
    if (!job.spec.access().enrolment_token().empty()) {  // write-only: never leaves the node
      info.mutable_spec()->mutable_access()->clear_enrolment_token();
      info.mutable_spec()->mutable_access()->set_enrolment_token_set(true);
    }
    info.set_state(job.state);
    info.set_open_round(job.phase == Phase::kOpen ? job.round : 0);
    info.set_published_version(job.versions.empty() ? 0 : job.versions.back().version);
    info.set_updates_in_round(static_cast<uint32_t>(job.accepted_clients.size()));
    info.set_message(job.message);
    info.set_shards(job.shards);
    info.set_home_node(job.home);
    if (job.pool) {
      info.set_pool_slots(job.pool->num_slots());
      info.set_pool_free_slots(job.pool->FreeSlots());
      info.set_pool_bytes(job.pool->Mapping().size());
    }
    return info;
  }

  v1::RoundEvent Event(const Job& job, v1::RoundEvent::Kind kind) const {
    v1::RoundEvent e;
    e.set_job_id(job.id);
    e.set_round(job.round);
    e.set_kind(kind);
    e.set_updates(static_cast<uint32_t>(job.accepted_clients.size()));
    e.set_unix_micros(UnixMicros());
    return e;
  }

  void Emit(Job& job, const v1::RoundEvent& e) {
    for (auto& [id, sink] : job.subscribers) sink(e);
    if (load_watchers_.empty()) return;
    const auto loads = LoadsLocked();
    for (auto& [id, changed] : load_watchers_) changed(loads);
  }

  std::vector<JobLoad> LoadsLocked() const {
    std::vector<JobLoad> loads;
    for (const auto& [id, job] : jobs_) {
      JobLoad& l = loads.emplace_back(JobLoad{.job = id});
      if (job->state != v1::JOB_STATE_RUNNING) continue;
      const uint64_t arrived = job->accepted_clients.size();
      const uint64_t expected = job->spec.clients_per_round();
      switch (job->phase) {
        case Phase::kOpen: l.pending_updates = expected > arrived ? expected - arrived : 0; break;
        case Phase::kClosed: l.pending_updates = job->accepted.size(); break;
        case Phase::kIdle: break;
      }
      l.pending_partials = job->partials_flushed;
      l.active = job->phase != Phase::kIdle;
    }
    return loads;
  }

  Result<ModelRef> Hold(Job& job, uint32_t v) {
    if (!job.pool) {
      return Status::FailedPrecondition(JobName(job.id) + " ended: " + job.message);
    }
    for (const auto& p : job.versions) {
      if (p.version != v) continue;
      TRIBUTARY_RETURN_IF_ERROR(job.pool->Acquire(p.slot));
      return ModelRef{job.id, v, job.model_bytes, p.checksum, job.pool, p.slot, p.hashing};
    }
    return Status::NotFound("model version " + std::to_string(v) + " of " + JobName(job.id) +
                            " is no longer retained (latest is " +
                            std::to_string(job.versions.back().version) + ")");
  }

  // Opens `round`; `carried`: updates it accepted before a restart of the node; `checkpointed`:
  // the caller wrote the checkpoint of the round's opening already (Publish).
  void OpenRound(Job& job, uint32_t round, std::vector<AcceptedUpdate> carried = {},
                 bool checkpointed = false) {
    if (job.sequence) {
      job.round = round;
      job.phase = Phase::kOpen;
      job.opened_at = Clock::now();
      job.accepted_clients.clear();
      job.refused_close_at = SIZE_MAX;
      Checkpoint(job);
      Emit(job, Event(job, v1::RoundEvent::ROUND_OPENED));
      auto ready = job.task_waiters.equal_range(round);
      std::vector<TaskWaiter> wake;
      for (auto it = ready.first; it != ready.second; ++it) wake.push_back(std::move(it->second));
      job.task_waiters.erase(ready.first, ready.second);
      for (auto& w : wake) w.done(TasksOf(job, w.worker));
      CloseSequentialRoundIfAllowed(job);  // closes at once when nobody has work this round
      return;
    }
    auto out = job.pool->Allocate();
    if (!out) {
      EndJob(job, v1::JOB_STATE_FAILED, "no slot for the output of round " +
                                            std::to_string(round) + ": " + out.error().message());
      return;
    }
    job.round = round;
    job.aggregating = round;
    job.phase = Phase::kOpen;
    job.opened_at = Clock::now();
    job.output = *out;
    job.accepted = std::move(carried);
    job.accepted_clients.clear();
    for (const auto& u : job.accepted) job.accepted_clients.insert({u.client_index, 0});
    StartAggregation(job);  // places the carried updates of eager jobs
    if (!checkpointed) Checkpoint(job);
    Emit(job, Event(job, v1::RoundEvent::ROUND_OPENED));
    if (job.accepted.empty()) return;
    if (!job.eager()) {
      CloseIfDecodable(job);
    } else if (job.accepted.size() >= job.spec.clients_per_round()) {
      CloseRound(job);
    }
  }

  // Starts the aggregation of job.aggregating into job.output: a new tree (the job's fan-in for
  // eager jobs, flat otherwise) that takes the accepted updates (eager jobs: as they arrive;
  // the others: all at the close, with their decoding's weights).
  void StartAggregation(Job& job) {
    ReleasePartials(job);
    job.tree = AggregationTree(job.eager() ? job.fan_in : 0, job.spec.clients_per_round());
    job.lane_instance.clear();
    job.lane_done.clear();
    job.node_pending.clear();
    job.accumulators.clear();
    job.partials_reserved = job.tree.fan_in() >= 2
                                ? static_cast<uint32_t>(AggregationTree::MaxNodes(
                                      job.tree.fan_in(), job.spec.clients_per_round()))
                                : 0;
    job.deaths_in_rule = 0;
    if (job.eager()) {
      for (const auto& u : job.accepted) Place(job, u);
    }
    if (job.phase == Phase::kClosed) CloseAggregation(job);
  }

  // Hands an accepted update to its leaf (coded updates the decoding does not use: nowhere).
  void Place(Job& job, const AcceptedUpdate& u) {
    if (u.weight == 0) return;
    Deliver(job, job.tree.AddUpdate({u.slot, u.weight, u.client_index}));
  }

  // Node `n` has a new last input: sends it to the node's tasks (routing them first when `n` is
  // new), then flushes `n` when it is ready.
  void Deliver(Job& job, AggregationTree::NodeId n) {
    if (job.lane_instance.size() < (n + 1) * job.shards) {
      if (!AddTasks(job, n)) return;
    } else {
      for (uint32_t s = 0; s < job.shards; ++s) {
        SendInput(job, shm::LaneOf(n, job.shards, s), job.tree.node(n).inputs.back());
      }
    }
    FlushIfReady(job, n);
  }

  // Gives the nodes up to `n` that have none their accumulator, and routes their tasks. False
  // when the pool had no slot for one (the job has failed).
  bool AddTasks(Job& job, AggregationTree::NodeId n) {
    while (job.accumulators.size() <= n) {
      if (job.tree.fan_in() < 2) {
        job.accumulators.push_back(job.output);
        continue;
      }
      auto partial = job.pool->Allocate();
      if (!partial) {
        EndJob(job, v1::JOB_STATE_FAILED,
               "no slot for a partial aggregate of round " + std::to_string(job.aggregating) +
                   ": " + partial.error().message());
        return false;
      }
      job.partials.push_back(*partial);
      if (job.partials_reserved) --job.partials_reserved;
      job.accumulators.push_back(*partial);
    }
    const uint32_t first = static_cast<uint32_t>(job.lane_instance.size());
    job.lane_instance.resize((n + 1) * job.shards, 0);
    job.lane_done.resize((n + 1) * job.shards, false);
    job.node_pending.resize(n + 1, job.shards);
    for (uint32_t lane = first; lane < job.lane_instance.size(); ++lane) AssignTask(job, lane);
    return true;
  }

  // Routes task `lane` to the live instance with the fewest unfinished tasks of the job (an
  // instance whose leaf is done takes the middle or top next: it is reused, not started) and
  // replays what the task must have seen: the node's inputs and, once sent, its FLUSH/FINISH.
  void AssignTask(Job& job, uint32_t lane) {
    auto live = instances_->LiveInstances();
    if (live.empty()) return Warm();  // OnInstanceReady assigns it
    std::map<ebpf::InstanceId, uint32_t> load;
    std::set<ebpf::InstanceId> ran_leaf;
    for (uint32_t l = 0; l < job.lane_instance.size(); ++l) {
      if (job.lane_instance[l] == 0) continue;
      if (!job.lane_done[l]) ++load[job.lane_instance[l]];
      if (job.tree.node(l / job.shards).level == 1) ran_leaf.insert(job.lane_instance[l]);
    }
    ebpf::InstanceId instance = 0;
    for (std::size_t i = 0; i < live.size(); ++i) {
      const ebpf::InstanceId candidate = live[(job.id + lane + i) % live.size()];
      if (instance == 0 || load[candidate] < load[instance]) instance = candidate;
    }
    if (Status st = router_->Route({job.id, job.aggregating, lane}, instance); !st.ok()) {
      spdlog::warn("{}: routing task {}: {}", JobName(job.id), lane, st.ToString());
      return;
    }
    job.lane_instance[lane] = instance;
    const auto& node = job.tree.node(lane / job.shards);
    if (node.level > 1 && ran_leaf.count(instance)) ++instances_promoted_;
    for (const auto& in : node.inputs) SendInput(job, lane, in);
    if (node.flushed) SendFlush(job, lane);
  }

  shm::Descriptor Base(const Job& job, shm::DescriptorKind kind, uint32_t lane) {
    shm::Descriptor d = shm::MakeDescriptor(kind);
    d.job = job.id;
    d.round = job.aggregating;
    d.shard = static_cast<uint16_t>(lane);
    d.num_shards = static_cast<uint16_t>(job.shards);
    d.target_slot = job.output.index;
    d.sequence = ++sequence_;
    return d;
  }

  void SendInput(Job& job, uint32_t lane, const AggregationTree::Input& in) {
    if (job.lane_instance[lane] == 0) return Warm();  // replayed when the task is assigned
    shm::Descriptor d = Base(job, shm::DescriptorKind::kUpdate, lane);
    d.target_slot = job.accumulators[lane / job.shards].index;
    d.slot = in.slot.index;
    d.slot_generation = in.slot.generation;
    d.bytes = job.model_bytes;
    d.weight = in.weight;
    d.client = in.client;
    if (Status st = router_->Send(d); !st.ok()) {
      // The instance is going away; the task is replayed when its loss is noticed.
      spdlog::debug("{}: input for task {}: {}", JobName(job.id), lane, st.ToString());
    }
  }

  // FINISH for the top's tasks, FLUSH for the others'.
  void SendFlush(Job& job, uint32_t lane) {
    if (job.lane_instance[lane] == 0) return;
    const auto& node = job.tree.node(lane / job.shards);
    // Another node of a group ends its round with a partial for the home: no server step.
    const bool finish = node.top && job.at_home();
    shm::Descriptor d =
        Base(job, finish ? shm::DescriptorKind::kFinish : shm::DescriptorKind::kFlush, lane);
    d.target_slot = node.output.index;
    d.slot_generation = node.output.generation;
    d.slot = job.versions.back().slot.index;  // the model delta updates are applied to
    d.client = node.inputs.size();
    if (Status st = router_->Send(d); !st.ok()) {
      spdlog::debug("{}: flush for task {}: {}", JobName(job.id), lane, st.ToString());
    }
  }

  // Sends node `n`'s FLUSH (its partial, written in place in its accumulator) or, for the top,
  // its FINISH (into the round's output) once it has every input it will get.
  void FlushIfReady(Job& job, AggregationTree::NodeId n) {
    if (!job.tree.Ready(n)) return;
    const bool top = job.tree.node(n).top;
    const shm::SlotHandle out = top ? job.output : job.accumulators[n];
    if (!top) ++job.partials_flushed;
    job.tree.MarkFlushed(n, out);
    for (uint32_t s = 0; s < job.shards; ++s) SendFlush(job, shm::LaneOf(n, job.shards, s));
  }

  // Every task of node `n` is done: the top's result is the round's; another node's partial
  // goes to its parent, and the partials `n` folded go back to the pool.
  void NodeDone(Job& job, AggregationTree::NodeId n) {
    auto parent = job.tree.Complete(n);
    if (!parent) return job.at_home() ? Publish(job) : SendPartialHome(job);
    if (job.tree.node(n).level > 1) {
      for (const auto& in : job.tree.node(n).inputs) ReleasePartial(job, in.slot);
    }
    Deliver(job, *parent);
  }

  void ReleasePartial(Job& job, shm::SlotHandle slot) {
    auto it = std::find_if(job.partials.begin(), job.partials.end(), [&](const auto& p) {
      return p.index == slot.index && p.generation == slot.generation;
    });
    if (it == job.partials.end()) return;
    (void)job.pool->Release(*it);
    job.partials.erase(it);
    if (job.partials_flushed) --job.partials_flushed;
  }

  void ReleasePartials(Job& job) {
    if (job.pool) {
      for (const auto& p : job.partials) (void)job.pool->Release(p);
    }
    job.partials.clear();
    job.partials_flushed = 0;
  }

  void CloseRound(Job& job) {
    job.phase = Phase::kClosed;
    job.closed_at = Clock::now();
    job.round_updates = static_cast<uint32_t>(
        std::count_if(job.accepted.begin(), job.accepted.end(),
                      [](const auto& u) { return u.weight != 0; }));
    Emit(job, Event(job, v1::RoundEvent::ROUND_CLOSED));
    if (!job.grouped()) return CloseAggregation(job);
    if (!job.is_home) {
      if (job.accepted.empty()) return SendPartialHome(job);  // nothing to aggregate here
      return CloseAggregation(job);
    }
    // The home closes the round on every other node and aggregates once their partials are in.
    for (const auto& peer : options_.peers->peers()) {
      job.peers_pending.insert(peer);
      options_.peers->CloseRound(
          peer, job.id, job.round, [this, id = job.id, round = job.round, peer](const Status& s) {
            if (!s.ok()) OnPeerUnreachable(id, round, peer, s);
          });
    }
  }

  // Updates the open round holds: here, and at a group's home on the other nodes too.
  uint64_t RoundUpdates(const Job& job) const {
    uint64_t n = job.accepted.size();
    for (const auto& [peer, accepted] : job.peer_accepted) n += accepted;
    return n;
  }



  // The aggregation takes no more inputs: updates of jobs that are not eager go to the tree
  // now, and every node that has all its inputs is flushed.
  void CloseAggregation(Job& job) {
    if (!job.eager()) {
      for (const auto& u : job.accepted) Place(job, u);
    }
    job.tree.Close();
    if (job.tree.size() > 0 && !AddTasks(job, job.tree.size() - 1)) return;
    for (AggregationTree::NodeId n = 0; n < job.tree.size(); ++n) {
      if (job.state != v1::JOB_STATE_RUNNING) return;
      FlushIfReady(job, n);
    }
  }

  // Coded jobs: closes the round once the arrived workers decode to the exact sum, weighting
  // each update by its decoding coefficient.
  void CloseIfDecodable(Job& job) {
    std::vector<int> arrived;
    for (const auto& u : job.accepted) arrived.push_back(static_cast<int>(u.client_index));
    auto decoding = job.code->Decode(arrived);
    if (!decoding || !decoding->exact) return;
    for (auto& u : job.accepted) u.weight = decoding->coefficients[u.client_index];
    spdlog::info("{} round {}: {} of {} workers decode exactly; closing", JobName(job.id),
                 job.round, arrived.size(), job.code->n());
    CloseRound(job);
  }

  // ---- sequentially coded jobs ----

  static Result<const robust::coding::MiniTask*> FindTask(const Job& job, uint64_t worker,
                                                          uint32_t slot) {
    for (const auto& task : job.sequence->Tasks(static_cast<int>(worker))) {
      if (task.slot == static_cast<int>(slot)) return &task;
    }
    const std::size_t tasks = job.sequence->Tasks(static_cast<int>(worker)).size();
    return Status::InvalidArgument("worker " + std::to_string(worker) + " has no task " +
                                   std::to_string(slot) + " in round " +
                                   std::to_string(job.round) + " of " + JobName(job.id) +
                                   " (it has " + std::to_string(tasks) +
                                   "; ask ClientService.Tasks)");
  }

  static v1::TasksReply TasksOf(const Job& job, uint64_t worker) {
    const auto& sequence = *job.sequence;
    v1::TasksReply reply;
    reply.set_round(job.round);
    reply.set_worker(static_cast<uint32_t>(worker));
    reply.set_workers(static_cast<uint32_t>(sequence.n()));
    reply.set_rounds(static_cast<uint32_t>(sequence.rounds()));
    reply.set_partitions(static_cast<uint32_t>(sequence.num_partitions()));
    for (const auto& task : sequence.Tasks(static_cast<int>(worker))) {
      auto* t = reply.add_tasks();
      t->set_version(static_cast<uint32_t>(task.job + 1));
      t->set_slot(static_cast<uint32_t>(task.slot));
      for (int p : task.partitions) t->add_partitions(static_cast<uint32_t>(p));
      for (double c : task.coefficients) t->add_coefficients(c);
    }
    return reply;
  }

  // Closes the open round when every worker delivered all its mini-tasks or, once the grace
  // period (deadline_s; 0: none) is over, as soon as the workers that did leave the version due
  // now decodable and every later one still decodable in time (SequentialScheduler). Waiting
  // out the grace period matters: every worker declared a straggler costs later rounds work.
  void CloseSequentialRoundIfAllowed(Job& job) {
    auto& sequence = *job.sequence;
    if (job.accepted_clients.size() == job.refused_close_at) return;  // nothing new to decide
    std::vector<int> arrived;
    for (int w = 0; w < sequence.n(); ++w) {
      const auto& tasks = sequence.Tasks(w);
      if (std::all_of(tasks.begin(), tasks.end(), [&](const auto& task) {
            return job.accepted_clients.count({uint64_t(w), uint32_t(task.slot)}) > 0;
          })) {
        arrived.push_back(w);
      }
    }
    const bool grace_over = Clock::now() - job.opened_at >=
                            std::chrono::duration<double>(job.spec.deadline_s());
    if (static_cast<int>(arrived.size()) < sequence.n() && !grace_over) return;
    auto outcome = sequence.TryCloseRound(arrived);
    if (!outcome) {
      EndJob(job, v1::JOB_STATE_FAILED, "closing round " + std::to_string(job.round) + ": " +
                                            outcome.error().message());
      return;
    }
    if (!outcome->closed) {
      job.refused_close_at = job.accepted_clients.size();
      return;
    }
    job.phase = Phase::kIdle;  // until a decodable version is being aggregated
    job.closed_at = Clock::now();
    spdlog::info("{} round {}: {} of {} workers delivered; closing ({} versions decodable)",
                 JobName(job.id), job.round, arrived.size(), sequence.n(),
                 outcome->decoded.size());
    Emit(job, Event(job, v1::RoundEvent::ROUND_CLOSED));
    for (int decoded : outcome->decoded) job.decodable.insert(static_cast<uint32_t>(decoded + 1));
    AggregateNextVersion(job);
  }

  // Aggregates the next version when it is decodable (versions publish in order), or opens
  // the next round of work.
  void AggregateNextVersion(Job& job) {
    const uint32_t version = job.versions.back().version + 1;
    if (!job.decodable.count(version)) {
      if (job.sequence->done()) {
        EndJob(job, v1::JOB_STATE_FAILED,
               "version " + std::to_string(version) + " is undecodable after the last round");
      } else {
        OpenRound(job, job.round + 1);
      }
      return;
    }
    job.decodable.erase(version);
    auto terms = job.sequence->Decoding(static_cast<int>(version) - 1);
    if (!terms) {
      EndJob(job, v1::JOB_STATE_FAILED, "decoding version " + std::to_string(version) + ": " +
                                            terms.error().message());
      return;
    }
    auto out = job.pool->Allocate();
    if (!out) {
      EndJob(job, v1::JOB_STATE_FAILED, "no slot for the output of version " +
                                            std::to_string(version) + ": " +
                                            out.error().message());
      return;
    }
    job.phase = Phase::kClosed;  // aggregating `version`
    job.aggregating = version;
    job.output = *out;
    job.accepted.clear();
    for (const auto& term : *terms) {
      auto result = job.results.find({term.key.round, term.key.worker, term.key.slot});
      if (result == job.results.end()) {
        EndJob(job, v1::JOB_STATE_FAILED, "version " + std::to_string(version) +
                                              " decodes from a result the gateway does not hold");
        return;
      }
      job.accepted.push_back({uint64_t(term.key.worker), result->second.slot, term.weight});
    }
    StartAggregation(job);
  }

  void Publish(Job& job) {
    const auto now = Clock::now();
    const uint32_t version = job.aggregating;
    // Pulls waiting for this version get it before it is hashed, and its checksum once it is
    // (they send it after the bytes: ModelChecksum), so that their bytes go out beside the hash
    // rather than behind it; and before the checkpoint below, whose sync to disk can wait tens
    // of ms behind a model file being written. A node killed before that checkpoint is written
    // still holds the round's updates, and publishes the version again from them when it
    // restarts.
    auto hashing = std::make_shared<ModelChecksum>();
    job.versions.push_back({version, job.output, 0, false, hashing});
    auto ready = job.waiters.equal_range(version);
    std::vector<std::function<void(Result<ModelRef>)>> wake;
    for (auto it = job.waiters.begin(); it != ready.second;) {
      wake.push_back(std::move(it->second.second));
      it = job.waiters.erase(it);
    }
    for (auto& w : wake) w(Hold(job, version));
    PublishedModel& published = job.versions.back();
    published.checksum = XXH3_64bits(job.pool->Bytes(job.output.index).data(), job.model_bytes);
    published.hashing.reset();
    hashing->Set(published.checksum);
    PersistVersion(job, published);
    if (job.grouped() && job.is_home) SendModelToPeers(job, job.versions.back());
    while (job.versions.size() > options_.retained_versions) {
      (void)job.pool->Release(job.versions.front().slot);
      job.versions.erase(job.versions.begin());
    }
    // The checkpoint lists the new version, and no longer the round's updates, before their
    // slots go back: a node killed in between finds one or the other after its restart (the
    // round's checkpoint, older, would list updates whose slots are free, and lose them). It
    // is written as of the next round's opening, which follows under this lock and so writes
    // no checkpoint of its own: one sync to disk per round fewer.
    const bool continues = !job.sequence && version < job.spec.rounds();
    if (!job.sequence) Checkpoint(job, continues ? version + 1 : version);
    ReleaseInputs(job, version);
    ++rounds_published_;
    v1::RoundEvent e = Event(job, v1::RoundEvent::ROUND_PUBLISHED);
    e.set_round(version);
    e.set_updates(job.grouped() ? job.round_updates : static_cast<uint32_t>(job.accepted.size()));
    e.set_round_seconds(Seconds(now - job.opened_at));
    e.set_aggregate_seconds(Seconds(now - job.closed_at));
    std::string shape;
    for (uint32_t nodes : job.tree.Shape()) {
      e.add_tree_nodes(nodes);
      shape += (shape.empty() ? "" : "-") + std::to_string(nodes);
    }
    spdlog::info("{} round {} published: {} updates, round {:.3f} s, aggregation {:.3f} s{}",
                 JobName(job.id), version, e.updates(), e.round_seconds(),
                 e.aggregate_seconds(),
                 job.tree.size() > 1 ? ", tree " + shape + " (leaves first)" : std::string());
    job.accepted.clear();
    if (!job.sequence) {
      job.last_round = version;
      job.last_round_clients = std::move(job.accepted_clients);
    }
    job.accepted_clients.clear();
    job.phase = Phase::kIdle;
    Emit(job, e);
    if (version >= job.spec.rounds()) {
      EndJob(job, v1::JOB_STATE_COMPLETED, "");
    } else if (job.sequence) {
      AggregateNextVersion(job);
    } else {
      OpenRound(job, version + 1, {}, /*checkpointed=*/true);
    }
  }

  // Drops the control plane's references on what the aggregation of `version` read, and
  // unroutes its shards. Sequentially coded jobs release every result of the version, the ones
  // its decoding did not use included.
  void ReleaseInputs(Job& job, uint32_t version) {
    if (job.sequence) {
      std::erase_if(job.results, [&](const auto& kv) {
        if (kv.second.version != version) return false;
        (void)job.pool->Release(kv.second.slot);
        return true;
      });
    } else {
      for (const auto& u : job.accepted) (void)job.pool->Release(u.slot);
      for (const auto& p : job.peer_partials) (void)job.pool->Release(p.slot);
    }
    job.peer_partials.clear();
    job.peer_accepted.clear();
    job.peers_pending.clear();
    ReleasePartials(job);
    for (uint32_t lane = 0; lane < job.lane_instance.size(); ++lane) {
      if (job.lane_instance[lane] != 0) (void)router_->Unroute({job.id, job.aggregating, lane});
    }
  }

  void EndJob(Job& job, v1::JobState state, const std::string& message) {
    job.state = state;
    job.message = message;
    if (job.routed()) {
      ReleaseInputs(job, job.aggregating);
      (void)job.pool->Release(job.output);
    }
    for (const auto& [key, result] : job.results) (void)job.pool->Release(result.slot);
    job.results.clear();
    job.accepted.clear();
    job.phase = Phase::kIdle;
    Status why = state == v1::JOB_STATE_COMPLETED
                     ? Status::OutOfRange(JobName(job.id) + " completed; no further version")
                     : Status::FailedPrecondition(JobName(job.id) + " ended: " + message);
    auto waiters = std::move(job.waiters);
    job.waiters.clear();
    for (auto& [v, w] : waiters) w.second(why);
    auto task_waiters = std::move(job.task_waiters);
    job.task_waiters.clear();
    for (auto& [round, w] : task_waiters) w.done(why);
    v1::RoundEvent e = Event(job, TerminalKind(state));
    e.set_message(message);
    Emit(job, e);
    job.subscribers.clear();
    if (state == v1::JOB_STATE_COMPLETED) {
      KeepOnlyFinalModel(job);
      WriteModelNow(job);
      Checkpoint(job);
      spdlog::info("{} completed", JobName(job.id));
      return;
    }
    spdlog::warn("{} {}: {}", JobName(job.id), v1::JobState_Name(state), message);
    for (const auto& p : job.versions) (void)job.pool->Release(p.slot);
    job.versions.erase(job.versions.begin(), job.versions.end() - 1);  // keep the label only
    (void)shm::SlotPool::Remove(job.pool->name());
    job.pool.reset();  // streams still reading hold their own reference
    ForgetInAggregators(job);
    used_bytes_ -= job_bytes_[job.id];
    job_bytes_.erase(job.id);
    Checkpoint(job);
  }

  // A completed job keeps only its final model readable: it moves into a one-slot pool and the
  // round pool goes back to the budget (its mapping lives on while streams still read from it).
  void KeepOnlyFinalModel(Job& job) {
    const PublishedModel last = job.versions.back();
    // The round pool's other slots go first, so that the copy below does not add a model to
    // the node's memory at its peak.
    for (std::size_t i = 0; i + 1 < job.versions.size(); ++i) {
      (void)job.pool->Release(job.versions[i].slot);
    }
    job.versions = {last};
    if (auto discarded = job.pool->DiscardFreeSlots(); !discarded) {
      spdlog::warn("{}: {}", JobName(job.id), discarded.error().ToString());
    }
    auto final_pool = shm::SlotPool::Create({.name = job.pool->name() + "-final",
                                             .slot_bytes = job.model_bytes,
                                             .num_slots = 1,
                                             .metadata = "{}"});
    if (!final_pool) {
      spdlog::warn("{}: keeping the round pool: {}", JobName(job.id),
                   final_pool.error().ToString());
      return;
    }
    auto slot = (*final_pool)->Allocate();
    if (!slot) return;
    std::memcpy((*final_pool)->Bytes(slot->index).data(),
                job.pool->Bytes(last.slot.index).data(), job.model_bytes);
    (void)job.pool->Release(last.slot);
    (void)shm::SlotPool::Remove(job.pool->name());
    job.pool = std::shared_ptr<shm::SlotPool>(std::move(final_pool).value());
    ForgetInAggregators(job);
    job.versions = {{last.version, *slot, last.checksum, last.on_disk}};
    const uint64_t bytes = job.pool->Mapping().size();
    used_bytes_ = used_bytes_ - job_bytes_[job.id] + bytes;
    job_bytes_[job.id] = bytes;
  }

  // The aggregators unmap the job's round pool and drop its rules.
  void ForgetInAggregators(const Job& job) {
    shm::Descriptor d = shm::MakeDescriptor(shm::DescriptorKind::kJobEnded);
    d.job = job.id;
    instances_->Broadcast(d);
  }

  void TickLoop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      tick_cv_.wait_for(lock, options_.tick);
      const auto now = Clock::now();
      for (auto& [id, job] : jobs_) {
        if (job->state == v1::JOB_STATE_RUNNING && job->is_home && job->phase == Phase::kClosed &&
            now - job->closed_at >= options_.peer_timeout) {
          for (const auto peers = job->peers_pending; const auto& peer : peers) {
            LeaveOut(*job, peer, fmt::format("sent no partial in {:.1f} s",
                                             Seconds(options_.peer_timeout)));
          }
        }
        if (job->state != v1::JOB_STATE_RUNNING || job->phase != Phase::kOpen) continue;
        if (job->sequence) {
          CloseSequentialRoundIfAllowed(*job);
          continue;
        }
        if (job->spec.deadline_s() <= 0 || !job->eager()) continue;  // coded: wait to decode
        if (!job->at_home()) continue;  // the home closes the group's rounds
        if (now - job->opened_at < std::chrono::duration<double>(job->spec.deadline_s())) continue;
        const uint64_t updates = RoundUpdates(*job);
        if (updates >= job->spec.min_clients() && updates > 0) {
          spdlog::info("{} round {}: deadline passed with {} of {} updates; closing",
                       JobName(id), job->round, updates, job->spec.clients_per_round());
          CloseRound(*job);
        }
      }
      ScaleToZeroWhenIdle(now);
      Autoscale(now);
    }
  }

  // ---- autoscaling (ControlPlaneOptions::max_instances) ----

  // Feeds the router's counters to the autoscaler (every 100 ms) and applies its target: more
  // instances at once, fewer only between rounds, when no task is running that a retired
  // process would take with it.
  void Autoscale(Clock::time_point now) {
    if (options_.max_instances == 0 || now - last_autoscale_ < std::chrono::milliseconds(100)) {
      return;
    }
    last_autoscale_ = now;
    uint64_t delivered = 0;
    for (const auto& c : router_->Counters()) delivered += c.messages;
    autoscaler_.ObserveDeliveries(delivered, now);
    if (scaled_to_zero_) return;  // Warm() starts them again when work comes
    const uint32_t target = autoscaler_.Target();
    if (target == instances_target_ || (target < instances_target_ && Busy())) return;
    spdlog::info("autoscaler: {} aggregator processes (arrival {:.0f}/s, one folds {:.0f}/s)",
                 target, autoscaler_.arrival_rate(), autoscaler_.service_rate());
    instances_target_ = target;
    ++scale_events_;
    instances_->ScaleTo(target);
  }

  // ---- scale to zero (ControlPlaneOptions::scale_to_zero_after) ----

  // Whether some job has work for the aggregators: updates accepted or streaming in, or a
  // round being aggregated.
  bool Busy() const {
    return std::any_of(jobs_.begin(), jobs_.end(), [](const auto& kv) {
      const Job& job = *kv.second;
      return job.state == v1::JOB_STATE_RUNNING &&
             (!job.accepted.empty() || !job.in_flight.empty() || !job.results.empty() ||
              job.phase == Phase::kClosed);
    });
  }

  void ScaleToZeroWhenIdle(Clock::time_point now) {
    if (options_.scale_to_zero_after.count() <= 0 || scaled_to_zero_ || !instance_seen_) return;
    if (Busy()) {
      last_busy_ = now;
      return;
    }
    if (now - last_busy_ < options_.scale_to_zero_after) return;
    // Rounds that wait for updates keep their slots; their shards are routed again, and what
    // they accepted replayed, when the aggregators are back (OnInstanceReady).
    for (auto& [id, job] : jobs_) {
      for (uint32_t lane = 0; lane < job->lane_instance.size(); ++lane) {
        if (job->lane_instance[lane] == 0) continue;
        (void)router_->Unroute({job->id, job->aggregating, lane});
        job->lane_instance[lane] = 0;
      }
    }
    scaled_to_zero_ = true;
    ++scale_events_;
    spdlog::info("no aggregation work for {:.1f} s: aggregator processes scaled to zero",
                 Seconds(now - last_busy_));
    instances_target_ = 0;
    instances_->ScaleTo(0);
  }

  // Starts the aggregators again when work arrives after a scale to zero.
  void Warm() {
    if (!scaled_to_zero_) return;
    scaled_to_zero_ = false;
    last_busy_ = warming_since_ = Clock::now();
    ++scale_events_;
    spdlog::info("work arrived: starting {} aggregator processes", options_.warm_instances);
    instances_target_ = options_.warm_instances;
    instances_->ScaleTo(options_.warm_instances);
  }

  ControlPlaneOptions options_;
  ebpf::Router* router_;
  InstanceDirectory* instances_;
  mutable std::mutex mu_;
  std::condition_variable tick_cv_;
  bool stopping_ = false;
  bool draining_ = false;
  std::thread ticker_;
  // Checkpoints (ControlPlaneOptions::checkpoint_dir): the store, and the file work queued for
  // it, done in order by checkpoint_writer_ off the lock: models to write, and the model files
  // of versions no longer retained to remove (unlinking a large file takes tens of ms).
  struct ModelWrite {
    uint64_t job;
    uint32_t version;
    uint64_t checksum;
    std::shared_ptr<shm::SlotPool> pool;
    shm::SlotHandle slot;  // a reference held until written
    std::size_t bytes;
    Clock::time_point due;  // not written before
  };
  struct ModelRemoval {
    uint64_t job;
    std::vector<uint32_t> keep;  // the versions retained when it was queued
  };
  std::optional<CheckpointStore> store_;
  std::deque<std::variant<ModelWrite, ModelRemoval>> model_files_;
  std::condition_variable checkpoint_cv_;
  std::thread checkpoint_writer_;
  uint64_t checkpoint_errors_ = 0;
  uint64_t model_files_written_ = 0, model_files_skipped_ = 0;
  bool scaled_to_zero_ = false;
  Clock::time_point last_busy_ = Clock::now(), warming_since_;
  bool instance_seen_ = false;  // an aggregator process has been ready (the pool has started)
  Autoscaler autoscaler_{{.min_instances = std::max<uint32_t>(1, options_.warm_instances),
                          .max_instances = options_.max_instances,
                          .service_rate = options_.instance_service_rate}};
  uint32_t instances_target_ = options_.warm_instances;  // what the pool was last scaled to
  Clock::time_point last_autoscale_;
  uint64_t instances_promoted_ = 0;
  uint64_t scale_events_ = 0;
  std::map<uint64_t, std::shared_ptr<Job>> jobs_;
  std::map<uint64_t, uint64_t> job_bytes_;
  std::map<uint64_t, std::function<void(const std::vector<JobLoad>&)>> load_watchers_;
  uint64_t next_job_id_ = 1;
  uint64_t next_waiter_id_ = 1;
  uint64_t sequence_ = 0;
  uint64_t used_bytes_ = 0;
  uint64_t streaming_pushes_ = 0, pushes_throttled_ = 0;
  uint64_t streaming_pulls_ = 0, pulls_throttled_ = 0;
  uint64_t peer_partial_bytes_ = 0, peer_model_bytes_ = 0;  // received from other nodes
  uint64_t peers_left_out_ = 0;
  uint64_t pushes_started_ = 0, updates_accepted_ = 0, bytes_accepted_ = 0, pushes_exhausted_ = 0,
           rounds_published_ = 0, instances_lost_ = 0;
};

ControlPlane::ControlPlane(ControlPlaneOptions options, ebpf::Router* router,
                           InstanceDirectory* instances)
    : impl_(std::make_unique<Impl>(std::move(options), router, instances)) {}
ControlPlane::~ControlPlane() = default;

Status ControlPlane::Recover() { return impl_->Recover(); }

Result<v1::JobInfo> ControlPlane::CreateJob(const v1::JobSpec& s) { return impl_->CreateJob(s); }
Result<v1::JobInfo> ControlPlane::GetJob(uint64_t j) const { return impl_->GetJob(j); }
std::vector<v1::JobInfo> ControlPlane::ListJobs() const { return impl_->ListJobs(); }
Result<v1::JobInfo> ControlPlane::CancelJob(uint64_t j, bool from_peer) {
  return impl_->CancelJob(j, from_peer);
}
Result<uint64_t> ControlPlane::Subscribe(uint64_t j,
                                         std::function<void(const v1::RoundEvent&)> sink) {
  return impl_->Subscribe(j, std::move(sink));
}
void ControlPlane::Unsubscribe(uint64_t j, uint64_t s) { impl_->Unsubscribe(j, s); }
Result<v1::JoinReply> ControlPlane::Join(uint64_t j, const std::string& c,
                                         std::string_view enrolment_token) {
  return impl_->Join(j, c, enrolment_token);
}
Status ControlPlane::AuthorizeClient(uint64_t j, std::string_view c, std::string_view token) {
  return impl_->AuthorizeClient(j, c, token);
}
Result<PushTicket> ControlPlane::BeginPush(const v1::UpdateHeader& h) { return impl_->BeginPush(h); }
Result<v1::PushReply> ControlPlane::CommitPush(PushTicket& t) { return impl_->CommitPush(t); }
void ControlPlane::AbortPush(PushTicket& t) { impl_->AbortPush(t); }
v1::ModelHeader ModelHeaderOf(const ModelRef& model) {
  v1::ModelHeader h;
  h.set_job_id(model.job);
  h.set_version(model.version);
  h.set_dtype(v1::DTYPE_FLOAT32);
  h.set_total_bytes(model.bytes);
  h.set_checksum(model.checksum);
  h.set_checksum_in_trailer(model.hashing != nullptr);
  return h;
}

uint64_t ControlPlane::PullModel(uint64_t j, int64_t v, bool wait,
                                 std::function<void(Result<ModelRef>)> done) {
  return impl_->PullModel(j, v, wait, std::move(done));
}
void ControlPlane::CancelPull(uint64_t j, uint64_t w) { impl_->CancelPull(j, w); }
Status ControlPlane::BeginPull() { return impl_->BeginPull(); }
void ControlPlane::EndPull() { impl_->EndPull(); }
uint64_t ControlPlane::AwaitTasks(uint64_t j, const std::string& c, uint32_t r, bool w,
                                  std::function<void(Result<v1::TasksReply>)> done) {
  return impl_->AwaitTasks(j, c, r, w, std::move(done));
}
void ControlPlane::CancelTasks(uint64_t j, uint64_t w) { impl_->CancelTasks(j, w); }
void ControlPlane::ReleaseModel(ModelRef& m) { impl_->ReleaseModel(m); }
void ControlPlane::OnAggregatorReply(const shm::Descriptor& d) { impl_->OnAggregatorReply(d); }
Status ControlPlane::CreateReplica(uint64_t id, const v1::JobSpec& spec) {
  return impl_->CreateReplica(id, spec);
}
Result<std::string> ControlPlane::PlaceClient(uint64_t j, const std::string& c,
                                              const std::string& r) {
  return impl_->PlaceClient(j, c, r);
}
void ControlPlane::OnPeerProgress(uint64_t j, uint32_t r, const std::string& n, uint32_t a) {
  impl_->OnPeerProgress(j, r, n, a);
}
Status ControlPlane::OnPeerCloseRound(uint64_t j, uint32_t r) {
  return impl_->OnPeerCloseRound(j, r);
}
Result<PeerTransfer> ControlPlane::BeginPeerTransfer(PeerTransfer t) {
  return impl_->BeginPeerTransfer(std::move(t));
}
Status ControlPlane::CommitPeerTransfer(PeerTransfer& t) { return impl_->CommitPeerTransfer(t); }
void ControlPlane::AbortPeerTransfer(PeerTransfer& t) { impl_->AbortPeerTransfer(t); }
void ControlPlane::OnInstanceLost(ebpf::InstanceId i, pid_t p, const std::string& cause) {
  impl_->OnInstanceLost(i, p, cause);
}
void ControlPlane::OnInstanceReady(ebpf::InstanceId i) { impl_->OnInstanceReady(i); }
void ControlPlane::Drain() { impl_->Drain(); }
bool ControlPlane::Drained() const { return impl_->Drained(); }
bool ControlPlane::KeepsUnfinishedRounds() const { return impl_->KeepsUnfinishedRounds(); }
std::vector<JobLoad> ControlPlane::Loads() const { return impl_->Loads(); }
uint64_t ControlPlane::WatchLoads(std::function<void(const std::vector<JobLoad>&)> changed) {
  return impl_->WatchLoads(std::move(changed));
}
void ControlPlane::UnwatchLoads(uint64_t id) { impl_->UnwatchLoads(id); }
std::string ControlPlane::MetricsText() const { return impl_->MetricsText(); }

}  // namespace tributary::gateway
