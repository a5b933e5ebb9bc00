// The BPF router: descriptors written by the router reach the routed instance's socket through
// the kernel's sk_msg redirect (the program's counters prove it), routes change without loss or
// duplication, and malformed frames are passed, never misrouted. Needs root (or CAP_BPF and
// CAP_NET_ADMIN); skipped with the reason otherwise.
#include "ebpf/sk_msg_router.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "ebpf/bpf_skeleton.h"
#include "ebpf/router_abi.h"
#include "sk_msg_router.skel.h"
#include "tests/ebpf/socket_pair.h"

namespace tributary::ebpf {
namespace {

using testing::SocketPair;

shm::Descriptor Update(uint64_t job, uint32_t round, uint16_t shard, uint64_t seq) {
  shm::Descriptor d = shm::MakeDescriptor(shm::DescriptorKind::kUpdate);
  d.job = job;
  d.round = round;
  d.shard = shard;
  d.sequence = seq;
  return d;
}

class SkMsgRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the BPF router needs root (or CAP_BPF + CAP_NET_ADMIN)";
    auto r = CreateBpfRouter();
    if (!r) GTEST_SKIP() << "BPF cannot be loaded here: " << r.error();
    router_ = std::move(*r);
    ASSERT_TRUE(router_->Attach(1, {.fd = a_.near, .pid = getpid(), .fd_in_instance = a_.far}).ok());
    ASSERT_TRUE(router_->Attach(2, {.fd = b_.near, .pid = getpid(), .fd_in_instance = b_.far}).ok());
  }
  uint64_t Delivered(InstanceId id) {
    for (const auto& c : router_->Counters()) {
      if (c.instance == id) return c.messages;
    }
    return 0;
  }
  SocketPair a_, b_;
  std::unique_ptr<Router> router_;
};

TEST_F(SkMsgRouterTest, KernelDeliversToTheRoutedInstance) {
  EXPECT_EQ(router_->Kind(), "bpf");
  ASSERT_TRUE(router_->Route({7, 1, 0}, 1).ok());
  ASSERT_TRUE(router_->Route({7, 1, 1}, 2).ok());
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(router_->Send(Update(7, 1, i % 2, i)).ok());
  auto at_a = a_.Drain(), at_b = b_.Drain();
  ASSERT_EQ(at_a.size(), 5u);
  ASSERT_EQ(at_b.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(at_a[i].shard, 0u);
    EXPECT_EQ(at_a[i].sequence, 2 * i);
    EXPECT_EQ(at_b[i].shard, 1u);
    EXPECT_EQ(at_b[i].sequence, 2 * i + 1);
  }
  // The program counted what it redirected; nothing took another path.
  EXPECT_EQ(Delivered(1), 5u);
  EXPECT_EQ(Delivered(2), 5u);
  EXPECT_EQ(router_->Undelivered(), 0u);
}

TEST_F(SkMsgRouterTest, RerouteMidStreamLosesAndRepeatsNothing) {
  ASSERT_TRUE(router_->Route({3, 4, 0}, 1).ok());
  for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(router_->Send(Update(3, 4, 0, i)).ok());
  ASSERT_TRUE(router_->Route({3, 4, 0}, 2).ok());  // scale event
  for (uint64_t i = 50; i < 100; ++i) ASSERT_TRUE(router_->Send(Update(3, 4, 0, i)).ok());
  auto at_a = a_.Drain(), at_b = b_.Drain();
  ASSERT_EQ(at_a.size() + at_b.size(), 100u);
  for (std::size_t i = 0; i < at_a.size(); ++i) EXPECT_EQ(at_a[i].sequence, i);
  for (std::size_t i = 0; i < at_b.size(); ++i) EXPECT_EQ(at_b[i].sequence, 50 + i);
}

// Scale out from one instance to three mid-stream: the routing map is rewritten for two of
// three shards; every descriptor arrives exactly once, at the instance routed when it was sent.
TEST_F(SkMsgRouterTest, ScaleOutFromOneToThreeMidStream) {
  SocketPair c;
  ASSERT_TRUE(router_->Attach(3, {.fd = c.near, .pid = getpid(), .fd_in_instance = c.far}).ok());
  for (uint32_t shard = 0; shard < 3; ++shard) ASSERT_TRUE(router_->Route({8, 1, shard}, 1).ok());
  uint64_t seq = 0;
  for (; seq < 300; ++seq) ASSERT_TRUE(router_->Send(Update(8, 1, seq % 3, seq)).ok());
  ASSERT_TRUE(router_->Route({8, 1, 1}, 2).ok());
  ASSERT_TRUE(router_->Route({8, 1, 2}, 3).ok());
  for (; seq < 600; ++seq) ASSERT_TRUE(router_->Send(Update(8, 1, seq % 3, seq)).ok());
  auto at_a = a_.Drain(), at_b = b_.Drain(), at_c = c.Drain();
  EXPECT_EQ(at_a.size(), 300u + 100u);
  EXPECT_EQ(at_b.size(), 100u);
  EXPECT_EQ(at_c.size(), 100u);
  std::vector<int> seen(600, 0);
  for (const auto* frames : {&at_a, &at_b, &at_c}) {
    for (const auto& d : *frames) ++seen[d.sequence];
  }
  for (uint64_t i = 0; i < 600; ++i) EXPECT_EQ(seen[i], 1) << i;
  for (const auto& d : at_b) EXPECT_TRUE(d.shard == 1 && d.sequence >= 300);
  for (const auto& d : at_c) EXPECT_TRUE(d.shard == 2 && d.sequence >= 300);
  EXPECT_EQ(Delivered(1) + Delivered(2) + Delivered(3), 600u);
}

// A descriptor's 64 bytes may straddle two pages of the kernel's per-thread page fragment when
// the same thread also writes odd-sized TCP messages (as a gRPC thread does between pushes):
// the program still reads the whole frame and redirects it; none is passed and lost.
TEST_F(SkMsgRouterTest, FramesSplitAcrossPagesAreStillRouted) {
  SocketPair other;
  ASSERT_TRUE(router_->Route({9, 1, 0}, 1).ok());
  const char odd[37] = {};
  constexpr uint64_t kFrames = 4000;
  for (uint64_t i = 0; i < kFrames; ++i) {
    ASSERT_EQ(send(other.far, odd, 1 + i % sizeof odd, MSG_NOSIGNAL), ssize_t(1 + i % sizeof odd));
    ASSERT_TRUE(router_->Send(Update(9, 1, 0, i)).ok());
    if (i % 256 == 255) (void)SocketPair::DrainFd(other.near, 0);
  }
  auto at_a = a_.Drain();
  ASSERT_EQ(at_a.size(), kFrames);
  for (uint64_t i = 0; i < kFrames; ++i) EXPECT_EQ(at_a[i].sequence, i);
  EXPECT_EQ(router_->Undelivered(), 0u);
}

TEST_F(SkMsgRouterTest, DetachedInstanceGetsNothingMore) {
  ASSERT_TRUE(router_->Route({1, 1, 0}, 1).ok());
  ASSERT_TRUE(router_->Detach(1).ok());
  auto s = router_->Send(Update(1, 1, 0, 0));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(router_->Undelivered(), 1u);
  EXPECT_TRUE(a_.Drain(100).empty());
  EXPECT_EQ(router_->Route({1, 1, 0}, 1).code(), StatusCode::kNotFound);
}

// The program itself, driven with raw frames: anything that is not exactly one valid UPDATE
// or FINISH descriptor with a route is passed to the sender's peer and counted, never
// redirected (replies such as DONE included).
TEST(SkMsgProgramTest, MalformedFramesArePassedNotMisrouted) {
  if (geteuid() != 0) GTEST_SKIP() << "loading BPF needs root";
  BpfSkeleton<sk_msg_router_bpf, &sk_msg_router_bpf__open_and_load, &sk_msg_router_bpf__destroy>
      skel;
  if (Status s = skel.OpenAndLoad(); !s.ok()) GTEST_SKIP() << "BPF cannot be loaded: " << s;
  const int sockets = bpf_map__fd(skel->maps.instance_sockets);
  ASSERT_EQ(bpf_prog_attach(bpf_program__fd(skel->progs.tributary_route_descriptor), sockets,
                            BPF_SK_MSG_VERDICT, 0),
            0);
  SocketPair sender, instance;
  uint64_t key = TRIBUTARY_ROUTER_SENDER_KEY, fd = sender.far;
  ASSERT_EQ(bpf_map_update_elem(sockets, &key, &fd, BPF_ANY), 0);
  key = 9;
  fd = instance.far;  // frames are put on the receive queue of the instance's own socket
  ASSERT_EQ(bpf_map_update_elem(sockets, &key, &fd, BPF_ANY), 0);
  tributary_route_key route{.job = 5, .round = 1, .shard = 0};
  uint64_t target = 9;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel->maps.routes), &route, &target, BPF_ANY), 0);

  shm::Descriptor good = Update(5, 1, 0, 42);
  shm::Descriptor wrong_version = good;
  wrong_version.version = 9;
  shm::Descriptor no_route = Update(5, 2, 0, 43);
  shm::Descriptor reply = good;
  reply.kind = TRIBUTARY_DESC_DONE;
  char frame[128] = {};
  std::memcpy(frame, &good, sizeof good);
  ASSERT_EQ(send(sender.far, frame, 63, 0), 63);   // short
  ASSERT_EQ(send(sender.far, frame, 65, 0), 65);   // long
  ASSERT_EQ(send(sender.far, &wrong_version, 64, 0), 64);
  ASSERT_EQ(send(sender.far, &no_route, 64, 0), 64);
  ASSERT_EQ(send(sender.far, &reply, 64, 0), 64);
  ASSERT_EQ(send(sender.far, &good, 64, 0), 64);   // the only one to redirect

  auto routed = SocketPair::DrainFd(instance.far, 200);
  ASSERT_EQ(routed.size(), 1u);
  EXPECT_EQ(routed[0].sequence, 42u);
  // The passed frames reached the sender's own peer: 63 + 65 + 64 + 64 + 64 bytes.
  std::vector<char> passed_bytes;
  pollfd p{sender.near, POLLIN, 0};
  char buf[1024];
  while (poll(&p, 1, 200) > 0) {
    ssize_t n = recv(sender.near, buf, sizeof buf, 0);
    if (n <= 0) break;
    passed_bytes.insert(passed_bytes.end(), buf, buf + n);
  }
  EXPECT_EQ(passed_bytes.size(), 63u + 65u + 64u + 64u + 64u);
  std::vector<uint64_t> per_cpu(libbpf_num_possible_cpus());
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel->maps.passed), &zero, per_cpu.data()), 0);
  uint64_t passed = 0;
  for (uint64_t v : per_cpu) passed += v;
  EXPECT_EQ(passed, 4u);  // the DONE reply passes uncounted
  bpf_prog_detach2(bpf_program__fd(skel->progs.tributary_route_descriptor), sockets,
                   BPF_SK_MSG_VERDICT);
}

}  // namespace
}  // namespace tributary::ebpf

namespace tributary::ebpf {
namespace {

// Maps are pinned 0600 under the node's directory while the router lives, unpinned after;
// pins left by a router that died without cleaning up are replaced.
TEST(SkMsgRouterPinTest, PinsLiveWithTheRouterAndStalePinsAreReplaced) {
  if (geteuid() != 0) GTEST_SKIP() << "the BPF router needs root";
  const std::string dir = "/sys/fs/bpf/tributary/test-" + std::to_string(getpid());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // a node that crashes with its maps pinned
    auto r = CreateBpfRouter({.pin_dir = dir});
    std::quick_exit(r ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) GTEST_SKIP() << "BPF cannot be loaded here";
  struct stat st;
  ASSERT_EQ(stat((dir + "/routes").c_str(), &st), 0) << "the crashed router's pins are gone";
  {
    auto r = CreateBpfRouter({.pin_dir = dir});
    ASSERT_TRUE(r) << r.error();
    for (const char* map : {"routes", "counters", "instance_sockets", "passed"}) {
      ASSERT_EQ(stat((dir + "/" + map).c_str(), &st), 0) << map;
      EXPECT_EQ(st.st_mode & 0777, 0600u) << map;
    }
    // The pinned routing map is the live one: a route written through the router shows there.
    SocketPair p;
    ASSERT_TRUE((*r)->Attach(4, {.fd = p.near, .pid = getpid(), .fd_in_instance = p.far}).ok());
    ASSERT_TRUE((*r)->Route({11, 2, 3}, 4).ok());
    int pinned = bpf_obj_get((dir + "/routes").c_str());
    ASSERT_GE(pinned, 0);
    tributary_route_key key{.job = 11, .round = 2, .shard = 3};
    uint64_t instance = 0;
    EXPECT_EQ(bpf_map_lookup_elem(pinned, &key, &instance), 0);
    EXPECT_EQ(instance, 4u);
    close(pinned);
  }
  EXPECT_NE(stat(dir.c_str(), &st), 0) << "pins must go with the router";
}

}  // namespace
}  // namespace tributary::ebpf
