// `tributary serve`: the embedded single-node platform (gateway, node runtime, aggregators).
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "cli/command.h"
#include "cli/heap_tuning.h"
#include "gateway/node.h"
#include "gpu/device.h"
#include "shm/huge_tmpfs.h"

namespace tributary::cli {
namespace {

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : p.string();
}

// "d" and 12 hex digits of the FNV-1a hash of the data directory's absolute path.
std::string DataDirNodeId(const std::string& data_dir) {
  std::error_code ec;
  std::string path = std::filesystem::weakly_canonical(data_dir, ec).string();
  if (ec) path = std::filesystem::absolute(data_dir).string();
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : path) hash = (hash ^ c) * 1099511628211ull;
  char id[16];
  std::snprintf(id, sizeof id, "d%012llx", static_cast<unsigned long long>(hash >> 16));
  return id;
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Run a node: gateway, node runtime and aggregators");
  auto opts = std::make_shared<gateway::NodeOptions>();
  auto data_dir = std::make_shared<std::string>();
  auto budget_mb = std::make_shared<std::size_t>(0);
  auto drain_s = std::make_shared<double>(30);
  auto* listen = cmd->add_option("--listen", opts->listen,
                                 "gRPC address HOST:PORT (port 0: any free port); without it, "
                                 "0.0.0.0:$PORT when PORT is set (the container contract)")
                     ->capture_default_str();
  cmd->add_option("--data-dir", *data_dir,
                  "Directory for the node's run files (serve.pid, port, metrics_port), its "
                  "job checkpoints (jobs/: a restarted serve resumes its jobs) and the key of "
                  "restricted jobs' access tokens (client-token.key); without it jobs and "
                  "tokens last as long as the process");
  cmd->add_option("--router", opts->router, "Descriptor router: auto|userspace|bpf")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "userspace", "bpf"}));
  cmd->add_option("--aggregators", opts->aggregators,
                  "Aggregator processes kept warm (0: one per core)")
      ->capture_default_str();
  cmd->add_option("--peers", opts->peers,
                  "The other nodes of this node's group, HOST:PORT each (comma-separated or "
                  "repeated): jobs are created on all of them and each job's home node folds "
                  "one partial per node into its rounds' models")
      ->delimiter(',');
  cmd->add_option("--advertise", opts->advertise,
                  "With --peers: HOST:PORT at which the other nodes reach this one (default: "
                  "--listen)");
  cmd->add_option("--peer-tls-ca", opts->peer_tls_ca_file,
                  "With --peers under TLS: PEM CA of the other nodes' server certificates, which "
                  "this node verifies when it calls them")
      ->check(CLI::ExistingFile);
  cmd->add_option("--peer-cert", opts->peer_cert_file,
                  "With --peers under mutual TLS: PEM client certificate this node presents to "
                  "the others (its CN must be an --operator-id there)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--peer-key", opts->peer_key_file, "PEM private key of --peer-cert")
      ->check(CLI::ExistingFile);
  cmd->add_option("--peer-timeout-s", opts->peer_timeout_s,
                  "With --peers: how long a job's home waits for another node's partial once "
                  "it closed a round, before the round goes on without that node")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_flag("--autoscale", opts->autoscale,
                "Start one aggregator process and follow the arrival rate of updates up to "
                "--aggregators (instances = ceil(rate / what one process folds))");
  cmd->add_option("--instance-service-rate", opts->instance_service_rate,
                  "With --autoscale: descriptors per second one aggregator process folds "
                  "(0: measured from the processes' own reports)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e12));
  cmd->add_option("--scale-to-zero-after-s", opts->scale_to_zero_after_s,
                  "Stop the aggregator processes after this many seconds without aggregation "
                  "work; the next push starts them again (0: keep them warm)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--metrics-listen", opts->metrics_listen,
                  "Serve Prometheus /metrics on HOST:PORT");
  cmd->add_option("--bulk-listen", opts->bulk_listen,
                  "Take pushes as raw bytes over plain TCP on HOST:PORT, received straight into "
                  "shared memory (default: the host of --listen, any free port; none under "
                  "TLS); off: only gRPC pushes");
  cmd->add_option("--node-id", opts->node_id,
                  "Node name used in shared-memory names (default: derived from --data-dir, "
                  "else the process id)");
  cmd->add_option("--shm-budget-mb", *budget_mb,
                  "Shared memory all job pools may use (0: half of RAM)");
  cmd->add_option("--shm-backend", opts->shm_backend,
                  "Where job pools live: posix (POSIX shared memory, in --shm-dir), dpdk (DPDK "
                  "memzones in 2 MiB hugepages, needs root; this process is the EAL primary) or "
                  "auto (dpdk where it starts, else posix). boost is the former name of posix")
      ->capture_default_str()
      ->transform(CLI::Transformer(std::map<std::string, std::string>{{"boost", "posix"}}))
      ->check(CLI::IsMember({"posix", "dpdk", "auto"}));
  cmd->add_option("--shm-dir", opts->shm_dir,
                  "Directory of the posix pools: auto (" + std::string(shm::kHugeTmpfsDir) +
                      ", a tmpfs with 2 MiB pages, mounted when missing where this process may "
                      "mount; else /dev/shm) or a directory, best on tmpfs")
      ->capture_default_str();
  auto dpdk_mb = std::make_shared<std::size_t>(opts->dpdk_memory_bytes >> 20);
  cmd->add_option("--dpdk-memory-mb", *dpdk_mb,
                  "With the dpdk backend: hugepage memory for the job pools, reserved at start "
                  "(vm.nr_hugepages is raised by what is missing) and given back at exit")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{2}, std::size_t{1} << 30));
  cmd->add_option("--drain-timeout-s", *drain_s,
                  "On SIGTERM/SIGINT, how long rounds holding accepted updates may take to "
                  "publish before the node stops (new jobs and pushes into empty rounds are "
                  "refused meanwhile); with --data-dir, rounds still unfinished then keep "
                  "their accepted updates for the next start on that directory")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--max-streaming-pushes", opts->max_streaming_pushes,
                  "Pushes streaming at once, all jobs; more get RESOURCE_EXHAUSTED (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--max-streaming-pulls", opts->max_streaming_pulls,
                  "Pulls streaming or waiting for their version at once, all jobs; more get "
                  "RESOURCE_EXHAUSTED (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--push-rate-per-client", opts->push_rate_per_client,
                  "Push attempts per second each client may make per job, refused ones "
                  "included; more get RESOURCE_EXHAUSTED (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--push-burst", opts->push_burst,
                  "Push attempts a client may make at once before --push-rate-per-client applies")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--retained-versions", opts->retained_versions,
                  "Published models each job keeps readable, the latest included")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--model-write-interval-s", opts->model_write_interval_s,
                  "Least seconds between two model files of a job in --data-dir (a version "
                  "published sooner waits, a newer one replaces it; final models are written at "
                  "once; 0: every version)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--rule-plugin", opts->rule_plugins,
                  "Load an aggregation-rule plug-in (.so); jobs name it plugin:NAME (repeatable)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--python-path", opts->python_paths,
                  "Directory searched for python:module.func rules (repeatable)")
      ->check(CLI::ExistingDirectory);
  auto device = std::make_shared<std::string>("auto");
  cmd->add_option("--device", *device,
                  "Where aggregators run fedavg and robust rules: auto (CUDA when a device is "
                  "present), cpu, or cuda (an error without a device)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  auto insecure = std::make_shared<bool>(false);
  cmd->add_option("--tls-cert", opts->tls_cert_file,
                  "PEM certificate (chain) of the server: serve gRPC over TLS (with --tls-key)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", opts->tls_key_file, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-client-ca", opts->tls_client_ca_file,
                  "PEM CA of client certificates: require and verify one on every call (mutual "
                  "TLS); the certificate's subject CN is the only client id its holder may use")
      ->check(CLI::ExistingFile);
  auto* operator_ids =
      cmd->add_option("--operator-id", opts->operator_ids,
                      "Under mutual TLS, a certificate CN admitted to the operator service "
                      "(repeatable; default: operator)");
  cmd->add_option("--operator-token-file", opts->operator_token_file,
                  "File holding a token (16 or more characters) every operator call must carry "
                  "as `authorization: Bearer TOKEN` (tributary job --operator-token-file)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--insecure", *insecure,
                "Serve plaintext gRPC on purpose (no TLS; no warning is logged)");
  cmd->callback([opts, data_dir, budget_mb, dpdk_mb, listen, device, drain_s, insecure,
                 operator_ids] {
    KeepHeapWarm();
    if (*insecure && !opts->tls_cert_file.empty()) {
      spdlog::error("serve: --insecure contradicts --tls-cert");
      throw CLI::RuntimeError(1);
    }
    if (operator_ids->count() > 0 && opts->tls_client_ca_file.empty()) {
      spdlog::error("serve: --operator-id needs mutual TLS (--tls-client-ca)");
      throw CLI::RuntimeError(1);
    }
    if (opts->tls_cert_file.empty() && !*insecure) {
      spdlog::warn("serve: gRPC is served in PLAINTEXT: updates, models and job specs cross the "
                   "network unencrypted and callers are not authenticated. Enable TLS with "
                   "--tls-cert FILE --tls-key FILE (and --tls-client-ca FILE for client "
                   "certificates; `tributary certs` makes a test set), or pass --insecure to "
                   "serve plaintext on purpose");
    }
    if (const char* port = getenv("PORT"); listen->count() == 0 && port && *port) {
      opts->listen = std::string("0.0.0.0:") + port;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

    const Result<std::string> cuda_device = gpu::ProbeCudaDevice();
    if (*device == "cuda" && !cuda_device.has_value()) {
      spdlog::error("serve: --device cuda: {}", cuda_device.error().message());
      throw CLI::RuntimeError(1);
    }
    spdlog::info("serve: --device {}: {}", *device,
                 cuda_device.has_value() ? "CUDA device " + *cuda_device
                                         : cuda_device.error().message());
    opts->worker_argv = {SelfExe(), "aggregator-worker", "--device", *device};
    opts->shm_budget_bytes = *budget_mb << 20;
    opts->dpdk_memory_bytes = *dpdk_mb << 20;
    int data_dir_lock = -1;
    if (!data_dir->empty()) {
      // Run files are private like the shm segments and BPF pins (mode 0600, directories 0700).
      umask(077);
      std::filesystem::create_directories(*data_dir);
      std::filesystem::permissions(*data_dir, std::filesystem::perms::owner_all);
      // One serve per data directory: its checkpoints and the shared memory they name are
      // this node's alone.
      const std::string lock_file = *data_dir + "/serve.lock";
      data_dir_lock = open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (data_dir_lock < 0 || flock(data_dir_lock, LOCK_EX | LOCK_NB) != 0) {
        spdlog::error("serve: another serve runs on --data-dir {}", *data_dir);
        throw CLI::RuntimeError(1);
      }
      opts->token_key_file = *data_dir + "/client-token.key";
      opts->checkpoint_dir = *data_dir + "/jobs";
      // Named after the data directory, so that a restarted node finds the shared memory of
      // the jobs it resumes under the same names (and no other node takes it for stale).
      if (opts->node_id.empty()) opts->node_id = DataDirNodeId(*data_dir);
    }
    auto node = gateway::Node::Start(*opts);
    if (!node) {
      spdlog::error("serve: {}", node.error().ToString());
      throw CLI::RuntimeError(1);
    }
    if (!data_dir->empty()) {
      std::ofstream(*data_dir + "/serve.pid") << getpid() << '\n';
      std::ofstream(*data_dir + "/port") << (*node)->port() << '\n';
      if ((*node)->metrics_port() > 0) {
        std::ofstream(*data_dir + "/metrics_port") << (*node)->metrics_port() << '\n';
      }
    }
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&signals, &sig);
      spdlog::info("signal {}: shutting down", sig);
      (*node)->Drain(std::chrono::milliseconds(static_cast<int64_t>(*drain_s * 1000)));
      (*node)->Shutdown();
    });
    (*node)->Wait();
    waiter.join();
    node->reset();
    if (data_dir_lock >= 0) close(data_dir_lock);
    if (!data_dir->empty()) {
      std::filesystem::remove(*data_dir + "/serve.pid");
      std::filesystem::remove(*data_dir + "/port");
      std::filesystem::remove(*data_dir + "/metrics_port");
    }
  });
}

}  // namespace tributary::cli
