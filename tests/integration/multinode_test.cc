// A group of three nodes (serve --peers), each `tributary serve` in a Linux network namespace
// of its own, joined by veth pairs to a bridge in the test's namespace, where the clients run.
// Clients push to every node; each node aggregates what landed on it and sends one partial per
// round to the job's home, which publishes the model on every node: every node's model is the
// exact weighted average of all the updates, and what crosses between nodes per round is one
// partial from, and one model to, each of the other nodes, measured by the nodes' counters.
// The job's home places the clients that join through any node evenly over the nodes, and
// they stay there. A non-home node killed mid-round leaves the round to the others: its
// clients find it gone, join again through the node they know, are placed there and push;
// the round publishes the exact average. One that stops answering after its
// clients' updates were counted is left out once the home has waited 2 s for its partial.
// Rules that compare whole updates (median, Krum, ...) are refused in a group, whose model
// folds per-node partials. A partial with a NaN, a wrong checksum or no checksum is refused, and
// the right one, sent after them, is taken. Under mutual TLS the nodes call each other over TLS,
// each with a client certificate of its own, and publish the same exact average.
//
// Needs root (namespaces, veth, bridge) and iproute2; skips, saying so, without them.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include <xxhash.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "clients/cpp/client.h"
#include "shm/huge_tmpfs.h"
#include "tests/integration/serve_process.h"
#include "tributary/internal/peer.grpc.pb.h"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;

bool Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Three namespaces on a bridge: node i at 10.213.S.i, the test's namespace at 10.213.S.254.
class ThreeNamespaces {
 public:
  ThreeNamespaces() : tag_("tb" + std::to_string(getpid() % 100000)) {
    subnet_ = "10.213." + std::to_string(getpid() % 250);
    ok_ = Shell("ip link add " + tag_ + "br type bridge") &&
          Shell("ip addr add " + subnet_ + ".254/24 dev " + tag_ + "br") &&
          Shell("ip link set " + tag_ + "br up");
    // Traffic between the namespaces crosses the bridge only: keep it out of iptables, whose
    // FORWARD policy a host may set to DROP (where the option is unknown, nothing changes).
    if (ok_) Shell("ip link set " + tag_ + "br type bridge nf_call_iptables 0");
    for (int i = 1; ok_ && i <= 3; ++i) {
      const std::string ns = Namespace(i), veth = tag_ + "v" + std::to_string(i);
      ok_ = Shell("ip netns add " + ns) &&
            Shell("ip link add " + veth + " type veth peer name eth0 netns " + ns) &&
            Shell("ip link set " + veth + " master " + tag_ + "br up") &&
            Shell("ip -n " + ns + " addr add " + Address(i) + "/24 dev eth0") &&
            Shell("ip -n " + ns + " link set eth0 up") && Shell("ip -n " + ns + " link set lo up");
    }
  }
  ~ThreeNamespaces() {
    for (int i = 1; i <= 3; ++i) Shell("ip netns del " + Namespace(i));
    Shell("ip link del " + tag_ + "br");
    // What a node killed by a test leaves: its pools and its router's pins.
    Shell("rm -rf /dev/shm/tributary-" + tag_ + "-* " + shm::kHugeTmpfsDir + "/tributary-" + tag_ +
          "-* /sys/fs/bpf/tributary/" + tag_ + "-*");
  }
  bool ok() const { return ok_; }
  std::string Namespace(int i) const { return tag_ + "n" + std::to_string(i); }
  std::string Address(int i) const { return subnet_ + "." + std::to_string(i); }
  std::string Target(int i) const { return Address(i) + ":7070"; }

  // `tributary serve` of node i, a member of the group of the three, which waits `peer_timeout_s`
  // for a partial, with `extra` arguments; `op_tls` secures the test's operator calls.
  std::unique_ptr<ServeProcess> Serve(int i, int peer_timeout_s,
                                      const std::vector<std::string>& extra,
                                      const client::ClientOptions& op_tls) const {
    std::string peers;
    for (int j = 1; j <= 3; ++j) {
      if (j != i) peers += (peers.empty() ? "" : ",") + Target(j);
    }
    std::vector<std::string> args = {"--listen",         Target(i),
                                     "--peers",          peers,
                                     "--aggregators",    "1",
                                     "--peer-timeout-s", std::to_string(peer_timeout_s),
                                     "--node-id",        tag_ + "-" + std::to_string(i),
                                     "--metrics-listen", Address(i) + ":0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ServeProcess>(
        args, std::vector<std::string>{"ip", "netns", "exec", Namespace(i)}, op_tls);
  }

 private:
  std::string tag_, subnet_;
  bool ok_ = false;
};

class MultinodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, veth pairs, a bridge";
    if (!Shell("ip -V")) GTEST_SKIP() << "needs iproute2 (ip netns)";
    net_ = std::make_unique<ThreeNamespaces>();
    if (!net_->ok()) GTEST_SKIP() << "cannot create network namespaces with a bridge here";
    const std::vector<std::string> args = NodeArgs();
    for (int i = 1; i <= 3; ++i) {
      nodes_.push_back(net_->Serve(i, peer_timeout_s_, args, Tls("operator")));
      ASSERT_TRUE(nodes_.back()->ok()) << "node " << i << " did not start";
    }
  }
  void TearDown() override {
    nodes_.clear();
    net_.reset();
  }

  // What every node's serve gets beyond the group's own flags, and the TLS files (tls_* fields
  // only) of the test's calls as `id`: none here, mutual TLS in MultinodeTlsTest.
  virtual std::vector<std::string> NodeArgs() { return {}; }
  virtual client::ClientOptions Tls(const std::string& id) { return {}; }

  uint64_t CreateJob(uint32_t rounds, double deadline_s = 0, uint32_t min_clients = 0) {
    const grpc::Status s = TryCreateJob(rounds, deadline_s, min_clients);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? info_.job_id() : 0;
  }
  // Creates a job of `rule` through node 0; its JobInfo goes to info_.
  grpc::Status TryCreateJob(uint32_t rounds, double deadline_s = 0, uint32_t min_clients = 0,
                            const std::string& rule = "fedavg") {
    v1::JobSpec spec;
    spec.set_name("group");
    spec.set_params(kParams);
    spec.set_rounds(rounds);
    spec.set_clients_per_round(kClients);
    spec.set_deadline_s(deadline_s);
    spec.set_min_clients(min_clients);
    spec.set_rule(rule);
    grpc::ClientContext ctx;
    return nodes_[0]->op().CreateJob(&ctx, spec, &info_);
  }
  // Index (0-based) of the job's home among the nodes.
  int Home() const {
    for (int i = 0; i < 3; ++i) {
      if (net_->Target(i + 1) == info_.home_node()) return i;
    }
    return -1;
  }

  // Client c's update: every value c, weight c + 1.
  static std::vector<float> Update(uint32_t c) { return std::vector<float>(kParams, float(c)); }

  // The job's clients, joined through `target` (fail fast: two attempts a call).
  std::vector<std::unique_ptr<client::Client>> JoinAll(uint64_t job, const std::string& target) {
    std::vector<std::unique_ptr<client::Client>> clients;
    for (uint32_t c = 0; c < kClients; ++c) {
      client::ClientOptions o = Tls("c" + std::to_string(c));
      o.target = target;
      o.client_id = "c" + std::to_string(c);
      o.max_attempts = 2;
      clients.push_back(std::make_unique<client::Client>(o));
      EXPECT_TRUE(clients.back()->Join(job)) << c;
    }
    return clients;
  }

  // The model node `node` publishes for round 1 is the exact weighted average of the updates
  // of the clients `counted` selects.
  template <typename Counted>
  void ExpectExactAverage(uint64_t job, int node, Counted counted) {
    double num = 0, den = 0;
    for (uint32_t c = 0; c < kClients; ++c) {
      if (!counted(c)) continue;
      num += double(c) * (c + 1);
      den += c + 1;
    }
    client::ClientOptions o = Tls("reader");
    o.target = net_->Target(node + 1);
    o.client_id = "reader";
    client::Client reader(o);
    auto model = reader.Pull(job, 1, /*wait=*/true);
    ASSERT_TRUE(model) << model.error();
    double worst = 0;
    for (float v : model->values) worst = std::max(worst, std::abs(double(v) - num / den));
    EXPECT_LE(worst, 1e-5 * num / den) << "node " << node;
  }

  static constexpr uint64_t kParams = 100'000;
  static constexpr uint32_t kClients = 30;
  int peer_timeout_s_ = 2;
  std::unique_ptr<ThreeNamespaces> net_;
  std::vector<std::unique_ptr<ServeProcess>> nodes_;
  v1::JobInfo info_;
};

TEST_F(MultinodeTest, ThreeNodesPublishTheExactAverageOnEveryNode) {
  constexpr uint32_t kRounds = 3;
  const uint64_t job = CreateJob(kRounds);
  ASSERT_NE(job, 0u);
  const int home = Home();
  ASSERT_GE(home, 0) << "home " << info_.home_node();
  std::string out;
  const int rc = RunTributary(
      {"sim", "--server", net_->Target(1) + "," + net_->Target(2) + "," + net_->Target(3), "--job",
       std::to_string(job), "--clients", std::to_string(kClients)},
      &out);
  ASSERT_EQ(rc, 0) << out;
  // Every node's model, each round, checked against the exact average of all 30 updates.
  for (int i = 1; i <= 3; ++i) {
    EXPECT_NE(out.find("round " + std::to_string(kRounds) + " (pulled from " + net_->Target(i) +
                       "): 30 updates accepted"),
              std::string::npos)
        << out;
  }
  EXPECT_NE(out.find("3 rounds verified"), std::string::npos) << out;
  // The home placed the clients evenly, and each pushed where it was placed.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(MetricValue(nodes_[i]->Metrics(), "tributary_updates_accepted_total"),
              kRounds * kClients / 3)
        << "node " << i;
  }

  // Between nodes, per round: a partial from each other node to the home, the model back.
  const double model = kParams * 4.0;
  double partials_in = 0, models_in = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string m = nodes_[i]->Metrics();
    const double received = MetricValue(m, "tributary_peer_partial_bytes_received_total");
    const double sent = MetricValue(m, "tributary_peer_partial_bytes_sent_total");
    const double model_sent = MetricValue(m, "tributary_peer_model_bytes_sent_total");
    const double model_received = MetricValue(m, "tributary_peer_model_bytes_received_total");
    if (i == home) {
      EXPECT_EQ(received, 2 * model * kRounds);
      EXPECT_EQ(model_sent, 2 * model * kRounds);
      EXPECT_EQ(sent, 0);
    } else {
      EXPECT_EQ(sent, model * kRounds);
      EXPECT_EQ(model_received, model * kRounds);
      EXPECT_EQ(received, 0);
    }
    partials_in += std::max(0.0, received);
    models_in += std::max(0.0, model_received);
  }
  std::printf(
      "per round between nodes: %.0f bytes of partials to the home, %.0f bytes of "
      "models from it; (nodes - 1) x model = %.0f bytes\n",
      partials_in / kRounds, models_in / kRounds, 2 * model);
}

TEST_F(MultinodeTest, RoundCompletesWhenANonHomeNodeIsKilledMidRound) {
  const uint64_t job = CreateJob(1);
  ASSERT_NE(job, 0u);
  const int home = Home();
  ASSERT_GE(home, 0);
  const int victim = (home + 1) % 3;
  // Every client joins through the home, which spreads them over the three nodes.
  const auto clients = JoinAll(job, net_->Target(home + 1));
  std::map<std::string, int> per_node;
  for (const auto& c : clients) ++per_node[c->TargetOf(job)];
  EXPECT_EQ(per_node, (std::map<std::string, int>{
                          {net_->Target(1), 10}, {net_->Target(2), 10}, {net_->Target(3), 10}}));
  // The clients of the other nodes push; the victim dies before its own clients do.
  for (uint32_t c = 0; c < kClients; ++c) {
    if (clients[c]->TargetOf(job) == net_->Target(victim + 1)) continue;
    ASSERT_TRUE(clients[c]->Push(job, 1, Update(c), c + 1)) << c;
  }
  kill(nodes_[victim]->pid(), SIGKILL);
  ASSERT_NE(nodes_[victim]->WaitForExit(std::chrono::seconds(10)), -1);
  // Its clients find it gone, join again through the home, are placed there, and push.
  for (uint32_t c = 0; c < kClients; ++c) {
    if (clients[c]->TargetOf(job) != net_->Target(victim + 1)) continue;
    auto pushed = clients[c]->Push(job, 1, Update(c), c + 1);
    ASSERT_TRUE(pushed) << c << ": " << pushed.error();
    EXPECT_EQ(clients[c]->TargetOf(job), net_->Target(home + 1));
  }
  for (int i : {home, (home + 2) % 3}) ExpectExactAverage(job, i, [](uint32_t) { return true; });
  // One partial reached the home, the survivor's: none from the dead node, none twice.
  EXPECT_EQ(MetricValue(nodes_[home]->Metrics(), "tributary_peer_partial_bytes_received_total"),
            kParams * 4.0);
}

TEST_F(MultinodeTest, RoundGoesOnWithoutANodeThatStopsAnswering) {
  const uint64_t job = CreateJob(1);
  ASSERT_NE(job, 0u);
  const int home = Home();
  ASSERT_GE(home, 0);
  const std::string frozen = net_->Target((home + 1) % 3 + 1);
  const auto clients = JoinAll(job, net_->Target(home + 1));
  // The frozen node's clients push first (the home hears of them), then it stops answering.
  for (uint32_t c = 0; c < kClients; ++c) {
    if (clients[c]->TargetOf(job) == frozen) {
      ASSERT_TRUE(clients[c]->Push(job, 1, Update(c), c + 1)) << c;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int frozen_index = (home + 1) % 3;
  kill(nodes_[frozen_index]->pid(), SIGSTOP);
  for (uint32_t c = 0; c < kClients; ++c) {
    if (clients[c]->TargetOf(job) != frozen) {
      ASSERT_TRUE(clients[c]->Push(job, 1, Update(c), c + 1)) << c;
    }
  }
  // The round publishes what the other two nodes hold.
  ExpectExactAverage(job, home, [&](uint32_t c) { return clients[c]->TargetOf(job) != frozen; });
  EXPECT_EQ(MetricValue(nodes_[home]->Metrics(), "tributary_peer_rounds_left_out_total"), 1);
  kill(nodes_[frozen_index]->pid(), SIGKILL);
  EXPECT_NE(nodes_[frozen_index]->WaitForExit(std::chrono::seconds(10)), -1);
}

TEST_F(MultinodeTest, OnlyFedAvgJobsRunInAGroup) {
  for (const std::string rule : {"median", "krum", "trimmed-mean"}) {
    const grpc::Status s = TryCreateJob(1, 0, 0, rule);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT) << rule;
    EXPECT_NE(s.error_message().find("only fedavg jobs run in a group"), std::string::npos)
        << s.error_message();
  }
  // What was refused left nothing behind: a fedavg job is created and listed alone on each node.
  ASSERT_NE(CreateJob(1), 0u);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    v1::ListJobsReply list;
    ASSERT_TRUE(nodes_[i]->op().ListJobs(&ctx, v1::ListJobsRequest(), &list).ok()) << i;
    EXPECT_EQ(list.jobs_size(), 1) << "node " << i;
  }
}

// Nodes that wait for a partial as long as a test takes to send its own.
class MultinodePartialTest : public MultinodeTest {
 protected:
  MultinodePartialTest() { peer_timeout_s_ = 60; }

  // PushPartial to `to` as node `from` for round 1 of `job`: the header, `data` in two chunks,
  // and a trailer with `checksum` unless it is absent.
  static grpc::Status SendPartial(const std::string& to, const std::string& from, uint64_t job,
                                  uint32_t updates, double weight, const std::vector<float>& data,
                                  std::optional<uint64_t> checksum) {
    auto stub =
        internal::PeerService::NewStub(grpc::CreateChannel(to, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    internal::PeerAck ack;
    auto writer = stub->PushPartial(&ctx, &ack);
    internal::PartialChunk chunk;
    auto* h = chunk.mutable_header();
    h->mutable_round()->set_job_id(job);
    h->mutable_round()->set_round(1);
    h->mutable_round()->set_node(from);
    h->set_updates(updates);
    h->set_weight(weight);
    h->set_total_bytes(data.size() * sizeof(float));
    bool ok = writer->Write(chunk);
    const std::size_t half = data.size() / 2 * sizeof(float);
    const auto* bytes = reinterpret_cast<const char*>(data.data());
    chunk.set_data(bytes, half);
    ok = ok && writer->Write(chunk);
    chunk.set_data(bytes + half, data.size() * sizeof(float) - half);
    ok = ok && writer->Write(chunk);
    if (checksum) {
      chunk.mutable_trailer()->set_checksum(*checksum);
      ok = ok && writer->Write(chunk);
    }
    writer->WritesDone();
    return writer->Finish();
  }
};

TEST_F(MultinodePartialTest, APartialIsTakenOnlyWithFiniteValuesAndItsChecksum) {
  const uint64_t job = CreateJob(1);
  ASSERT_NE(job, 0u);
  const int home = Home();
  ASSERT_GE(home, 0);
  const int frozen_index = (home + 1) % 3;
  const std::string frozen = net_->Target(frozen_index + 1);
  const auto clients = JoinAll(job, net_->Target(home + 1));
  // The frozen node's clients push, the home hears of them, then the node stops: the test sends
  // its partial in its stead, the weighted mean of those updates.
  uint32_t updates = 0;
  double num = 0, weight = 0;
  for (uint32_t c = 0; c < kClients; ++c) {
    if (clients[c]->TargetOf(job) != frozen) continue;
    ASSERT_TRUE(clients[c]->Push(job, 1, Update(c), c + 1)) << c;
    ++updates;
    num += double(c) * (c + 1);
    weight += c + 1;
  }
  ASSERT_GT(updates, 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(nodes_[frozen_index]->pid(), SIGSTOP);
  for (uint32_t c = 0; c < kClients; ++c) {
    if (clients[c]->TargetOf(job) != frozen) {
      ASSERT_TRUE(clients[c]->Push(job, 1, Update(c), c + 1)) << c;
    }
  }
  const std::string home_target = net_->Target(home + 1);
  std::vector<float> partial(kParams, float(num / weight));
  const uint64_t checksum = XXH3_64bits(partial.data(), partial.size() * sizeof(float));

  std::vector<float> poisoned = partial;
  poisoned[kParams - 7] = std::nanf("");
  grpc::Status s = SendPartial(home_target, frozen, job, updates, weight, poisoned,
                               XXH3_64bits(poisoned.data(), poisoned.size() * sizeof(float)));
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(
      s.error_message().find("partial value " + std::to_string(kParams - 7) + " is not finite"),
      std::string::npos)
      << s.error_message();

  s = SendPartial(home_target, frozen, job, updates, weight, partial, checksum ^ 1);
  EXPECT_EQ(s.error_code(), grpc::DATA_LOSS);
  EXPECT_NE(s.error_message().find("partial checksum does not match"), std::string::npos)
      << s.error_message();

  s = SendPartial(home_target, frozen, job, updates, weight, partial, std::nullopt);
  EXPECT_EQ(s.error_code(), grpc::DATA_LOSS);
  EXPECT_NE(s.error_message().find("without its trailer"), std::string::npos) << s.error_message();

  // Nothing refused was taken: the right partial still is, and the round publishes all of it.
  s = SendPartial(home_target, frozen, job, updates, weight, partial, checksum);
  EXPECT_TRUE(s.ok()) << s.error_message();
  ExpectExactAverage(job, home, [](uint32_t) { return true; });
  EXPECT_EQ(MetricValue(nodes_[home]->Metrics(), "tributary_peer_rounds_left_out_total"), 0);
  kill(nodes_[frozen_index]->pid(), SIGKILL);
  EXPECT_NE(nodes_[frozen_index]->WaitForExit(std::chrono::seconds(10)), -1);
}

// The same group under mutual TLS: each node serves with a certificate naming the three
// addresses, requires client certificates, and calls its peers over TLS with a certificate of
// its own (CN=node), which they admit as an operator.
class MultinodeTlsTest : public MultinodeTest {
 protected:
  std::vector<std::string> NodeArgs() override {
    certs_ = fs::temp_directory_path() / ("tributary-group-certs-" + std::to_string(getpid()));
    std::vector<std::string> args = {"certs",      "--out",    certs_.string(),
                                     "--operator", "operator", "--operator",
                                     "node",       "--client", "reader"};
    for (int i = 1; i <= 3; ++i) args.insert(args.end(), {"--server-name", net_->Address(i)});
    for (uint32_t c = 0; c < kClients; ++c)
      args.insert(args.end(), {"--client", "c" + std::to_string(c)});
    std::string out;
    EXPECT_EQ(RunTributary(args, &out), 0) << out;
    return {"--tls-cert",      File("server.pem"), "--tls-key",     File("server-key.pem"),
            "--tls-client-ca", File("ca.pem"),     "--peer-tls-ca", File("ca.pem"),
            "--peer-cert",     File("node.pem"),   "--peer-key",    File("node-key.pem"),
            "--operator-id",   "operator",         "--operator-id", "node"};
  }
  client::ClientOptions Tls(const std::string& id) override {
    client::ClientOptions o;
    o.tls_ca_file = File("ca.pem");
    o.tls_cert_file = File(id + ".pem");
    o.tls_key_file = File(id + "-key.pem");
    return o;
  }
  void TearDown() override {
    MultinodeTest::TearDown();
    std::error_code ec;
    fs::remove_all(certs_, ec);
  }
  std::string File(const std::string& name) const { return (certs_ / name).string(); }

  fs::path certs_;
};

TEST_F(MultinodeTlsTest, ThreeNodesUnderMutualTlsPublishTheExactAverage) {
  const uint64_t job = CreateJob(1);
  ASSERT_NE(job, 0u);
  const int home = Home();
  ASSERT_GE(home, 0);
  const auto clients = JoinAll(job, net_->Target(1));
  for (uint32_t c = 0; c < kClients; ++c) {
    ASSERT_TRUE(clients[c]->Push(job, 1, Update(c), c + 1)) << c;
  }
  for (int i = 0; i < 3; ++i) ExpectExactAverage(job, i, [](uint32_t) { return true; });
  // The other two nodes' partials reached the home, over TLS.
  EXPECT_EQ(MetricValue(nodes_[home]->Metrics(), "tributary_peer_partial_bytes_received_total"),
            2 * kParams * 4.0);
}

TEST_F(MultinodeTest, CancellingAJobOnOneNodeEndsItOnEvery) {
  const uint64_t job = CreateJob(2);
  ASSERT_NE(job, 0u);
  const int other = (Home() + 1) % 3;
  grpc::ClientContext ctx;
  v1::JobRef ref;
  ref.set_job_id(job);
  v1::JobInfo info;
  ASSERT_TRUE(nodes_[other]->op().CancelJob(&ctx, ref, &info).ok());
  for (int i = 0; i < 3; ++i) {
    v1::JobState state = v1::JOB_STATE_RUNNING;
    for (int t = 0; t < 200 && state == v1::JOB_STATE_RUNNING; ++t) {
      state = nodes_[i]->GetJob(job).state();
      if (state == v1::JOB_STATE_RUNNING) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    EXPECT_EQ(state, v1::JOB_STATE_CANCELLED) << "node " << i;
  }
}

}  // namespace
}  // namespace tributary::testing
