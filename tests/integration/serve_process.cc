#include "tests/integration/serve_process.h"

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "shm/huge_tmpfs.h"

extern char** environ;

namespace tributary::testing {
namespace fs = std::filesystem;

ServeProcess::ServeProcess(std::vector<std::string> extra_args, std::vector<std::string> prefix,
                           const client::ClientOptions& op_tls, std::string data_dir)
    : dir_(std::move(data_dir)), owns_dir_(dir_.empty()) {
  if (owns_dir_) {
    dir_ = (fs::temp_directory_path() / ("tributary-test-" + std::to_string(getpid()) + "-" +
                                         std::to_string(std::rand())))
               .string();
  }
  fs::create_directories(dir_);
  fs::remove(dir_ + "/port");  // of a serve that ran here before
  std::vector<std::string> args = prefix;
  args.insert(args.end(), {TRIBUTARY_BINARY, "serve", "--data-dir", dir_});
  if (auto listen = std::find(extra_args.begin(), extra_args.end(), "--listen");
      listen == extra_args.end()) {
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  } else if (listen + 1 != extra_args.end()) {
    host_ = (listen + 1)->substr(0, (listen + 1)->rfind(':'));
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  if (auto id = std::find(extra_args.begin(), extra_args.end(), "--node-id");
      id != extra_args.end() && id + 1 != extra_args.end()) {
    node_ = *(id + 1);
  } else {
    // A name of its own, so that what a serve killed mid-job leaves can be removed: the
    // destructor does for a data directory it owns, RemoveDataDir for one the test keeps.
    node_ = owns_dir_ ? "t" + std::to_string(getpid()) + "-" + std::to_string(std::rand())
                      : NodeIdOf(dir_);
    args.insert(args.end(), {"--node-id", node_});
  }
  // Tests stop serve mid-round at will: no drain unless a test asks for one.
  if (std::find(extra_args.begin(), extra_args.end(), "--drain-timeout-s") == extra_args.end()) {
    args.insert(args.end(), {"--drain-timeout-s", "0"});
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawnp(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    std::cerr << "cannot start " << TRIBUTARY_BINARY << "\n";
    pid_ = -1;
    return;
  }
  for (int i = 0; i < 600 && port_ == 0; ++i) {
    std::ifstream f(dir_ + "/port");
    f >> port_;
    if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  client::ClientOptions op = op_tls;
  op.target = target();
  auto channel = client::CreateChannel(op);
  if (!channel) std::cerr << "operator channel: " << channel.error() << "\n";
  operator_ = v1::OperatorService::NewStub(
      channel ? *channel : grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (i == 99) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
    }
  }
  if (owns_dir_) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    RemoveNodeState(node_);
  }
}

std::string ServeProcess::NodeIdOf(const std::string& data_dir) {
  const std::size_t hash = std::hash<std::string>{}(data_dir);
  char id[16];
  std::snprintf(id, sizeof id, "t%012zx", hash & 0xffffffffffff);
  return id;
}

void ServeProcess::RemoveNodeState(const std::string& node) {
  if (node.empty()) return;
  std::error_code ec;
  const std::string prefix = "tributary-" + node + "-";
  for (const std::string dir : {std::string("/dev/shm"), std::string(shm::kHugeTmpfsDir)}) {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().filename().string().starts_with(prefix)) fs::remove(e.path(), ec);
    }
  }
  fs::remove_all("/sys/fs/bpf/tributary/" + node, ec);
}

void RemoveDataDir(const std::string& data_dir) {
  std::error_code ec;
  fs::remove_all(data_dir, ec);
  ServeProcess::RemoveNodeState(ServeProcess::NodeIdOf(data_dir));
}

int ServeProcess::WaitForExit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string NodeShmDir() {
  return shm::IsHugeTmpfs(shm::kHugeTmpfsDir) ? shm::kHugeTmpfsDir : "/dev/shm";
}

double MetricValue(const std::string& metrics, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  const std::size_t at = metrics.find(prefix);
  if (at == std::string::npos) return -1;
  return std::strtod(metrics.c_str() + at + prefix.size(), nullptr);
}

std::string ServeProcess::Metrics() const {
  int port = 0;
  std::ifstream(dir_ + "/metrics_port") >> port;
  if (port == 0) return "";
  httplib::Client http(host_, port);
  auto res = http.Get("/metrics");
  return res && res->status == 200 ? res->body : "";
}

bool ServeProcess::AwaitMetric(const std::string& name, double value) const {
  for (int i = 0; i < 250; ++i) {
    if (MetricValue(Metrics(), name) == value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<pid_t> ServeProcess::Children() const {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid_) + "/task", ec)) {
    std::ifstream f(task.path() / "children");
    pid_t p;
    while (f >> p) out.push_back(p);
  }
  return out;
}

uint64_t ServeProcess::CreateJob(uint64_t params, uint32_t rounds, uint32_t clients_per_round,
                                 uint32_t shards, double deadline_s, uint32_t min_clients) {
  v1::JobSpec spec;
  spec.set_params(params);
  spec.set_rounds(rounds);
  spec.set_clients_per_round(clients_per_round);
  spec.set_shards(shards);
  spec.set_deadline_s(deadline_s);
  spec.set_min_clients(min_clients);
  return CreateJob(std::move(spec));
}

uint64_t ServeProcess::CreateJob(v1::JobSpec spec) {
  if (spec.name().empty()) spec.set_name("test");
  grpc::ClientContext ctx;
  v1::JobInfo info;
  grpc::Status s = operator_->CreateJob(&ctx, spec, &info);
  if (!s.ok()) {
    std::cerr << "CreateJob: " << s.error_message() << "\n";
    return 0;
  }
  return info.job_id();
}

v1::JobInfo ServeProcess::GetJob(uint64_t job) {
  grpc::ClientContext ctx;
  v1::JobRef ref;
  ref.set_job_id(job);
  v1::JobInfo info;
  (void)operator_->GetJob(&ctx, ref, &info);
  return info;
}

int RunTributary(const std::vector<std::string>& args, std::string* output,
                 const std::function<void()>& on_first_output) {
  std::string cmd = TRIBUTARY_BINARY;
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::size_t n;
  // read(), not fread(): each line is handed on as the command writes it.
  while ((n = read(fileno(p), buf, sizeof buf)) > 0) {
    if (output->empty() && on_first_output) on_first_output();
    output->append(buf, n);
  }
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

uint64_t LastLineNumber(const std::string& output) {
  std::istringstream in(output);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return std::strtoull(last.c_str(), nullptr, 10);
}

std::string WriteNpy(const std::vector<float>& values) {
  char path[] = "/tmp/tributary-initial-XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(values.size()) + ",), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ').push_back('\n');
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return path;
}

}  // namespace tributary::testing
