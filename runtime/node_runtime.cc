#include "runtime/node_runtime.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <spdlog/spdlog.h>
#include <thread>

#include "shm/descriptor_stream.h"

extern char** environ;

namespace tributary::runtime {

class NodeRuntime::Impl {
 public:
  Impl(NodeRuntimeOptions o, ebpf::Router* router, RuntimeCallbacks cb)
      : options_(std::move(o)), router_(router), cb_(std::move(cb)) {}

  ~Impl() {
    stopping_ = true;
    uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    std::vector<pid_t> pids;
    {
      std::lock_guard lock(mu_);
      for (auto& [fd, inst] : by_fd_) {
        (void)router_->Detach(inst.id);
        close(fd);
        close(inst.pidfd);
        pids.push_back(inst.pid);
      }
      by_fd_.clear();
      by_pidfd_.clear();
      for (auto& [id, starting] : spawning_) {
        close(starting.pidfd);
        pids.push_back(starting.pid);
      }
      for (auto& [pidfd, pid] : retiring_) {
        close(pidfd);
        pids.push_back(pid);
      }
    }
    for (pid_t pid : pids) (void)Reap(pid, std::chrono::milliseconds(2000));
    if (listen_fd_ >= 0) close(listen_fd_);
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  Status Init() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return Status::FromErrno("runtime socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 128) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return Status::FromErrno("runtime listener");
    }
    port_ = ntohs(addr.sin_port);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || wake_fd_ < 0) return Status::FromErrno("runtime epoll");
    AddToEpoll(listen_fd_);
    AddToEpoll(wake_fd_);
    target_ = options_.instances;
    for (uint32_t i = 0; i < options_.instances; ++i) TRIBUTARY_RETURN_IF_ERROR(Spawn());
    thread_ = std::thread([this] { Loop(); });
    std::unique_lock lock(mu_);
    if (!ready_cv_.wait_for(lock, options_.start_timeout,
                            [&] { return by_fd_.size() >= options_.instances; })) {
      return Status::DeadlineExceeded("only " + std::to_string(by_fd_.size()) + " of " +
                                      std::to_string(options_.instances) +
                                      " aggregator processes started in time");
    }
    return Status::Ok();
  }

  void ScaleTo(uint32_t n) {
    std::vector<std::pair<int, Instance>> retire;
    uint32_t spawn = 0;
    {
      std::lock_guard lock(mu_);
      target_ = n;
      const std::size_t have = by_fd_.size() + spawning_.size();
      if (n > have) spawn = static_cast<uint32_t>(n - have);
      while (by_fd_.size() + spawning_.size() > n && !by_fd_.empty()) {
        auto it = std::prev(by_fd_.end());
        by_pidfd_.erase(it->second.pidfd);
        retiring_[it->second.pidfd] = it->second.pid;
        retire.emplace_back(it->first, std::move(it->second));
        by_fd_.erase(it);
      }
    }
    // A retired instance's connection closes: its worker exits, and the event thread reaps it
    // when its pidfd turns readable, without replacing it.
    for (auto& [fd, inst] : retire) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      (void)router_->Detach(inst.id);
      close(fd);
    }
    for (uint32_t i = 0; i < spawn; ++i) {
      if (Status s = Spawn(); !s.ok()) spdlog::error("runtime: {}", s.ToString());
    }
  }

  std::vector<ebpf::InstanceId> LiveInstances() const {
    std::lock_guard lock(mu_);
    std::vector<ebpf::InstanceId> ids;
    for (const auto& [fd, inst] : by_fd_) ids.push_back(inst.id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  pid_t PidOf(ebpf::InstanceId id) const {
    std::lock_guard lock(mu_);
    for (const auto& [fd, inst] : by_fd_) {
      if (inst.id == id) return inst.pid;
    }
    return -1;
  }

  uint64_t processes_started() const { return started_.load(); }

  void Broadcast(const shm::Descriptor& d) {
    std::lock_guard lock(mu_);
    for (const auto& [fd, inst] : by_fd_) {
      if (Status s = shm::WriteDescriptor(fd, d); !s.ok()) {
        spdlog::debug("runtime: to instance {}: {}", inst.id, s.ToString());  // it is going away
      }
    }
  }

 private:
  struct Instance {
    ebpf::InstanceId id;
    pid_t pid;
    int pidfd;  // readable once the process has exited
    std::unique_ptr<shm::DescriptorReader> reader;
  };

  void AddToEpoll(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }

  Status Spawn() {
    ebpf::InstanceId id = next_id_++;
    std::vector<std::string> args = options_.worker_argv;
    args.insert(args.end(), {"--port", std::to_string(port_), "--instance", std::to_string(id),
                             "--pool-prefix", options_.pool_prefix});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
    if (rc != 0) return Status::FromErrno("starting aggregator process " + args[0], rc);
    started_.fetch_add(1);
    // Its exit is watched from now on: a process that dies before its HELLO is replaced too.
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      const int err = errno;
      kill(pid, SIGKILL);
      (void)Reap(pid, std::chrono::milliseconds(1000));
      return Status::FromErrno("pidfd_open of aggregator process " + std::to_string(pid), err);
    }
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    {
      std::lock_guard lock(mu_);
      spawning_[id] = {pid, pidfd};
    }
    AddToEpoll(pidfd);
    return Status::Ok();
  }

  // An instance that exited before its HELLO: replaced, unless instances keep dying that way
  // (a broken aggregator program), which would only spin.
  void LostWhileStarting(ebpf::InstanceId id) {
    Starting s;
    {
      std::lock_guard lock(mu_);
      auto it = spawning_.find(id);
      if (it == spawning_.end()) return;
      s = it->second;
      spawning_.erase(it);
    }
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s.pidfd, nullptr);
    close(s.pidfd);
    const std::string cause = Reap(s.pid, std::chrono::milliseconds(1000));
    if (stopping_ || !BelowTarget()) return;
    if (++deaths_while_starting_ > kMaxDeathsWhileStarting) {
      spdlog::error("runtime: aggregator instance {} (pid {}) {} before it started, the {}th in "
                    "a row; not starting another",
                    id, s.pid, cause, deaths_while_starting_);
      return;
    }
    spdlog::warn("runtime: aggregator instance {} (pid {}) {} before it started; starting a "
                 "replacement",
                 id, s.pid, cause);
    if (Status st = Spawn(); !st.ok()) spdlog::error("runtime: {}", st.ToString());
  }

  // Waits for `pid` to exit (killing it after `grace`) and says how it ended.
  static std::string Reap(pid_t pid, std::chrono::milliseconds grace) {
    auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    pid_t rc;
    while ((rc = waitpid(pid, &status, WNOHANG)) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        rc = waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (rc != pid) return "exit status unknown";
    if (WIFSIGNALED(status)) {
      return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
             strsignal(WTERMSIG(status)) + ")";
    }
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }

  void Accept() {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    shm::Descriptor hello;
    ssize_t n = recv(fd, &hello, sizeof hello, MSG_WAITALL);
    tv = {};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::span<const std::byte> frame(reinterpret_cast<std::byte*>(&hello),
                                     n > 0 ? std::size_t(n) : 0);
    Starting started;
    bool surplus = false;
    {
      std::lock_guard lock(mu_);
      auto it = spawning_.find(hello.client);
      const bool known = shm::ValidateFrame(frame).ok() &&
                         shm::KindOf(hello) == shm::DescriptorKind::kHello &&
                         it != spawning_.end() &&
                         it->second.pid == static_cast<pid_t>(hello.sequence);
      if (known) {
        started = it->second;
        spawning_.erase(it);
        // ScaleTo lowered the target while it started: retired on arrival, not replaced.
        surplus = by_fd_.size() >= target_;
        if (surplus) retiring_[started.pidfd] = started.pid;
      }
    }
    if (started.pid <= 0) {
      spdlog::warn("runtime: dropped a connection without a valid HELLO");
      close(fd);
      return;
    }
    if (surplus) {
      spdlog::debug("runtime: aggregator instance {} (pid {}) retired as it arrived", hello.client,
                    started.pid);
      // Acknowledged, then closed: its worker sees its connection end, as a retired one does,
      // and exits; Retired() reaps it.
      (void)shm::WriteDescriptor(fd, shm::MakeDescriptor(shm::DescriptorKind::kHello));
      close(fd);
      return;
    }
    deaths_while_starting_ = 0;
    const pid_t pid = started.pid;
    // The process's exit is watched through its pidfd (opened by Spawn): a router may hold a
    // duplicate of the instance's own socket, and then the connection never reports end of
    // stream.
    const int pidfd = started.pidfd;
    const ebpf::InstanceSocket socket{
        .fd = fd, .pid = pid, .fd_in_instance = static_cast<int>(hello.slot)};
    if (Status s = router_->Attach(hello.client, socket); !s.ok()) {
      spdlog::error("runtime: attaching instance {}: {}", hello.client, s.ToString());
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, pidfd, nullptr);
      close(pidfd);
      close(fd);
      return;
    }
    {
      std::lock_guard lock(mu_);
      by_fd_[fd] = Instance{hello.client, pid, pidfd, std::make_unique<shm::DescriptorReader>(fd)};
      by_pidfd_[pidfd] = fd;
    }
    AddToEpoll(fd);
    // The instance waits for this before it sleeps in recv(): a receive that began before its
    // socket joined a BPF sockhash would not see frames redirected into it.
    if (Status s = shm::WriteDescriptor(fd, shm::MakeDescriptor(shm::DescriptorKind::kHello));
        !s.ok()) {
      spdlog::warn("runtime: instance {}: {}", hello.client, s.ToString());
    }
    spdlog::debug("runtime: aggregator instance {} (pid {}) ready", hello.client, hello.sequence);
    ready_cv_.notify_all();
    if (cb_.on_instance_ready) cb_.on_instance_ready(hello.client);
  }

  void OnReadable(int fd) {
    std::vector<shm::Descriptor> frames;
    Status s;
    {
      std::lock_guard lock(mu_);
      auto it = by_fd_.find(fd);
      if (it == by_fd_.end()) return;
      s = it->second.reader->Read(&frames, /*nonblocking=*/true);
    }
    for (const auto& d : frames) {
      if (cb_.on_reply) cb_.on_reply(d);
    }
    if (!s.ok()) Lost(fd);
  }

  void Lost(int fd) {
    Instance inst;
    {
      std::lock_guard lock(mu_);
      auto it = by_fd_.find(fd);
      if (it == by_fd_.end()) return;
      inst = std::move(it->second);
      by_fd_.erase(it);
      by_pidfd_.erase(inst.pidfd);
    }
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, inst.pidfd, nullptr);
    close(inst.pidfd);
    (void)router_->Detach(inst.id);
    close(fd);
    const std::string cause = Reap(inst.pid, std::chrono::milliseconds(1000));
    spdlog::warn("runtime: aggregator instance {} (pid {}) {}; starting a replacement", inst.id,
                 inst.pid, cause);
    if (cb_.on_instance_lost) cb_.on_instance_lost(inst.id, inst.pid, cause);
    if (!stopping_ && BelowTarget()) {
      if (Status s = Spawn(); !s.ok()) spdlog::error("runtime: {}", s.ToString());
    }
  }

  bool BelowTarget() const {
    std::lock_guard lock(mu_);
    return by_fd_.size() + spawning_.size() < target_;
  }

  // Reaps a retired instance whose process exited.
  void Retired(int pidfd) {
    pid_t pid;
    {
      std::lock_guard lock(mu_);
      auto it = retiring_.find(pidfd);
      if (it == retiring_.end()) return;
      pid = it->second;
      retiring_.erase(it);
    }
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, pidfd, nullptr);
    close(pidfd);
    (void)Reap(pid, std::chrono::milliseconds(1000));
  }

  void Loop() {
    epoll_event events[64];
    while (!stopping_) {
      int n = epoll_wait(epoll_fd_, events, 64, -1);
      for (int i = 0; i < n && !stopping_; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd_) continue;
        if (fd == listen_fd_) {
          Accept();
          continue;
        }
        int exited = -1;
        std::optional<ebpf::InstanceId> starting;
        bool retired = false;
        {
          std::lock_guard lock(mu_);
          if (auto it = by_pidfd_.find(fd); it != by_pidfd_.end()) exited = it->second;
          for (const auto& [id, s] : spawning_) {
            if (s.pidfd == fd) starting = id;
          }
          retired = retiring_.count(fd) > 0;
        }
        if (retired) {
          Retired(fd);
        } else if (starting) {
          LostWhileStarting(*starting);
        } else if (exited >= 0) {
          OnReadable(exited);  // replies it sent before dying come first
          Lost(exited);
        } else {
          OnReadable(fd);
        }
      }
    }
  }

  NodeRuntimeOptions options_;
  ebpf::Router* router_;
  RuntimeCallbacks cb_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> started_{0};
  ebpf::InstanceId next_id_ = 1;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  std::map<int, Instance> by_fd_;
  std::map<int, int> by_pidfd_;  // pidfd -> the instance's socket fd
  // Processes started that have not sent their HELLO yet.
  struct Starting {
    pid_t pid = -1;
    int pidfd = -1;
  };
  static constexpr int kMaxDeathsWhileStarting = 10;
  std::map<ebpf::InstanceId, Starting> spawning_;
  std::map<int, pid_t> retiring_;  // pidfd -> pid of instances ScaleTo retired
  uint32_t target_ = 0;            // instances wanted (ScaleTo)
  int deaths_while_starting_ = 0;  // in a row (Loop's thread only)
};

Result<std::unique_ptr<NodeRuntime>> NodeRuntime::Start(const NodeRuntimeOptions& options,
                                                        ebpf::Router* router,
                                                        RuntimeCallbacks callbacks) {
  if (options.worker_argv.empty()) {
    return Status::InvalidArgument("runtime needs the aggregator program");
  }
  auto impl = std::make_unique<Impl>(options, router, std::move(callbacks));
  TRIBUTARY_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<NodeRuntime>(new NodeRuntime(std::move(impl)));
}

NodeRuntime::NodeRuntime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeRuntime::~NodeRuntime() = default;

std::vector<ebpf::InstanceId> NodeRuntime::LiveInstances() const { return impl_->LiveInstances(); }
pid_t NodeRuntime::PidOf(ebpf::InstanceId id) const { return impl_->PidOf(id); }
uint64_t NodeRuntime::processes_started() const { return impl_->processes_started(); }
void NodeRuntime::Broadcast(const shm::Descriptor& d) { impl_->Broadcast(d); }
void NodeRuntime::ScaleTo(uint32_t instances) { impl_->ScaleTo(instances); }

}  // namespace tributary::runtime
