// What a container platform expects of `tributary serve`: the gRPC health service answers
// SERVING, the gateway listens on $PORT when no --listen is given, and SIGTERM ends the
// process cleanly.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

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

}  // namespace
}  // namespace tributary::testing
