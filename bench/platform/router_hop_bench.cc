// Descriptor hop latency and rate, in one run, for the three ways a descriptor can travel from
// the gateway to an aggregator instance:
//   (a) the BPF router: one write on the router's socket, redirected by sk_msg in the kernel;
//   (b) a sidecar: a userspace proxy process that reads each frame and writes it on (what a
//       per-function sidecar or broker does);
//   (c) the userspace router: a lookup and one write on the instance's own socket;
//   (d) an rte_ring in hugepages (DPDK's descriptor queue), the consumer busy-polling it. A
//       ring has no wakeup: its consumer spins a core even when there is nothing to do, which
//       the event-driven aggregators, asleep in recv(), do not. Needs root and DPDK.
// Latency: one descriptor at a time, sent only once the previous one arrived, from the send
// call to the instance's blocking recv() returning it (CLOCK_MONOTONIC carried in the frame).
// Rate: a burst of descriptors, from the first send to the last arrival.
//
//   router_hop_bench [--count N] [--burst B]      (the BPF and rte_ring rows need root)
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ebpf/loopback_pair.h"
#include "ebpf/userspace_router.h"
#ifdef TRIBUTARY_HAVE_BPF
#include "ebpf/sk_msg_router.h"
#endif
#ifdef TRIBUTARY_HAVE_DPDK
#include <rte_errno.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include "shm/dpdk_memory.h"
#endif

namespace {
using tributary::shm::Descriptor;

uint64_t Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

bool ReadFrame(int fd, Descriptor* d) {
  std::size_t got = 0;
  while (got < sizeof *d) {
    ssize_t n = recv(fd, reinterpret_cast<char*>(d) + got, sizeof *d - got, 0);
    if (n <= 0) return false;
    got += n;
  }
  return true;
}

struct Row {
  std::string name;
  double p50_us = 0, p99_us = 0, rate = 0;
};

// `send` delivers one frame, which `receive` takes at the instance (false: no more).
Row Measure(const std::string& name, const std::function<bool(Descriptor&)>& receive,
            const std::function<void(Descriptor&)>& send, int count, int burst) {
  std::atomic<uint64_t> received{0};
  std::vector<uint64_t> latency;
  latency.reserve(count);
  std::atomic<bool> timing{true};
  std::thread reader([&] {
    Descriptor d;
    while (receive(d)) {
      if (timing.load(std::memory_order_relaxed)) latency.push_back(Now() - d.sequence);
      received.fetch_add(1, std::memory_order_release);
      received.notify_one();
      if (d.client == 1) break;  // the last frame of the run
    }
  });
  Descriptor d = tributary::shm::MakeDescriptor(tributary::shm::DescriptorKind::kUpdate);
  d.job = 1;
  d.round = 1;
  for (int i = 0; i < count; ++i) {
    const uint64_t before = received.load(std::memory_order_acquire);
    d.sequence = Now();
    send(d);
    received.wait(before, std::memory_order_acquire);  // futex: the sender does not spin
  }
  timing = false;
  const uint64_t start_count = received.load();
  const uint64_t t0 = Now();
  for (int i = 0; i < burst; ++i) {
    d.client = i + 1 == burst ? 1 : 0;
    send(d);
  }
  reader.join();
  const double seconds = (Now() - t0) / 1e9;
  std::sort(latency.begin(), latency.end());
  Row r{name};
  r.p50_us = latency[latency.size() / 2] / 1e3;
  r.p99_us = latency[latency.size() * 99 / 100] / 1e3;
  r.rate = (received.load() - start_count) / seconds;
  return r;
}

Row ThroughRouter(const std::string& name, tributary::ebpf::Router& router, int count, int burst) {
  auto p = tributary::ebpf::LoopbackPair::Connect().value();
  (void)router.Attach(1, {.fd = p.accepted(), .pid = getpid(), .fd_in_instance = p.connected()});
  (void)router.Route({1, 1, 0}, 1);
  return Measure(
      name, [&](Descriptor& d) { return ReadFrame(p.connected(), &d); },
      [&](Descriptor& d) { (void)router.Send(d); }, count, burst);
}

Row ThroughSidecar(int count, int burst) {
  // gateway -> in.connected ... in.accepted -> proxy -> out.accepted ... out.connected -> instance
  auto in = tributary::ebpf::LoopbackPair::Connect().value();
  auto out = tributary::ebpf::LoopbackPair::Connect().value();
  pid_t proxy = fork();
  if (proxy == 0) {
    char buf[64 * 256];
    for (;;) {
      ssize_t n = recv(in.accepted(), buf, sizeof buf, 0);
      if (n <= 0) _exit(0);
      for (ssize_t off = 0; off < n;) {
        ssize_t w = send(out.accepted(), buf + off, n - off, 0);
        if (w <= 0) _exit(1);
        off += w;
      }
    }
  }
  Row r = Measure(
      "(b) userspace proxy process (sidecar)",
      [&](Descriptor& d) { return ReadFrame(out.connected(), &d); },
      [&](Descriptor& d) { (void)!send(in.connected(), &d, sizeof d, 0); }, count, burst);
  kill(proxy, SIGKILL);
  waitpid(proxy, nullptr, 0);
  return r;
}

#ifdef TRIBUTARY_HAVE_DPDK
// A single-producer, single-consumer ring of 64-byte elements in the hugepage memory this
// process attached to as the EAL primary.
Row ThroughRing(int count, int burst) {
  rte_ring* ring = rte_ring_create_elem("hop-bench", sizeof(Descriptor), 4096, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!ring) {
    std::fprintf(stderr, "rte_ring: %s\n", rte_strerror(rte_errno));
    std::exit(1);
  }
  Row r = Measure(
      "(d) rte_ring, consumer busy-polling",
      [&](Descriptor& d) {
        while (rte_ring_sc_dequeue_elem(ring, &d, sizeof d) != 0) rte_pause();
        return true;
      },
      [&](Descriptor& d) {
        while (rte_ring_sp_enqueue_elem(ring, &d, sizeof d) != 0) rte_pause();
      },
      count, burst);
  rte_ring_free(ring);
  return r;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int count = 20000, burst = 200000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--count") count = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--burst") burst = std::stoi(argv[i + 1]);
  }
  std::vector<Row> rows;
#ifdef TRIBUTARY_HAVE_BPF
  if (auto bpf = tributary::ebpf::CreateBpfRouter()) {
    rows.push_back(ThroughRouter("(a) BPF router (sk_msg redirect)", **bpf, count, burst));
  } else {
    std::fprintf(stderr, "BPF router unavailable: %s\n", bpf.error().ToString().c_str());
  }
#endif
  rows.push_back(ThroughSidecar(count, burst));
  auto user = tributary::ebpf::CreateUserspaceRouter();
  rows.push_back(ThroughRouter("(c) userspace router", *user, count, burst));
#ifdef TRIBUTARY_HAVE_DPDK
  spdlog::set_level(spdlog::level::warn);  // stdout carries the table alone
  if (auto memory = tributary::shm::DpdkMemory::Attach(
          {.file_prefix = "tributary-hop-bench-" + std::to_string(getpid()),
           .primary = true,
           .memory_bytes = 32u << 20,
           .huge_dir = {}})) {
    rows.push_back(ThroughRing(count, burst));
  } else {
    std::fprintf(stderr, "rte_ring unavailable: %s\n", memory.error().ToString().c_str());
  }
#endif
  std::printf("| path | p50 µs | p99 µs | descriptors/s |\n|---|---|---|---|\n");
  for (const auto& r : rows) {
    std::printf("| %s | %.1f | %.1f | %.0f |\n", r.name.c_str(), r.p50_us, r.p99_us, r.rate);
  }
  return 0;
}
