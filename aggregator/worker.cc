#include "aggregator/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <vector>

#include "aggregator/plugin_rule.h"
#include "aggregator/python_rule.h"
#include "aggregator/rule_registry.h"
#include "gpu/host_pinning.h"
#include "shm/descriptor.h"
#include "shm/descriptor_stream.h"
#include "shm/slot_pool.h"

namespace tributary::aggregator {
namespace {

constexpr std::size_t kMaxFailureText = 1024;

// A job as the worker sees it: its pool and what its metadata says.
struct JobContext {
  std::unique_ptr<shm::SlotPool> pool;
  std::unique_ptr<gpu::HostPinning> pinned;  // the pool, page-locked for a CUDA rule
  std::size_t params = 0;
  std::string rule;
  RuleParams rule_params;
  bool delta_updates = false;       // publish previous model + rate * aggregate
  float server_learning_rate = 1;
};

// The rule folding one task lane (a shard of a tree node) of one job, reused across rounds.
struct ShardState {
  std::unique_ptr<AggregationRule> rule;
  uint32_t round = 0;
  uint64_t folded = 0;
  std::chrono::steady_clock::duration busy{};  // inside the rule this round
  bool open = false;
};

class Worker {
 public:
  Worker(const WorkerOptions& o, int fd) : options_(o), fd_(fd) {}

  // Handles `early` (frames routed here before the runtime's acknowledgement), then every
  // frame that arrives until the runtime closes the connection.
  int Run(const std::vector<shm::Descriptor>& early) {
    for (const auto& d : early) Handle(d);
    shm::DescriptorReader reader(fd_);
    std::vector<shm::Descriptor> batch;
    for (;;) {
      batch.clear();
      Status s = reader.Read(&batch);
      if (s.code() == StatusCode::kUnavailable) return 0;  // runtime closed: exit cleanly
      if (!s.ok()) {
        spdlog::error("aggregator {}: {}", options_.instance, s.ToString());
        return 1;
      }
      for (const auto& d : batch) Handle(d);
    }
  }

 private:
  void Handle(const shm::Descriptor& d) {
    Status s;
    switch (shm::KindOf(d)) {
      case shm::DescriptorKind::kUpdate: s = Fold(d); break;
      case shm::DescriptorKind::kFinish: s = Finish(d, /*top=*/true); break;
      case shm::DescriptorKind::kFlush: s = Finish(d, /*top=*/false); break;
      case shm::DescriptorKind::kJobEnded: ForgetJob(d.job); return;
      default: s = Status::InvalidArgument("unexpected descriptor kind"); break;
    }
    if (s.ok()) return;
    spdlog::warn("aggregator {}: job {} round {} shard {}: {}", options_.instance, d.job, d.round,
                 d.shard, s.ToString());
    shm::Descriptor failed = d;
    failed.kind = TRIBUTARY_DESC_FAILED;
    failed.client = static_cast<uint64_t>(s.code());
    failed.bytes = LeaveFailureText(d, s.message());
    (void)shm::WriteDescriptor(fd_, failed);
  }

  // Writes `text` (cut to fit) at the start of this shard of the round's output slot, which
  // the control plane reads when the FAILED arrives and discards with the failed round.
  // Returns the bytes written.
  std::size_t LeaveFailureText(const shm::Descriptor& d, std::string_view text) {
    auto it = jobs_.find(d.job);
    if (it == jobs_.end() || d.target_slot >= it->second.pool->num_slots()) return 0;
    const shm::ShardRange r = Range(it->second, d);
    const std::size_t n = std::min({text.size(), r.size() * sizeof(float), kMaxFailureText});
    std::memcpy(it->second.pool->Bytes(d.target_slot).data() + r.begin * sizeof(float),
                text.data(), n);
    return n;
  }

  Result<JobContext*> Job(uint64_t job) {
    auto it = jobs_.find(job);
    if (it != jobs_.end()) return &it->second;
    TRIBUTARY_ASSIGN_OR_RETURN(auto pool,
                               shm::SlotPool::Open(options_.pool_prefix + std::to_string(job)));
    JobContext ctx;
    auto meta = nlohmann::json::parse(pool->metadata(), nullptr, false);
    if (meta.is_discarded() || !meta.contains("params") || !meta.contains("rule")) {
      return Status::DataLoss("pool metadata of job " + std::to_string(job) + " is unreadable");
    }
    ctx.params = meta["params"].get<std::size_t>();
    ctx.rule = meta["rule"].get<std::string>();
    if (meta.contains("rule_params")) ctx.rule_params = meta["rule_params"].get<RuleParams>();
    ctx.delta_updates = meta.value("delta_updates", false);
    ctx.server_learning_rate = meta.value("server_learning_rate", 1.0f);
    ctx.pinned = gpu::HostPinning::ForRule(options_.device, ctx.rule, pool->Mapping());
    ctx.pool = std::move(pool);
    return &jobs_.emplace(job, std::move(ctx)).first->second;
  }

  static shm::ShardRange Range(const JobContext& job, const shm::Descriptor& d) {
    return shm::ShardOf(job.params, d.num_shards, shm::ShardIndexOf(d));
  }

  Result<ShardState*> Shard(const shm::Descriptor& d, JobContext* job) {
    ShardState& st = shards_[{d.job, d.shard}];
    const shm::ShardRange r = Range(*job, d);
    if (!st.rule) {
      // A flushed tree node's rule, of the same job and size, is reused: its buffer is faulted.
      auto spare = spare_rules_.find({d.job, r.size()});
      if (spare != spare_rules_.end()) {
        st.rule = std::move(spare->second);
        spare_rules_.erase(spare);
      } else {
        TRIBUTARY_ASSIGN_OR_RETURN(st.rule,
                                   CreateRule(job->rule, job->rule_params, options_.device));
      }
    }
    if (!st.open || st.round != d.round) {
      // The task's accumulator (an input's target slot), where the rule may keep its state.
      std::span<float> accumulator;
      if (d.target_slot < job->pool->num_slots()) {
        accumulator = job->pool->Floats(d.target_slot).subspan(r.begin, r.size());
      }
      TRIBUTARY_RETURN_IF_ERROR(
          st.rule->Begin({.round = d.round, .dim = r.size(), .accumulator = accumulator}));
      st.round = d.round;
      st.folded = 0;
      st.busy = {};
      st.open = true;
    }
    return &st;
  }

  Status Fold(const shm::Descriptor& d) {
    TRIBUTARY_ASSIGN_OR_RETURN(JobContext * job, Job(d.job));
    TRIBUTARY_ASSIGN_OR_RETURN(ShardState * st, Shard(d, job));
    shm::SlotHandle h{d.slot, d.slot_generation};
    TRIBUTARY_RETURN_IF_ERROR(job->pool->Acquire(h));
    const shm::ShardRange r = Range(*job, d);
    const auto start = std::chrono::steady_clock::now();
    Status s = st->rule->Add(job->pool->Floats(d.slot).subspan(r.begin, r.size()), d.weight);
    st->busy += std::chrono::steady_clock::now() - start;
    TRIBUTARY_RETURN_IF_ERROR(job->pool->Release(h));
    if (s.ok()) ++st->folded;
    return s;
  }

  // FINISH (`top`: the round's result, with the server step of delta jobs) or FLUSH (a tree
  // node's partial, whose rule then goes back to the spares).
  Status Finish(const shm::Descriptor& d, bool top) {
    TRIBUTARY_ASSIGN_OR_RETURN(JobContext * job, Job(d.job));
    TRIBUTARY_ASSIGN_OR_RETURN(ShardState * st, Shard(d, job));
    if (st->folded != d.client) {
      return Status::DataLoss("shard folded " + std::to_string(st->folded) + " updates, " +
                              std::to_string(d.client) + " were sent");
    }
    shm::SlotHandle out{d.target_slot, d.slot_generation};
    TRIBUTARY_RETURN_IF_ERROR(job->pool->Acquire(out));
    const shm::ShardRange r = Range(*job, d);
    auto result = job->pool->Floats(d.target_slot).subspan(r.begin, r.size());
    const auto start = std::chrono::steady_clock::now();
    Status s = st->rule->Finish(result);
    if (s.ok() && top && job->delta_updates) s = ApplyServerStep(*job, d.slot, r, result);
    st->busy += std::chrono::steady_clock::now() - start;
    TRIBUTARY_RETURN_IF_ERROR(job->pool->Release(out));
    TRIBUTARY_RETURN_IF_ERROR(s);
    st->open = false;
    shm::Descriptor done = d;
    done.kind = TRIBUTARY_DESC_DONE;
    done.weight = std::chrono::duration<double>(st->busy).count();
    if (!top) {
      spare_rules_.emplace(std::pair{d.job, r.size()}, std::move(st->rule));
      shards_.erase({d.job, d.shard});
    }
    return shm::WriteDescriptor(fd_, done);
  }

  // result = previous model + rate * result, over the shard's range.
  static Status ApplyServerStep(const JobContext& job, uint32_t previous, shm::ShardRange r,
                                std::span<float> result) {
    if (previous >= job.pool->num_slots()) {
      return Status::InvalidArgument("previous model slot " + std::to_string(previous) +
                                     " is outside the pool");
    }
    const float* prev = job.pool->Floats(previous).data() + r.begin;
    const float rate = job.server_learning_rate;
    for (std::size_t i = 0; i < result.size(); ++i) result[i] = prev[i] + rate * result[i];
    return Status::Ok();
  }

  // Unmaps the job's pool and drops its rules.
  void ForgetJob(uint64_t job) {
    std::erase_if(shards_, [&](const auto& kv) { return kv.first.first == job; });
    std::erase_if(spare_rules_, [&](const auto& kv) { return kv.first.first == job; });
    jobs_.erase(job);
  }

  WorkerOptions options_;
  int fd_;
  std::map<uint64_t, JobContext> jobs_;
  std::map<std::pair<uint64_t, uint32_t>, ShardState> shards_;  // by (job, lane)
  // Rules of flushed tree nodes by (job, coordinates), for the next node of that size.
  std::multimap<std::pair<uint64_t, std::size_t>, std::unique_ptr<AggregationRule>> spare_rules_;
};

}  // namespace

int RunWorker(const WorkerOptions& options) {
  for (const auto& path : options.rule_plugins) {
    if (auto p = LoadRulePlugin(path); !p) {
      spdlog::error("aggregator {}: {}", options.instance, p.error().ToString());
      return 1;
    }
  }
  for (const auto& dir : options.python_paths) AddPythonPath(dir);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    spdlog::error("aggregator: socket: {}", strerror(errno));
    return 1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.host.c_str(), &addr.sin_addr) != 1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    spdlog::error("aggregator {}: cannot reach node runtime at {}:{}: {}", options.instance,
                  options.host, options.port, strerror(errno));
    return 1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  shm::Descriptor hello = shm::MakeDescriptor(shm::DescriptorKind::kHello);
  hello.client = options.instance;
  hello.sequence = static_cast<uint64_t>(getpid());
  hello.slot = static_cast<uint32_t>(fd);  // for routers that deliver into this socket directly
  if (Status s = shm::WriteDescriptor(fd, hello); !s.ok()) {
    spdlog::error("aggregator {}: {}", options.instance, s.ToString());
    return 1;
  }
  // Wait until the runtime says the router has attached this socket (see descriptor_format.h).
  // The router may deliver work as soon as it has: frames ahead of the acknowledgement are kept
  // for the worker.
  constexpr std::size_t kMaxEarlyFrames = 1 << 16;
  std::vector<shm::Descriptor> early;
  for (shm::Descriptor d;;) {
    const bool framed = recv(fd, &d, sizeof d, MSG_WAITALL) == sizeof d &&
                        shm::ValidateFrame(std::as_bytes(std::span(&d, 1))).ok();
    if (framed && shm::KindOf(d) == shm::DescriptorKind::kHello) break;
    if (!framed || early.size() == kMaxEarlyFrames) {
      spdlog::error("aggregator {}: the node runtime did not acknowledge", options.instance);
      return 1;
    }
    early.push_back(d);
  }
  int rc = Worker(options, fd).Run(early);
  close(fd);
  return rc;
}

}  // namespace tributary::aggregator
