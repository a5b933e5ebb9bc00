// What a container platform expects of `tributary serve`: the gRPC health service answers
// SERVING, the gateway listens on $PORT when no --listen is given, and SIGTERM ends the
// process cleanly, after draining: a round that holds accepted updates still completes
// (exactly), while new jobs and pushes into rounds with nothing to lose are turned away.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "clients/cpp/client.h"
#include "tests/integration/serve_process.h"

extern char** environ;

namespace tributary::testing {
namespace {

// grpc.health.v1.Health/Check for the whole server (empty service name): the reply's bytes.
std::string HealthCheck(const std::string& target) {
  grpc::GenericStub stub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer request, reply;
  grpc::Slice empty;
  request = grpc::ByteBuffer(&empty, 1);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &reply,
                 [&](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  if (!s.ok()) return "error: " + s.error_message();
  std::vector<grpc::Slice> slices;
  (void)reply.Dump(&slices);
  std::string bytes;
  for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return bytes;
}

TEST(ContainerContractTest, HealthServiceSaysServing) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  EXPECT_EQ(HealthCheck(serve.target()), std::string("\x08\x01", 2));  // status: SERVING
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(ContainerContractTest, ListensOnPortAndStopsOnSigterm) {
  const int port = FreePort();
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("tributary-port-" + std::to_string(getpid()));
  std::vector<std::string> args = {"/usr/bin/env", "PORT=" + std::to_string(port),
                                   TRIBUTARY_BINARY, "serve", "--data-dir", dir,
                                   "--aggregators", "1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  int bound = 0;
  for (int i = 0; i < 400 && bound == 0; ++i) {
    std::ifstream(dir + "/port") >> bound;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(bound, port);
  EXPECT_EQ(HealthCheck("127.0.0.1:" + std::to_string(port)), std::string("\x08\x01", 2));
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(std::filesystem::exists(dir + "/port"));  // run files are removed on exit
  std::filesystem::remove_all(dir);
}

// Mode bits of `path` (0 when it does not exist).
unsigned ModeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 0;
}

TEST(ContainerContractTest, RunFilesSegmentsAndPinsArePrivate) {
  const std::string node = "private-" + std::to_string(getpid());
  ServeProcess serve({"--node-id", node});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(1000, /*rounds=*/1, /*clients_per_round=*/1);
  ASSERT_NE(job, 0u);
  EXPECT_EQ(ModeOf(serve.dir()), 0700u);
  EXPECT_EQ(ModeOf(serve.dir() + "/port"), 0600u);
  EXPECT_EQ(ModeOf(serve.dir() + "/serve.pid"), 0600u);
  int segments = 0;
  for (const auto& e : std::filesystem::directory_iterator(NodeShmDir())) {
    if (e.path().filename().string().find(node) == std::string::npos) continue;
    ++segments;
    EXPECT_EQ(ModeOf(e.path()), 0600u) << e.path();
  }
  EXPECT_GE(segments, 1);  // the job's slot pool
  const std::string pins = "/sys/fs/bpf/tributary/" + node;
  if (ModeOf(pins) == 0) return;  // the userspace router (no root or no BPF): no pins
  EXPECT_EQ(ModeOf("/sys/fs/bpf/tributary"), 0700u);
  EXPECT_EQ(ModeOf(pins), 0700u);
  for (const auto& e : std::filesystem::directory_iterator(pins)) {
    EXPECT_EQ(ModeOf(e.path()), 0600u) << e.path();
  }
}

TEST(ContainerContractTest, SigtermDrainsTheRoundInProgress) {
  constexpr std::size_t kParams = 1000;
  ServeProcess serve({"--drain-timeout-s", "60"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/3);
  const uint64_t idle = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/2);
  ASSERT_NE(job, 0u);
  ASSERT_NE(idle, 0u);
  std::vector<std::unique_ptr<client::Client>> clients;
  for (const char* id : {"a", "b", "c", "d"}) {
    clients.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = id, .max_attempts = 1}));
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(clients[i]->Join(job));
  ASSERT_TRUE(clients[3]->Join(idle));
  auto values = [](float v) { return std::vector<float>(kParams, v); };
  ASSERT_TRUE(clients[0]->Push(job, 1, values(1), 1));
  ASSERT_TRUE(clients[1]->Push(job, 1, values(2), 2));

  ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
  std::string health;
  for (int i = 0; i < 250 && health != std::string("\x08\x02", 2); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    health = HealthCheck(serve.target());
  }
  EXPECT_EQ(health, std::string("\x08\x02", 2));  // NOT_SERVING: draining
  {
    v1::JobSpec spec;
    spec.set_name("late");
    spec.set_params(kParams);
    spec.set_rounds(1);
    spec.set_clients_per_round(1);
    grpc::ClientContext ctx;
    v1::JobInfo info;
    EXPECT_EQ(serve.op().CreateJob(&ctx, spec, &info).error_code(), grpc::UNAVAILABLE);
  }
  auto refused = clients[3]->PushOnce(idle, 1, values(5), 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), StatusCode::kUnavailable) << refused.error();

  // The round with accepted updates still completes, exactly; then serve exits.
  auto published = std::async(std::launch::async, [&] { return clients[0]->Pull(job, 1, true); });
  ASSERT_TRUE(clients[2]->Push(job, 1, values(4), 1));
  auto model = published.get();
  ASSERT_TRUE(model) << model.error();
  EXPECT_EQ(model->values, values((1 * 1 + 2 * 2 + 4 * 1) / 4.0f));
  const int status = serve.WaitForExit(std::chrono::seconds(20));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace tributary::testing
