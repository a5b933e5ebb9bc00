// The router choice end to end: a round through `--router bpf` is aggregated exactly and every
// descriptor went through the kernel program; without the capabilities BPF needs, `--router
// auto` falls back to the userspace router and the same round passes; `--router bpf` then
// refuses to start rather than pretend.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <regex>

#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

// Sum of the per-instance delivery counters in a /metrics text.
uint64_t Delivered(const std::string& metrics) {
  std::regex line(R"(tributary_router_messages_total\{instance="\d+"\} (\d+))");
  uint64_t total = 0;
  for (std::sregex_iterator it(metrics.begin(), metrics.end(), line), end; it != end; ++it) {
    total += std::stoull((*it)[1]);
  }
  return total;
}

void RunVerifiedRounds(ServeProcess& serve) {
  const uint64_t job = serve.CreateJob(200000, /*rounds=*/2, /*clients_per_round=*/4);
  ASSERT_NE(job, 0u);
  std::string out;
  EXPECT_EQ(RunTributary({"sim", "--server", serve.target(), "--job", std::to_string(job),
                          "--clients", "4"},
                         &out),
            0)
      << out;
  EXPECT_NE(out.find("2 rounds verified"), std::string::npos) << out;
}

bool CanLoadBpf() {
#ifdef TRIBUTARY_HAVE_BPF
  return geteuid() == 0;
#else
  return false;
#endif
}

TEST(RouterTest, RoundThroughTheKernelRouter) {
  if (!CanLoadBpf()) GTEST_SKIP() << "needs root and a build with the BPF router";
  ServeProcess serve({"--router", "bpf", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(serve.ok()) << "serve --router bpf did not start";
  RunVerifiedRounds(serve);
  const std::string metrics = serve.Metrics();
  EXPECT_NE(metrics.find("tributary_router_info{kind=\"bpf\"} 1"), std::string::npos) << metrics;
  // 2 rounds x (4 updates + 1 finish) per shard, at least one shard: all redirected in-kernel.
  EXPECT_GE(Delivered(metrics), 10u) << metrics;
  EXPECT_NE(metrics.find("tributary_router_undelivered_total 0"), std::string::npos) << metrics;
}

TEST(RouterTest, AutoFallsBackToUserspaceWithoutCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "dropping capabilities with setpriv needs root";
  if (system("command -v setpriv > /dev/null") != 0) GTEST_SKIP() << "setpriv is missing";
  const std::vector<std::string> unprivileged = {
      "setpriv", "--inh-caps=-all", "--bounding-set=-bpf,-sys_admin,-net_admin,-perfmon", "--"};
  {
    ServeProcess serve({"--router", "auto", "--metrics-listen", "127.0.0.1:0"}, unprivileged);
    ASSERT_TRUE(serve.ok());
    RunVerifiedRounds(serve);
    const std::string metrics = serve.Metrics();
    EXPECT_NE(metrics.find("tributary_router_info{kind=\"userspace\"} 1"), std::string::npos)
        << metrics;
    EXPECT_GE(Delivered(metrics), 10u) << metrics;
  }
  std::string out;
  const std::string cmd = "setpriv --inh-caps=-all --bounding-set=-bpf,-sys_admin,-net_admin,"
                          "-perfmon -- " TRIBUTARY_BINARY " serve --listen 127.0.0.1:0 "
                          "--router bpf 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << out;
  EXPECT_NE(out.find("--router bpf"), std::string::npos) << out;
}

}  // namespace
}  // namespace tributary::testing
