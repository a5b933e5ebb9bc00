#include "ebpf/userspace_router.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "shm/descriptor_stream.h"

namespace tributary::ebpf {
namespace {

struct RouteKeyHash {
  std::size_t operator()(const RouteKey& k) const {
    uint64_t h = k.job * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t(k.round) << 32 | k.shard) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    return static_cast<std::size_t>(h);
  }
};

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

class UserspaceRouter final : public Router {
 public:
  ~UserspaceRouter() override {
    for (auto& [id, inst] : instances_) close(inst->fd);
  }

  std::string_view Kind() const override { return "userspace"; }

  Status Attach(InstanceId instance, const InstanceSocket& socket) override {
    int fd = fcntl(socket.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return Status::FromErrno("dup instance socket");
    std::unique_lock lock(mu_);
    auto [it, inserted] = instances_.try_emplace(instance, nullptr);
    if (!inserted) {
      close(fd);
      return Status::AlreadyExists("instance " + std::to_string(instance) + " is attached");
    }
    it->second = std::make_unique<Instance>();
    it->second->fd = fd;
    return Status::Ok();
  }

  Status Detach(InstanceId instance) override {
    std::unique_lock lock(mu_);
    auto it = instances_.find(instance);
    if (it == instances_.end()) return Status::NotFound("instance not attached");
    close(it->second->fd);
    instances_.erase(it);
    std::erase_if(routes_, [&](const auto& kv) { return kv.second == instance; });
    return Status::Ok();
  }

  Status Route(const RouteKey& key, InstanceId instance) override {
    std::unique_lock lock(mu_);
    if (!instances_.count(instance)) {
      return Status::NotFound("instance " + std::to_string(instance) + " is not attached");
    }
    routes_[key] = instance;
    return Status::Ok();
  }

  Status Unroute(const RouteKey& key) override {
    std::unique_lock lock(mu_);
    routes_.erase(key);
    return Status::Ok();
  }

  Status Send(const shm::Descriptor& d) override {
    std::shared_lock lock(mu_);
    auto r = routes_.find(RouteKey{d.job, d.round, d.shard});
    if (r == routes_.end()) {
      undelivered_.fetch_add(1);
      return Status::NotFound("no route for job " + std::to_string(d.job) + " round " +
                              std::to_string(d.round) + " shard " + std::to_string(d.shard));
    }
    auto it = instances_.find(r->second);
    if (it == instances_.end()) {
      undelivered_.fetch_add(1);
      return Status::Unavailable("routed instance is gone");
    }
    Instance& inst = *it->second;
    std::lock_guard write_lock(inst.write_mu);
    Status s = shm::WriteDescriptor(inst.fd, d);
    if (!s.ok()) {
      undelivered_.fetch_add(1);
      return Status::Unavailable(s.message());
    }
    inst.messages += 1;
    inst.bytes += sizeof d;
    inst.last_seen_ns = MonotonicNs();
    return Status::Ok();
  }

  uint64_t Undelivered() const override { return undelivered_.load(); }

  std::vector<InstanceCounters> Counters() const override {
    std::shared_lock lock(mu_);
    std::vector<InstanceCounters> out;
    for (const auto& [id, inst] : instances_) {
      std::lock_guard write_lock(inst->write_mu);
      out.push_back({id, inst->messages, inst->bytes, inst->last_seen_ns});
    }
    return out;
  }

 private:
  struct Instance {
    int fd = -1;
    mutable std::mutex write_mu;  // one frame at a time per socket
    uint64_t messages = 0;
    uint64_t bytes = 0;
    uint64_t last_seen_ns = 0;
  };
  mutable std::shared_mutex mu_;
  std::atomic<uint64_t> undelivered_{0};
  std::unordered_map<InstanceId, std::unique_ptr<Instance>> instances_;
  std::unordered_map<RouteKey, InstanceId, RouteKeyHash> routes_;
};

}  // namespace

std::unique_ptr<Router> CreateUserspaceRouter() { return std::make_unique<UserspaceRouter>(); }

}  // namespace tributary::ebpf
