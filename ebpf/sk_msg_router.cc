#include "ebpf/sk_msg_router.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "ebpf/bpf_skeleton.h"
#include "ebpf/loopback_pair.h"
#include "ebpf/router_abi.h"
#include "sk_msg_router.skel.h"
#include "shm/descriptor_stream.h"

namespace tributary::ebpf {
namespace {

using Skeleton = BpfSkeleton<sk_msg_router_bpf, &sk_msg_router_bpf__open_and_load,
                             &sk_msg_router_bpf__destroy>;

class SkMsgRouter final : public Router {
 public:
  ~SkMsgRouter() override {
    Unpin();
    if (attached_) {
      bpf_prog_detach2(bpf_program__fd(skel_->progs.tributary_route_descriptor),
                       bpf_map__fd(skel_->maps.instance_sockets), BPF_SK_MSG_VERDICT);
    }
    if (sender_ >= 0) close(sender_);
    if (peer_ >= 0) {
      shutdown(peer_, SHUT_RDWR);
      close(peer_);
    }
    if (drain_.joinable()) drain_.join();
    for (auto& [id, fd] : instances_) close(fd);
  }

  Status Init(const BpfRouterOptions& options) {
    TRIBUTARY_RETURN_IF_ERROR(skel_.OpenAndLoad());
    const int prog = bpf_program__fd(skel_->progs.tributary_route_descriptor);
    const int sockets = bpf_map__fd(skel_->maps.instance_sockets);
    if (bpf_prog_attach(prog, sockets, BPF_SK_MSG_VERDICT, 0) != 0) {
      return Status::FromErrno("attaching the sk_msg program");
    }
    attached_ = true;
    // Descriptors are written on `sender_` (its sendmsg runs the verdict program); whatever
    // the program passes unrouted arrives on `peer_`.
    TRIBUTARY_ASSIGN_OR_RETURN(LoopbackPair pair, LoopbackPair::Connect());
    sender_ = pair.ReleaseConnected();
    peer_ = pair.ReleaseAccepted();
    const uint64_t key = TRIBUTARY_ROUTER_SENDER_KEY;
    const uint64_t fd = static_cast<uint64_t>(sender_);
    if (bpf_map_update_elem(sockets, &key, &fd, BPF_ANY) != 0) {
      return Status::FromErrno("adding the sending socket to the sockhash");
    }
    // Whatever the program passes lands on the peer: read and drop it (it is counted).
    drain_ = std::thread([fd = peer_] {
      char buf[4096];
      while (recv(fd, buf, sizeof buf, 0) > 0) {
      }
    });
    if (!options.pin_dir.empty()) TRIBUTARY_RETURN_IF_ERROR(Pin(options.pin_dir));
    return Status::Ok();
  }

  std::string_view Kind() const override { return "bpf"; }

  Status Attach(InstanceId instance, const InstanceSocket& socket) override {
    if (instance == TRIBUTARY_ROUTER_SENDER_KEY) return Status::InvalidArgument("reserved id");
    // The instance's own socket, taken from its process: redirected frames land on its
    // receive queue directly.
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, socket.pid, 0));
    if (pidfd < 0) return Status::FromErrno("pidfd_open of instance " + std::to_string(instance));
    const int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, socket.fd_in_instance, 0));
    const int err = errno;
    close(pidfd);
    if (fd < 0) {
      return Status::FromErrno("pidfd_getfd of instance " + std::to_string(instance), err);
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    std::unique_lock lock(mu_);
    if (instances_.count(instance)) {
      close(fd);
      return Status::AlreadyExists("instance " + std::to_string(instance) + " is attached");
    }
    const uint64_t value = static_cast<uint64_t>(fd);
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.instance_sockets), &instance, &value,
                            BPF_NOEXIST) != 0) {
      Status s = Status::FromErrno("adding instance " + std::to_string(instance) +
                                   " to the sockhash");
      close(fd);
      return s;
    }
    std::vector<tributary_instance_counters> zero(libbpf_num_possible_cpus());
    (void)bpf_map_update_elem(bpf_map__fd(skel_->maps.counters), &instance, zero.data(), BPF_ANY);
    instances_[instance] = fd;
    return Status::Ok();
  }

  Status Detach(InstanceId instance) override {
    std::unique_lock lock(mu_);
    auto it = instances_.find(instance);
    if (it == instances_.end()) return Status::NotFound("instance not attached");
    (void)bpf_map_delete_elem(bpf_map__fd(skel_->maps.instance_sockets), &instance);
    (void)bpf_map_delete_elem(bpf_map__fd(skel_->maps.counters), &instance);
    close(it->second);
    instances_.erase(it);
    for (auto r = routes_.begin(); r != routes_.end();) {
      if (r->second == instance) {
        (void)bpf_map_delete_elem(bpf_map__fd(skel_->maps.routes), &r->first);
        r = routes_.erase(r);
      } else {
        ++r;
      }
    }
    return Status::Ok();
  }

  Status Route(const RouteKey& key, InstanceId instance) override {
    std::unique_lock lock(mu_);
    if (!instances_.count(instance)) {
      return Status::NotFound("instance " + std::to_string(instance) + " is not attached");
    }
    const tributary_route_key k = MapKey(key);
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.routes), &k, &instance, BPF_ANY) != 0) {
      return Status::FromErrno("writing the routing map");
    }
    routes_[k] = instance;
    return Status::Ok();
  }

  Status Unroute(const RouteKey& key) override {
    std::unique_lock lock(mu_);
    const tributary_route_key k = MapKey(key);
    (void)bpf_map_delete_elem(bpf_map__fd(skel_->maps.routes), &k);
    routes_.erase(k);
    return Status::Ok();
  }

  Status Send(const shm::Descriptor& d) override {
    std::shared_lock lock(mu_);  // routes and sockets stay put while the frame is in flight
    if (!routes_.count(MapKey({d.job, d.round, d.shard}))) {
      undelivered_.fetch_add(1);
      return Status::NotFound("no route for job " + std::to_string(d.job) + " round " +
                              std::to_string(d.round) + " shard " + std::to_string(d.shard));
    }
    std::lock_guard write(write_mu_);
    Status s = shm::WriteDescriptor(sender_, d);
    return s.ok() ? s : Status::Unavailable(s.message());
  }

  std::vector<InstanceCounters> Counters() const override {
    std::shared_lock lock(mu_);
    std::vector<InstanceCounters> out;
    std::vector<tributary_instance_counters> per_cpu(libbpf_num_possible_cpus());
    for (const auto& [id, fd] : instances_) {
      InstanceCounters c{.instance = id};
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &id, per_cpu.data()) == 0) {
        for (const auto& v : per_cpu) {
          c.messages += v.messages;
          c.bytes += v.bytes;
          c.last_seen_ns = std::max<uint64_t>(c.last_seen_ns, v.last_seen_ns);
        }
      }
      out.push_back(c);
    }
    return out;
  }

  uint64_t Undelivered() const override {
    std::vector<uint64_t> per_cpu(libbpf_num_possible_cpus());
    const uint32_t zero = 0;
    uint64_t passed = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.passed), &zero, per_cpu.data()) == 0) {
      for (uint64_t v : per_cpu) passed += v;
    }
    return passed + undelivered_.load();
  }

 private:
  struct KeyLess {
    bool operator()(const tributary_route_key& a, const tributary_route_key& b) const {
      return std::tie(a.job, a.round, a.shard) < std::tie(b.job, b.round, b.shard);
    }
  };
  static tributary_route_key MapKey(const RouteKey& k) {
    tributary_route_key m{};
    m.job = k.job;
    m.round = k.round;
    m.shard = k.shard;
    return m;
  }

  std::vector<bpf_map*> Maps() const {
    return {skel_->maps.instance_sockets, skel_->maps.routes, skel_->maps.counters,
            skel_->maps.passed};
  }

  Status Pin(const std::string& dir) {
    std::error_code ec;
    const std::filesystem::path root = std::filesystem::path(dir).parent_path();
    if (!std::filesystem::exists("/sys/fs/bpf/") ||
        (statfs_type("/sys/fs/bpf") != BPF_FS_MAGIC &&
         mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0)) {
      return Status::FromErrno("mounting bpffs at /sys/fs/bpf");
    }
    std::filesystem::create_directories(root, ec);
    std::filesystem::permissions(root, std::filesystem::perms::owner_all, ec);  // 0700
    std::filesystem::remove_all(dir, ec);  // pins of a run that crashed
    if (mkdir(dir.c_str(), 0700) != 0) return Status::FromErrno("creating " + dir);
    pin_dir_ = dir;
    for (bpf_map* map : Maps()) {
      const std::string path = dir + "/" + bpf_map__name(map);
      if (bpf_map__pin(map, path.c_str()) != 0) return Status::FromErrno("pinning " + path);
      chmod(path.c_str(), 0600);
    }
    return Status::Ok();
  }

  void Unpin() {
    if (pin_dir_.empty()) return;
    for (bpf_map* map : Maps()) (void)bpf_map__unpin(map, nullptr);
    rmdir(pin_dir_.c_str());
    pin_dir_.clear();
  }

  static long statfs_type(const char* path) {
    struct statfs st;
    return statfs(path, &st) == 0 ? static_cast<long>(st.f_type) : 0;
  }

  Skeleton skel_;
  std::string pin_dir_;
  bool attached_ = false;
  int sender_ = -1;
  int peer_ = -1;
  std::thread drain_;
  mutable std::shared_mutex mu_;
  std::mutex write_mu_;
  std::atomic<uint64_t> undelivered_{0};
  std::map<InstanceId, int> instances_;
  std::map<tributary_route_key, InstanceId, KeyLess> routes_;
};

}  // namespace

Result<std::unique_ptr<Router>> CreateBpfRouter(const BpfRouterOptions& options) {
  auto router = std::make_unique<SkMsgRouter>();
  TRIBUTARY_RETURN_IF_ERROR(router->Init(options));
  return std::unique_ptr<Router>(std::move(router));
}

}  // namespace tributary::ebpf
