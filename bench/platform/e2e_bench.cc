// End-to-end benchmarks of the single-node data path against a real `tributary serve`.
//
//   e2e_bench ingest [--params P] [--reps R]
//     One client pushes a P-float update R times over the node's bulk port and another R
//     times over gRPC (one round each), and each pulls the model its round published once it
//     is published; beside them, in the same run and interleaved, the same bytes cross a raw
//     loopback TCP connection (4 MiB writes into a pre-faulted buffer): the ceiling. Reports
//     per transport push and pull throughput, their ratios to TCP, server CPU per MB pushed
//     and the server's page faults per push.
//   e2e_bench round [--server tributary|baseline] [--clients N] [--params P] [--rounds R]
//     N clients push concurrently to `tributary serve` or to the Flower-style baseline
//     (bench/baseline/); reports per round the round time (start to published model pulled),
//     the server's aggregation time (last update to published) and CPU seconds, and the peak
//     memory of the server's processes over the run (see TreeMemory).
//   e2e_bench tcp [--bytes B] [--reps R]
//     Raw loopback TCP moving B bytes on one connection: the transfer-time ceiling of a round.
//   Every scenario but idle also writes its figures as JSON with --json FILE.
//   e2e_bench idle [--reps SECONDS]
//     CPU used by the warm aggregator processes (and the gateway) while nothing runs.
//   e2e_bench start [--params P] [--reps R]
//     Cold against warm aggregator start: serve scales its processes to zero after 0.3 s idle;
//     R times, one client's round once they are gone (cold: the push starts them) and the next
//     round at once (warm). Reports both round times and their difference.
// `--serve-arg ARG` (repeatable) passes ARG on to `tributary serve` (say, --shm-backend dpdk);
// `--fan-in K` creates the round scenarios' jobs with that fan-in (a tree; default flat);
// `--transport grpc` makes the round scenario's clients push and pull over gRPC (default: the
// bulk port); `--memory-sample-ms MS` samples the server's memory every MS ms (default 100);
// `--tributary PATH` serves with that binary rather than the one built beside this benchmark
// (a build copied to another machine).
#include <grpcpp/grpcpp.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cli/heap_tuning.h"
#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "common/receive_low_water.h"
#include "ebpf/loopback_pair.h"
#include "flower_style.grpc.pb.h"
#include "tributary/v1/operator.grpc.pb.h"

extern char** environ;

namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// CPU seconds and minor faults of a process (and its aggregator children, listed separately).
struct ProcStat {
  double cpu_s = 0;
  uint64_t minflt = 0;
};
ProcStat Stat(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto close = s.rfind(')');
  std::istringstream in(s.substr(close + 2));
  std::vector<std::string> fields((std::istream_iterator<std::string>(in)), {});
  ProcStat st;
  if (fields.size() > 13) {
    st.minflt = std::stoull(fields[7]);
    st.cpu_s = double(std::stoull(fields[11]) + std::stoull(fields[12])) / sysconf(_SC_CLK_TCK);
  }
  return st;
}

std::vector<pid_t> Children(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(t.path() / "children");
    pid_t p;
    while (f >> p) out.push_back(p);
  }
  return out;
}

// Starts `args` (argv[0] a path) and waits up to `wait` for the port it writes to `port_file`;
// exits the benchmark, saying why, when the program cannot start, exits or writes no port.
std::pair<pid_t, int> SpawnAndAwaitPort(std::vector<std::string> args,
                                        const std::filesystem::path& port_file,
                                        std::chrono::seconds wait) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (int rc = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ); rc != 0) {
    std::fprintf(stderr, "cannot start %s: %s\n", argv[0], std::strerror(rc));
    std::exit(1);
  }
  int port = 0;
  const auto until = std::chrono::steady_clock::now() + wait;
  while (port == 0 && std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      std::fprintf(stderr, "%s %s %d before it listened\n", argv[0],
                   WIFSIGNALED(status) ? "was killed by signal" : "exited with code",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      std::exit(1);
    }
    std::ifstream(port_file) >> port;
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (port == 0) {
    std::fprintf(stderr, "%s wrote no port to %s within %lld s\n", argv[0], port_file.c_str(),
                 static_cast<long long>(wait.count()));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::exit(1);
  }
  return {pid, port};
}

std::vector<std::string> g_serve_args;  // --serve-arg
bool g_use_bulk_port = true;            // --transport bulk|grpc: the round scenario's clients
uint32_t g_fan_in = 0;                  // --fan-in
int g_memory_sample_ms = 100;           // --memory-sample-ms
std::string g_tributary = TRIBUTARY_BINARY;  // --tributary

class Serve {
 public:
  Serve() {
    dir_ = std::filesystem::temp_directory_path() / ("tributary-bench-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args = {g_tributary,         "serve",      "--listen",
                                     "127.0.0.1:0",       "--data-dir", dir_.string(),
                                     "--drain-timeout-s", "0"};
    args.insert(args.end(), g_serve_args.begin(), g_serve_args.end());
    std::tie(pid_, port_) =
        SpawnAndAwaitPort(std::move(args), dir_ / "port", std::chrono::seconds(10));
    op_ = tributary::v1::OperatorService::NewStub(
        grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
  }
  ~Serve() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::filesystem::remove_all(dir_);
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  uint64_t CreateJob(uint64_t params, uint32_t rounds, uint32_t cpr) {
    tributary::v1::JobSpec spec;
    spec.set_name("bench");
    spec.set_params(params);
    spec.set_rounds(rounds);
    spec.set_clients_per_round(cpr);
    spec.set_fan_in(g_fan_in);
    grpc::ClientContext ctx;
    tributary::v1::JobInfo info;
    auto s = op_->CreateJob(&ctx, spec, &info);
    if (!s.ok()) {
      std::fprintf(stderr, "create job: %s\n", s.error_message().c_str());
      std::exit(1);
    }
    return info.job_id();
  }
  tributary::v1::OperatorService::Stub& op() { return *op_; }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<tributary::v1::OperatorService::Stub> op_;
};

// Sends `bytes` over a fresh loopback TCP connection in writes of up to 4 MiB, cycling
// through `src` and into `dst` (pre-faulted buffers of one size); returns seconds. The receiver
// is woken once 256 KiB are queued (ReceiveLowWater), as the node's bulk port is, rather than
// as each segment lands: fewer wakeups make raw TCP faster on this machine, so the ceiling is
// the higher one.
double TcpTransfer(const std::vector<char>& src, std::vector<char>& dst, uint64_t bytes) {
  const std::size_t buffer = src.size();
  auto pair = tributary::ebpf::LoopbackPair::Connect(/*nodelay=*/false).value();
  std::thread receiver([&] {
    // As the node reads: poll, then take what is queued without blocking (a blocking recv()
    // that copied part of its target waits for a whole low-water mark more).
    uint64_t got = 0;
    tributary::ReceiveLowWater low_water(pair.accepted(), 256 << 10);
    while (got < bytes) {
      low_water.Expect(bytes - got);
      pollfd readable{.fd = pair.accepted(), .events = POLLIN, .revents = 0};
      if (poll(&readable, 1, -1) < 0 && errno != EINTR) break;
      ssize_t n = 0;
      while (got < bytes &&
             (n = recv(pair.accepted(), dst.data() + got % buffer,
                       std::min<uint64_t>({4 << 20, buffer - got % buffer, bytes - got}),
                       MSG_DONTWAIT)) > 0) {
        got += n;
      }
      if (got < bytes && (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))) break;
    }
  });
  auto t0 = Clock::now();
  uint64_t sent = 0;
  while (sent < bytes) {
    ssize_t n = send(pair.connected(), src.data() + sent % buffer,
                     std::min<uint64_t>({4 << 20, buffer - sent % buffer, bytes - sent}), 0);
    if (n <= 0) break;
    sent += n;
  }
  receiver.join();
  return Since(t0);
}

std::size_t g_chunk_bytes = 1u << 20;
std::string g_json_path;

void WriteJson(const nlohmann::json& j) {
  if (g_json_path.empty()) return;
  std::ofstream(g_json_path) << j.dump(2) << '\n';
}

// What one transport's pushes and pulls in the ingest scenario measured.
struct IngestFigures {
  std::vector<double> mb_s, pull_mb_s;
  double gateway_cpu_s = 0, aggregator_cpu_s = 0, faults = 0;
};

int Ingest(uint64_t params, int reps) {
  Serve serve;
  const uint64_t job = serve.CreateJob(params, 2 * reps + 4, 1);
  // The same update over both of the node's push transports, alternating.
  tributary::client::Client bulk(
      {.target = serve.target(), .client_id = "bulk", .chunk_bytes = g_chunk_bytes});
  tributary::client::Client grpc_only({.target = serve.target(),
                                       .client_id = "grpc",
                                       .chunk_bytes = g_chunk_bytes,
                                       .use_bulk_port = false});
  auto joined = bulk.Join(job);
  if (!joined || !grpc_only.Join(job)) return 1;
  if (joined->bulk_port() == 0) {
    std::fprintf(stderr, "ingest: the node offers no bulk port\n");
    return 1;
  }
  std::vector<float> update(params);
  tributary::client::SyntheticUpdate(1, 0, 1, update);
  const double mb = params * 4 / 1e6;
  std::vector<char> src(params * 4, 1), dst(params * 4, 0);
  // Warm-up: first pushes (pool pages, connections) and first TCP transfer are not timed.
  std::vector<float> model;
  uint32_t round = 0;
  for (auto* c : {&bulk, &grpc_only}) {
    ++round;
    if (!c->Push(job, round, update, 10) || !c->PullInto(job, round, true, &model)) return 1;
  }
  TcpTransfer(src, dst, src.size());
  // CPU time comes in clock ticks (10 ms): sum it over all reps rather than per push.
  auto push = [&](tributary::client::Client& c, IngestFigures& f) {
    ++round;
    auto before = Stat(serve.pid());
    std::map<pid_t, ProcStat> kids;
    for (pid_t k : Children(serve.pid())) kids[k] = Stat(k);
    auto t0 = Clock::now();
    auto r = c.Push(job, round, update, 10);
    double s = Since(t0);
    if (!r) {
      std::fprintf(stderr, "push: %s\n", r.error().ToString().c_str());
      std::exit(1);
    }
    auto after = Stat(serve.pid());
    // Let the round's aggregation finish before reading the children's CPU.
    (void)c.PullInto(job, round, true, &model);
    for (auto& [k, st] : kids) f.aggregator_cpu_s += Stat(k).cpu_s - st.cpu_s;
    // The published model once more: a pull that only moves bytes.
    t0 = Clock::now();
    if (!c.PullInto(job, round, false, &model)) std::exit(1);
    f.pull_mb_s.push_back(mb / Since(t0));
    f.mb_s.push_back(mb / s);
    f.gateway_cpu_s += after.cpu_s - before.cpu_s;
    f.faults += double(after.minflt - before.minflt);
  };
  std::vector<double> tcp_mbs;
  IngestFigures over_bulk, over_grpc;
  for (int i = 0; i < reps; ++i) {
    tcp_mbs.push_back(mb / TcpTransfer(src, dst, src.size()));
    push(bulk, over_bulk);
    push(grpc_only, over_grpc);
  }
  auto range = [](const std::vector<double>& v) {
    char out[64];
    std::snprintf(out, sizeof(out), "%.0f (%.0f-%.0f)", Median(v),
                  *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
    return std::string(out);
  };
  std::printf("%.1f MB x %d pushes and pulls per transport; raw TCP MB/s %s\n", mb, reps,
              range(tcp_mbs).c_str());
  std::printf(
      "| transport | push MB/s | push / TCP | gateway CPU ms/MB | aggregator CPU ms/MB | "
      "gateway faults/push | pull MB/s | pull / TCP |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  nlohmann::json json{{"scenario", "ingest"}, {"params", params}, {"tcp_mb_s", tcp_mbs}};
  for (auto [name, f] : {std::pair{"bulk", &over_bulk}, std::pair{"grpc", &over_grpc}}) {
    std::printf("| %s | %s | %.2f | %.3f | %.3f | %.0f | %s | %.2f |\n", name,
                range(f->mb_s).c_str(), Median(f->mb_s) / Median(tcp_mbs),
                f->gateway_cpu_s * 1e3 / (mb * reps), f->aggregator_cpu_s * 1e3 / (mb * reps),
                f->faults / reps, range(f->pull_mb_s).c_str(),
                Median(f->pull_mb_s) / Median(tcp_mbs));
    json[name] = {{"gateway_mb_s", f->mb_s},
                  {"pull_mb_s", f->pull_mb_s},
                  {"gateway_cpu_ms_per_mb", f->gateway_cpu_s * 1e3 / (mb * reps)},
                  {"aggregator_cpu_ms_per_mb", f->aggregator_cpu_s * 1e3 / (mb * reps)},
                  {"gateway_faults_per_push", f->faults / reps}};
  }
  WriteJson(json);
  return 0;
}

// CPU seconds of a process and its children together.
double TreeCpu(pid_t pid) {
  double cpu = Stat(pid).cpu_s;
  for (pid_t k : Children(pid)) cpu += Stat(k).cpu_s;
  return cpu;
}

// Memory of a process and its children: each one's resident anonymous and file pages (RssAnon
// and RssFile, counters the kernel keeps), plus every shared-memory or hugetlbfs file any of
// them maps (a job's pool, mapped by the gateway and every aggregator) counted once, at the
// bytes the file holds. Shared memory is left out of the per-process figures: RssShmem counts a
// pool once per process that maps it, and pools in huge pages are in no RSS. A library mapped
// by several of the processes counts once per process, as RSS does (an upper bound). Reading
// counters costs microseconds; smaps_rollup's PSS would cost a walk over every page of every
// mapping, shared huge pages one 4 KiB piece at a time (about 8 ms per process mapping a
// 1.4 GB pool), CPU the rounds measured beside it need.
uint64_t TreeMemory(pid_t pid) {
  std::vector<pid_t> pids = Children(pid);
  pids.push_back(pid);
  uint64_t bytes = 0;
  std::set<std::string> mapped;
  for (pid_t p : pids) {
    const std::string proc = "/proc/" + std::to_string(p);
    std::ifstream status(proc + "/status");
    for (std::string line; std::getline(status, line);) {
      uint64_t kb = 0;
      if (std::sscanf(line.c_str(), "RssAnon: %" SCNu64, &kb) == 1 ||
          std::sscanf(line.c_str(), "RssFile: %" SCNu64, &kb) == 1) {
        bytes += kb << 10;
      }
    }
    std::ifstream maps(proc + "/maps");
    for (std::string line; std::getline(maps, line);) {
      // "start-end perms offset dev inode path": a mapped file has an inode; a deleted one is
      // reached through map_files (as root).
      std::istringstream fields(line);
      std::string range, perms, offset, dev, path;
      uint64_t inode = 0;
      fields >> range >> perms >> offset >> dev >> inode >> std::ws;
      std::getline(fields, path);
      if (inode == 0 || path.empty() || path[0] != '/') continue;
      mapped.insert(path.ends_with(" (deleted)") ? proc + "/map_files/" + range : path);
    }
  }
  // The files' sizes are read together once every process's maps are: a file read early and
  // another read late could otherwise both count around a pool's replacement (a job's pool
  // read before its end, its final model's pool read after it), which never coexisted whole.
  std::set<std::pair<dev_t, ino_t>> counted;
  for (const std::string& path : mapped) {
    struct statfs fs {};
    struct stat st {};
    if (statfs(path.c_str(), &fs) != 0 || stat(path.c_str(), &st) != 0) continue;
    if (fs.f_type != TMPFS_MAGIC && fs.f_type != HUGETLBFS_MAGIC) continue;
    if (counted.insert({st.st_dev, st.st_ino}).second) bytes += uint64_t(st.st_blocks) * 512;
  }
  return bytes;
}

// Samples TreeMemory(pid) every --memory-sample-ms until destroyed; peak() is the largest sample.
// A sample reads each process's counters and map list (under 1 ms a process). A long period
// (sampling all but off) does not delay the end: the wait ends when it is destroyed.
class PeakMemory {
 public:
  explicit PeakMemory(pid_t pid)
      : thread_([this, pid] {
          std::unique_lock lock(mu_);
          do {
            peak_ = std::max<uint64_t>(peak_, TreeMemory(pid));
          } while (!stopped_.wait_for(lock, std::chrono::milliseconds(g_memory_sample_ms),
                                      [this] { return stop_; }));
        }) {}
  ~PeakMemory() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    stopped_.notify_one();
    thread_.join();
  }
  uint64_t peak() const { return peak_; }

 private:
  std::mutex mu_;
  std::condition_variable stopped_;
  bool stop_ = false;  // guarded by mu_
  std::atomic<uint64_t> peak_{0};
  std::thread thread_;
};

// One client's session with the server a round scenario drives.
class RoundClient {
 public:
  virtual ~RoundClient() = default;
  virtual bool Push(uint32_t round, std::span<const float> update, uint64_t examples) = 0;
  // Waits for the model published after `round`.
  virtual bool Pull(uint32_t round) = 0;
};

// The server a round scenario drives: Tributary, or the Flower-style baseline.
class RoundServer {
 public:
  virtual ~RoundServer() = default;
  virtual pid_t pid() const = 0;
  // Clients share `channels` connections.
  virtual std::unique_ptr<RoundClient> NewClient(uint32_t index) = 0;
  // Seconds from the round's last update to its published model, as the server measured them.
  virtual double AggregateSeconds(uint32_t round) = 0;
  // Shared memory the job reserved plus one model (0 when the server has no such budget).
  virtual uint64_t MemoryBudget() = 0;
  // Memory of the server's processes when they started, before any job.
  uint64_t base_memory() const { return base_memory_; }

 protected:
  uint64_t base_memory_ = 0;
};

std::vector<std::shared_ptr<grpc::Channel>> Channels(const std::string& target, uint32_t n) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (uint32_t i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("tributary.bench.channel", int(i));  // distinct arguments: distinct connections
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    out.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  return out;
}

class TributaryRoundServer final : public RoundServer {
 public:
  TributaryRoundServer(uint64_t params, uint32_t rounds, uint32_t clients, uint32_t channels)
      : params_(params),
        base_(TreeMemory(serve_.pid())),
        job_(serve_.CreateJob(params, rounds, clients)),
        channels_(Channels(serve_.target(), channels)) {
    base_memory_ = base_;
    ref_.set_job_id(job_);
    reader_ = serve_.op().WatchJob(&watch_ctx_, ref_);
    watcher_ = std::thread([this] {
      tributary::v1::RoundEvent e;
      while (reader_->Read(&e)) {
        std::lock_guard lock(mu_);
        if (e.kind() == tributary::v1::RoundEvent::ROUND_PUBLISHED) {
          aggregate_s_[e.round()] = e.aggregate_seconds();
        }
      }
    });
    grpc::ClientContext ctx;
    serve_.op().GetJob(&ctx, ref_, &info_);
  }
  ~TributaryRoundServer() override {
    watch_ctx_.TryCancel();
    watcher_.join();
  }
  pid_t pid() const override { return serve_.pid(); }
  std::unique_ptr<RoundClient> NewClient(uint32_t i) override {
    class Client final : public RoundClient {
     public:
      Client(uint64_t job, tributary::client::ClientOptions o, std::shared_ptr<grpc::Channel> ch)
          : job_(job), c_(std::move(o), std::move(ch)) {
        ok_ = bool(c_.Join(job_));
      }
      bool Push(uint32_t round, std::span<const float> update, uint64_t examples) override {
        return ok_ && bool(c_.Push(job_, round, update, examples));
      }
      bool Pull(uint32_t round) override { return bool(c_.PullInto(job_, round, true, &model_)); }

     private:
      uint64_t job_;
      tributary::client::Client c_;
      bool ok_ = false;
      std::vector<float> model_;
    };
    return std::make_unique<Client>(
        job_,
        tributary::client::ClientOptions{.target = serve_.target(),
                                         .client_id = "c" + std::to_string(i),
                                         .use_bulk_port = g_use_bulk_port},
        channels_[i % channels_.size()]);
  }
  double AggregateSeconds(uint32_t round) override {
    for (int i = 0; i < 200; ++i) {  // the event may trail the pull by a moment
      {
        std::lock_guard lock(mu_);
        if (auto it = aggregate_s_.find(round); it != aggregate_s_.end()) return it->second;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }
  // The job's pool as serve maps it (header and tables, then the slots), and one model.
  uint64_t MemoryBudget() override { return info_.pool_bytes() + params_ * 4; }

 private:
  Serve serve_;
  uint64_t params_;
  uint64_t base_;
  uint64_t job_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  tributary::v1::JobRef ref_;
  tributary::v1::JobInfo info_;
  grpc::ClientContext watch_ctx_;
  std::unique_ptr<grpc::ClientReader<tributary::v1::RoundEvent>> reader_;
  std::thread watcher_;
  std::mutex mu_;
  std::map<uint32_t, double> aggregate_s_;
};

// bench/baseline/flower_style_server.py, started with /usr/bin/python3.
class BaselineRoundServer final : public RoundServer {
 public:
  // Longest a Fit or GetParameters may take before the run fails.
  static constexpr std::chrono::seconds kRpcDeadline{300};

  BaselineRoundServer(uint32_t clients, uint32_t channels) {
    dir_ = std::filesystem::temp_directory_path() /
           ("tributary-baseline-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args = {"/usr/bin/python3",
                                     BASELINE_SERVER,
                                     "--port",
                                     "0",
                                     "--port-file",
                                     (dir_ / "port").string(),
                                     "--clients-per-round",
                                     std::to_string(clients)};
    int port = 0;
    std::tie(pid_, port) =
        SpawnAndAwaitPort(std::move(args), dir_ / "port", std::chrono::seconds(20));
    base_memory_ = TreeMemory(pid_);
    for (auto& ch : Channels("127.0.0.1:" + std::to_string(port), channels)) {
      stubs_.push_back(tributary::bench::baseline::FlowerStyleServer::NewStub(ch));
    }
  }
  ~BaselineRoundServer() override {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::filesystem::remove_all(dir_);
  }
  pid_t pid() const override { return pid_; }
  std::unique_ptr<RoundClient> NewClient(uint32_t i) override {
    class Client final : public RoundClient {
     public:
      Client(BaselineRoundServer* server, uint32_t i) : server_(server), i_(i) {}
      bool Push(uint32_t round, std::span<const float> update, uint64_t examples) override {
        tributary::bench::baseline::FitRes res;
        res.set_client_id("c" + std::to_string(i_));
        res.set_round(round);
        res.set_num_examples(int64_t(examples));
        res.mutable_parameters()->set_tensor_type("numpy.ndarray");
        *res.mutable_parameters()->add_tensors() = NpySave(update);
        // A transient refusal (a connection being set up, a full server) is retried, as a
        // Flower client's retry policy would; anything else fails the run with its status.
        grpc::Status status;
        for (int attempt = 0; attempt < 5; ++attempt) {
          if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
          tributary::bench::baseline::FitAck ack;
          status = server_->Stub(i_).Fit(&ctx, res, &ack);
          if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
              status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
            break;
          }
        }
        return Report("Fit", round, status);
      }
      bool Pull(uint32_t round) override {
        tributary::bench::baseline::GetParametersIns ins;
        ins.set_round(round);
        grpc::ClientContext ctx;  // a round that never closes fails the run, not hangs it
        ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
        tributary::bench::baseline::GetParametersRes res;
        if (!Report("GetParameters", round, server_->Stub(i_).GetParameters(&ctx, ins, &res))) {
          return false;
        }
        server_->Record(round, res.aggregate_seconds());
        return res.parameters().tensors_size() == 1;
      }
      bool Report(const char* rpc, uint32_t round, const grpc::Status& status) {
        if (!status.ok()) {
          std::fprintf(stderr, "baseline client %u, round %u: %s: %s (code %d)\n", i_, round,
                       rpc, status.error_message().c_str(), int(status.error_code()));
        }
        return status.ok();
      }

     private:
      BaselineRoundServer* server_;
      uint32_t i_;
    };
    return std::make_unique<Client>(this, i);
  }
  double AggregateSeconds(uint32_t round) override {
    std::lock_guard lock(mu_);
    auto it = aggregate_s_.find(round);
    return it == aggregate_s_.end() ? -1 : it->second;
  }
  uint64_t MemoryBudget() override { return 0; }

  // A float32 vector as np.save writes it (format 1.0, header padded to 64 bytes).
  static std::string NpySave(std::span<const float> v) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                         std::to_string(v.size()) + ",), }";
    header.append(63 - (10 + header.size()) % 64, ' ').push_back('\n');
    std::string out("\x93NUMPY\x01\x00", 8);
    out.push_back(char(header.size() & 0xff));
    out.push_back(char(header.size() >> 8));
    out += header;
    out.append(reinterpret_cast<const char*>(v.data()), v.size_bytes());
    return out;
  }

 private:
  tributary::bench::baseline::FlowerStyleServer::Stub& Stub(uint32_t i) {
    return *stubs_[i % stubs_.size()];
  }
  void Record(uint32_t round, double seconds) {
    std::lock_guard lock(mu_);
    aggregate_s_[round] = seconds;
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::vector<std::unique_ptr<tributary::bench::baseline::FlowerStyleServer::Stub>> stubs_;
  std::mutex mu_;
  std::map<uint32_t, double> aggregate_s_;
};

// N clients push concurrently (they share up to 32 connections); per round: the time from the
// start to the model pulled, the server's aggregation time, and the server's CPU; over the run,
// the server's peak memory.
int Round(const std::string& server_kind, uint32_t clients, uint64_t params, uint32_t rounds) {
  const uint32_t channels = std::min<uint32_t>(clients, 32);
  std::unique_ptr<RoundServer> server;
  if (server_kind == "tributary") {
    server = std::make_unique<TributaryRoundServer>(params, rounds, clients, channels);
  } else if (server_kind == "baseline") {
    server = std::make_unique<BaselineRoundServer>(clients, channels);
  } else {
    std::fprintf(stderr, "--server must be tributary or baseline\n");
    return 2;
  }
  PeakMemory memory(server->pid());
  std::vector<double> round_s(rounds + 1, 0), cpu_s(rounds + 1, 0);
  Clock::time_point start;
  double cpu_at_start = 0;
  std::barrier sync(clients, [&]() noexcept {
    cpu_at_start = TreeCpu(server->pid());
    start = Clock::now();
  });
  // The next round's updates are made once this one is timed, not beside its last pushes.
  std::barrier timed(clients);
  std::atomic<bool> failed{false};
  auto worker = [&](uint32_t i) {
    auto c = server->NewClient(i);
    std::vector<float> update(params);
    for (uint32_t r = 1; r <= rounds; ++r) {
      tributary::client::SyntheticUpdate(3, i, r, update);
      sync.arrive_and_wait();
      if (!c->Push(r, update, 1 + i % 100)) failed = true;
      if (i == 0) {
        if (!c->Pull(r)) failed = true;
        round_s[r] = Since(start);
        cpu_s[r] = TreeCpu(server->pid()) - cpu_at_start;
      }
      timed.arrive_and_wait();
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < clients; ++i) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  if (failed) {
    std::fprintf(stderr, "a push or pull failed\n");
    return 1;
  }
  const double mb = clients * params * 4 / 1e6;
  nlohmann::json j = {{"scenario", "round"},       {"server", server_kind},
                      {"clients", clients},        {"params", params},
                      {"peak_memory_bytes", memory.peak()},
                      {"memory_budget_bytes", server->MemoryBudget()},
                      {"base_memory_bytes", server->base_memory()},
                      {"rounds", nlohmann::json::array()}};
  std::printf("| server | round | clients x update | round s | aggregation s | server CPU s | MB/s in |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (uint32_t r = 1; r <= rounds; ++r) {
    const double agg = server->AggregateSeconds(r);
    std::printf("| %s | %u | %u x %.1f MB | %.3f | %.3f | %.2f | %.0f |\n", server_kind.c_str(), r,
                clients, params * 4 / 1e6, round_s[r], agg, cpu_s[r], mb / round_s[r]);
    j["rounds"].push_back({{"round", r}, {"round_s", round_s[r]}, {"aggregate_s", agg},
                           {"server_cpu_s", cpu_s[r]}});
  }
  std::printf("peak memory of the server's processes: %.1f MB, %.1f MB above their start "
              "(pool + one model: %.1f MB)\n",
              memory.peak() / 1e6, (double(memory.peak()) - server->base_memory()) / 1e6,
              server->MemoryBudget() / 1e6);
  WriteJson(j);
  return 0;
}

// Raw loopback TCP moving `bytes` (a 64 MiB buffer sent over and over) on one connection, the
// ceiling of any ingest: median seconds over `reps`.
int Tcp(uint64_t bytes, int reps) {
  const std::size_t buffer = std::min<uint64_t>(bytes, 64ull << 20);
  std::vector<char> src(buffer, 1), dst(buffer, 0);
  std::vector<double> seconds;
  TcpTransfer(src, dst, bytes);  // warm-up, not counted
  for (int i = 0; i < reps; ++i) seconds.push_back(TcpTransfer(src, dst, bytes));
  std::printf("| bytes | median s | MB/s |\n|---|---|---|\n| %lu | %.3f | %.0f |\n",
              (unsigned long)bytes, Median(seconds), bytes / 1e6 / Median(seconds));
  WriteJson({{"scenario", "tcp"}, {"bytes", bytes}, {"seconds", seconds},
             {"median_s", Median(seconds)}});
  return 0;
}

// CPU the aggregator processes use while no job runs, over `seconds`.
int Idle(int seconds) {
  Serve serve;
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the warm pool settle
  std::map<pid_t, ProcStat> before;
  for (pid_t k : Children(serve.pid())) before[k] = Stat(k);
  const ProcStat gateway_before = Stat(serve.pid());
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  double cpu = 0;
  for (auto& [k, st] : before) cpu += Stat(k).cpu_s - st.cpu_s;
  std::printf("| idle seconds | aggregator processes | their CPU s | gateway CPU s |\n|---|---|---|---|\n");
  std::printf("| %d | %zu | %.2f | %.2f |\n", seconds, before.size(), cpu,
              Stat(serve.pid()).cpu_s - gateway_before.cpu_s);
  return 0;
}

// Round time of one client's round that finds no aggregator process (cold) and of the next
// (warm), `reps` times.
int Start(uint64_t params, int reps) {
  g_serve_args.insert(g_serve_args.end(), {"--scale-to-zero-after-s", "0.3"});
  Serve serve;
  const uint64_t job = serve.CreateJob(params, 2 * reps, 1);
  tributary::client::Client c({.target = serve.target(), .client_id = "bench"});
  if (!c.Join(job)) return 1;
  std::vector<float> update(params), model;
  auto round = [&](uint32_t r) {
    tributary::client::SyntheticUpdate(1, 0, r, update);
    const auto t0 = Clock::now();
    if (!c.Push(job, r, update, 10) || !c.PullInto(job, r, true, &model)) std::exit(1);
    return Since(t0);
  };
  std::vector<double> cold, warm;
  for (int i = 0; i < reps; ++i) {
    for (int w = 0; w < 500 && !Children(serve.pid()).empty(); ++w) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!Children(serve.pid()).empty()) {
      std::fprintf(stderr, "the aggregator processes did not scale to zero\n");
      return 1;
    }
    cold.push_back(round(2 * i + 1));
    warm.push_back(round(2 * i + 2));
  }
  std::printf("| update | rounds | cold round s (median) | warm round s (median) | start cost s |\n"
              "|---|---|---|---|---|\n| %.2f MB | %d | %.4f | %.4f | %.4f |\n",
              params * 4 / 1e6, reps, Median(cold), Median(warm), Median(cold) - Median(warm));
  WriteJson({{"scenario", "start"}, {"params", params}, {"cold_s", cold}, {"warm_s", warm}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tributary::cli::KeepHeapWarm();
  std::string scenario = argc > 1 ? argv[1] : "ingest";
  uint64_t params = 11'200'000;
  int reps = 10;
  uint32_t clients = 50, rounds = 2;
  uint64_t bytes = 0;
  std::string server = "tributary";
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--server") server = argv[i + 1];
    if (k == "--json") g_json_path = argv[i + 1];
    if (k == "--bytes") bytes = std::stoull(argv[i + 1]);
    if (k == "--params") params = std::stoull(argv[i + 1]);
    if (k == "--reps") reps = std::stoi(argv[i + 1]);
    if (k == "--clients") clients = std::stoul(argv[i + 1]);
    if (k == "--rounds") rounds = std::stoul(argv[i + 1]);
    if (k == "--chunk-kb") g_chunk_bytes = std::stoul(argv[i + 1]) << 10;
    if (k == "--serve-arg") g_serve_args.push_back(argv[i + 1]);
    if (k == "--fan-in") g_fan_in = std::stoul(argv[i + 1]);
    if (k == "--transport") g_use_bulk_port = std::string(argv[i + 1]) != "grpc";
    if (k == "--memory-sample-ms") g_memory_sample_ms = std::max(1, std::stoi(argv[i + 1]));
    if (k == "--tributary") g_tributary = argv[i + 1];
  }
  if (scenario == "ingest") return Ingest(params, reps);
  if (scenario == "round") return Round(server, clients, params, rounds);
  if (scenario == "tcp") return Tcp(bytes ? bytes : params * 4, reps);
  if (scenario == "idle") return Idle(reps);
  if (scenario == "start") return Start(params, reps);
  std::fprintf(stderr,
               "usage: e2e_bench ingest|round|tcp|idle|start [--params P] [--reps R] "
               "[--clients N] [--rounds R] [--server tributary|baseline] [--bytes B] "
               "[--json FILE] [--serve-arg ARG ...] [--fan-in K] [--transport bulk|grpc] "
               "[--memory-sample-ms MS] [--tributary PATH]\n");
  return 2;
}
