// End-to-end benchmarks of the single-node data path against a real `tributary serve`.
//
//   e2e_bench ingest [--params P] [--reps R]
//     One client pushes a P-float update R times (one round each); beside it, in the same run
//     and interleaved, the same bytes cross a raw loopback TCP connection (4 MiB writes into a
//     pre-faulted buffer): the ceiling. Reports throughput, the ratio, server CPU per MB and
//     the server's page faults per push.
//   e2e_bench round [--clients N] [--params P] [--rounds R]
//     N clients push concurrently; reports round time (start to published model) and
//     aggregation time (last update accepted to published) per round.
//   e2e_bench idle [--reps SECONDS]
//     CPU used by the warm aggregator processes (and the gateway) while nothing runs.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/heap_tuning.h"
#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "ebpf/loopback_pair.h"
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

class Serve {
 public:
  Serve() {
    dir_ = std::filesystem::temp_directory_path() / ("tributary-bench-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args = {TRIBUTARY_BINARY, "serve", "--listen", "127.0.0.1:0",
                                     "--data-dir", dir_.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ);
    for (int i = 0; i < 400 && port_ == 0; ++i) {
      std::ifstream(dir_ / "port") >> port_;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
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

// Sends `src` over a fresh loopback TCP connection into a pre-faulted buffer; returns s.
double TcpTransfer(const std::vector<char>& src, std::vector<char>& dst) {
  auto pair = tributary::ebpf::LoopbackPair::Connect(/*nodelay=*/false).value();
  std::thread receiver([&] {
    std::size_t got = 0;
    while (got < dst.size()) {
      ssize_t n = recv(pair.accepted(), dst.data() + got,
                       std::min<std::size_t>(4 << 20, dst.size() - got), 0);
      if (n <= 0) break;
      got += n;
    }
  });
  auto t0 = Clock::now();
  std::size_t sent = 0;
  while (sent < src.size()) {
    ssize_t n = send(pair.connected(), src.data() + sent,
                     std::min<std::size_t>(4 << 20, src.size() - sent), 0);
    if (n <= 0) break;
    sent += n;
  }
  receiver.join();
  return Since(t0);
}

std::size_t g_chunk_bytes = 1u << 20;

int Ingest(uint64_t params, int reps) {
  Serve serve;
  const uint64_t job = serve.CreateJob(params, reps + 2, 1);
  tributary::client::Client c(
      {.target = serve.target(), .client_id = "bench", .chunk_bytes = g_chunk_bytes});
  if (!c.Join(job)) return 1;
  std::vector<float> update(params);
  tributary::client::SyntheticUpdate(1, 0, 1, update);
  const double mb = params * 4 / 1e6;
  std::vector<char> src(params * 4, 1), dst(params * 4, 0);
  // Warm-up: first push (pool pages, connections) and first TCP transfer are not timed.
  std::vector<float> model;
  for (uint32_t r = 1; r <= 2; ++r) {
    if (!c.Push(job, r, update, 10) || !c.PullInto(job, r, true, &model)) return 1;
  }
  TcpTransfer(src, dst);
  // CPU time comes in clock ticks (10 ms): sum it over all reps rather than per push.
  std::vector<double> grpc_mbs, tcp_mbs;
  double gateway_cpu_s = 0, aggregator_cpu_s = 0, faults = 0;
  for (int i = 0; i < reps; ++i) {
    tcp_mbs.push_back(mb / TcpTransfer(src, dst));
    auto before = Stat(serve.pid());
    std::map<pid_t, ProcStat> kids;
    for (pid_t k : Children(serve.pid())) kids[k] = Stat(k);
    auto t0 = Clock::now();
    auto r = c.Push(job, i + 3, update, 10);
    double s = Since(t0);
    if (!r) {
      std::fprintf(stderr, "push: %s\n", r.error().ToString().c_str());
      return 1;
    }
    auto after = Stat(serve.pid());
    // Let the round's aggregation finish before reading the children's CPU.
    (void)c.PullInto(job, i + 3, true, &model);
    double agg = 0;
    for (auto& [k, st] : kids) agg += Stat(k).cpu_s - st.cpu_s;
    grpc_mbs.push_back(mb / s);
    gateway_cpu_s += after.cpu_s - before.cpu_s;
    aggregator_cpu_s += agg;
    faults += double(after.minflt - before.minflt);
  }
  std::printf("| update | gateway MB/s | raw TCP MB/s | ratio | gateway CPU ms/MB | aggregator CPU ms/MB | gateway faults/push |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::printf("| %.1f MB x %d | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.2f | %.3f | %.3f | %.0f |\n", mb,
              reps, Median(grpc_mbs), *std::min_element(grpc_mbs.begin(), grpc_mbs.end()),
              *std::max_element(grpc_mbs.begin(), grpc_mbs.end()), Median(tcp_mbs),
              *std::min_element(tcp_mbs.begin(), tcp_mbs.end()),
              *std::max_element(tcp_mbs.begin(), tcp_mbs.end()),
              Median(grpc_mbs) / Median(tcp_mbs), gateway_cpu_s * 1e3 / (mb * reps),
              aggregator_cpu_s * 1e3 / (mb * reps), faults / reps);
  return 0;
}

int Round(uint32_t clients, uint64_t params, uint32_t rounds) {
  Serve serve;
  const uint64_t job = serve.CreateJob(params, rounds, clients);
  std::vector<tributary::v1::RoundEvent> published;
  std::mutex mu;
  grpc::ClientContext watch_ctx;
  tributary::v1::JobRef ref;
  ref.set_job_id(job);
  auto reader = serve.op().WatchJob(&watch_ctx, ref);
  std::thread watcher([&] {
    tributary::v1::RoundEvent e;
    while (reader->Read(&e)) {
      std::lock_guard lock(mu);
      if (e.kind() == tributary::v1::RoundEvent::ROUND_PUBLISHED) published.push_back(e);
    }
  });
  std::vector<double> round_s(rounds + 1, 0);
  Clock::time_point start;
  std::barrier sync(clients, [&]() noexcept { start = Clock::now(); });
  std::atomic<bool> failed{false};
  auto worker = [&](uint32_t i) {
    tributary::client::Client c({.target = serve.target(), .client_id = "c" + std::to_string(i)});
    if (!c.Join(job)) failed = true;
    std::vector<float> update(params), model;
    for (uint32_t r = 1; r <= rounds; ++r) {
      tributary::client::SyntheticUpdate(3, i, r, update);
      sync.arrive_and_wait();
      if (!c.Push(job, r, update, 1 + i)) failed = true;
      if (i == 0) {
        if (!c.PullInto(job, r, true, &model)) failed = true;
        round_s[r] = Since(start);
      }
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < clients; ++i) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  watcher.join();
  (void)reader->Finish();
  if (failed) return 1;
  const double mb = clients * params * 4 / 1e6;
  std::printf("| round | clients x update | round s | aggregation s (close to publish) | MB/s in |\n");
  std::printf("|---|---|---|---|---|\n");
  for (const auto& e : published) {
    std::printf("| %u | %u x %.1f MB | %.3f | %.3f | %.0f |\n", e.round(), clients,
                params * 4 / 1e6, round_s[e.round()], e.aggregate_seconds(),
                mb / round_s[e.round()]);
  }
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

}  // namespace

int main(int argc, char** argv) {
  tributary::cli::KeepHeapWarm();
  std::string scenario = argc > 1 ? argv[1] : "ingest";
  uint64_t params = 11'200'000;
  int reps = 10;
  uint32_t clients = 50, rounds = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--params") params = std::stoull(argv[i + 1]);
    if (k == "--reps") reps = std::stoi(argv[i + 1]);
    if (k == "--clients") clients = std::stoul(argv[i + 1]);
    if (k == "--rounds") rounds = std::stoul(argv[i + 1]);
    if (k == "--chunk-kb") g_chunk_bytes = std::stoul(argv[i + 1]) << 10;
  }
  if (scenario == "ingest") return Ingest(params, reps);
  if (scenario == "round") return Round(clients, params, rounds);
  if (scenario == "idle") return Idle(reps);
  std::fprintf(stderr, "usage: e2e_bench ingest|round [--params P] [--reps R] [--clients N] [--rounds R]\n");
  return 2;
}
