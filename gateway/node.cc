#include "gateway/node.h"

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "aggregator/plugin_rule.h"
#include "common/metrics_text.h"
#include "common/token_file.h"
#include "ebpf/userspace_router.h"
#ifdef TRIBUTARY_HAVE_BPF
#include "ebpf/sk_msg_router.h"
#endif
#include "gateway/bulk_server.h"
#include "gateway/client_service.h"
#include "gateway/control_plane.h"
#include "gateway/keda_scaler.h"
#include "gateway/operator_service.h"
#include "gateway/peer_link.h"
#include "gateway/peer_service.h"
#include "runtime/node_runtime.h"
#include "shm/dpdk_memory.h"
#include "shm/huge_tmpfs.h"
#include "shm/segment.h"

namespace tributary::gateway {
namespace {

// Lets the control plane see the runtime's instances; the runtime is set once started.
class RuntimeDirectory final : public InstanceDirectory {
 public:
  std::vector<ebpf::InstanceId> LiveInstances() const override {
    runtime::NodeRuntime* r = runtime_.load();
    return r ? r->LiveInstances() : std::vector<ebpf::InstanceId>{};
  }
  void Broadcast(const shm::Descriptor& d) override {
    if (runtime::NodeRuntime* r = runtime_.load()) r->Broadcast(d);
  }
  void ScaleTo(uint32_t n) override {
    if (runtime::NodeRuntime* r = runtime_.load()) r->ScaleTo(n);
  }
  void Set(runtime::NodeRuntime* r) { runtime_ = r; }

 private:
  std::atomic<runtime::NodeRuntime*> runtime_{nullptr};
};

constexpr char kBpfPinRoot[] = "/sys/fs/bpf/tributary";

// Removes what earlier nodes on this machine left when they died without cleaning up: shared
// memory named tributary-p<PID>-... and BPF pins under kBpfPinRoot/p<PID>, whose PID no longer
// runs.
void RemoveStaleRunFiles() {
  auto gone = [](const char* digits) {
    const pid_t pid = static_cast<pid_t>(std::strtol(digits, nullptr, 10));
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
  };
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(shm::PosixSegmentDir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("tributary-p", 0) == 0 && gone(name.c_str() + 11)) {
      spdlog::info("removing stale shared memory {} of a node that is gone", name);
      std::filesystem::remove(entry.path(), ec);
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(kBpfPinRoot, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("p", 0) == 0 && gone(name.c_str() + 1)) {
      spdlog::info("removing stale BPF pins {} of a node that is gone", entry.path().string());
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
}

Result<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(std::string(flag) + ": cannot read " + path);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return Status::InvalidArgument(std::string(flag) + ": " + path + " holds no PEM block");
  }
  return pem;
}

// The credentials of the gRPC port: plaintext without a certificate, TLS with one, mutual TLS
// with a client CA as well.
Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const NodeOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate and its key (--tls-cert and "
                                   "--tls-key)");
  }
  if (o.tls_cert_file.empty()) {
    if (!o.tls_client_ca_file.empty()) {
      return Status::InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  TRIBUTARY_ASSIGN_OR_RETURN(pair.cert_chain, ReadPem(o.tls_cert_file, "--tls-cert"));
  TRIBUTARY_ASSIGN_OR_RETURN(pair.private_key, ReadPem(o.tls_key_file, "--tls-key"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!o.tls_client_ca_file.empty()) {
    TRIBUTARY_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                               ReadPem(o.tls_client_ca_file, "--tls-client-ca"));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// How a member of a group dials the others: plaintext when this node serves plaintext, TLS
// verified by --peer-tls-ca when it serves TLS, and with its --peer-cert when it requires client
// certificates (its peers, serving alike, require one too).
Status PeerTls(const NodeOptions& o, PeerLinkOptions* link) {
  const bool tls = !o.tls_cert_file.empty(), mutual = !o.tls_client_ca_file.empty();
  if (!tls) {
    if (!o.peer_tls_ca_file.empty() || !o.peer_cert_file.empty() || !o.peer_key_file.empty()) {
      return Status::InvalidArgument(
          "--peer-tls-ca, --peer-cert and --peer-key apply to a group under TLS (--tls-cert)");
    }
    return Status::Ok();
  }
  if (o.peer_tls_ca_file.empty()) {
    return Status::InvalidArgument(
        "--peers under TLS: say with --peer-tls-ca FILE which CA signs the other nodes' server "
        "certificates");
  }
  TRIBUTARY_ASSIGN_OR_RETURN(link->tls_root_certs, ReadPem(o.peer_tls_ca_file, "--peer-tls-ca"));
  if (o.peer_cert_file.empty() != o.peer_key_file.empty()) {
    return Status::InvalidArgument("--peer-cert and --peer-key go together");
  }
  if (mutual && o.peer_cert_file.empty()) {
    return Status::InvalidArgument(
        "--peers under mutual TLS: give this node's client certificate for its peers "
        "(--peer-cert, --peer-key), whose CN they admit as an operator (--operator-id)");
  }
  if (!o.peer_cert_file.empty()) {
    TRIBUTARY_ASSIGN_OR_RETURN(link->tls_cert_chain, ReadPem(o.peer_cert_file, "--peer-cert"));
    TRIBUTARY_ASSIGN_OR_RETURN(link->tls_private_key, ReadPem(o.peer_key_file, "--peer-key"));
  }
  return Status::Ok();
}

std::size_t HalfOfMemory() {
  return static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE) / 2;
}

}  // namespace

class Node::Impl {
 public:
  ~Impl() {
    // gRPC waits out the deadline whenever a client still holds a connection open, even an
    // idle one; half a second lets in-flight pushes finish without stalling every shutdown.
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    if (metrics_) metrics_->stop();
    if (metrics_thread_.joinable()) metrics_thread_.join();
    bulk_.reset();  // aborts the bulk pushes still streaming, ends the bulk pulls
    directory_.Set(nullptr);
    if (peers_) peers_->Stop();  // its callbacks call the control plane
    runtime_.reset();
    control_.reset();
    dpdk_.reset();  // after every pool is gone
  }

  Status Init(const NodeOptions& o) {
    TRIBUTARY_ASSIGN_OR_RETURN(auto credentials, ServerCredentials(o));
    std::string operator_token;
    if (!o.operator_token_file.empty()) {
      TRIBUTARY_ASSIGN_OR_RETURN(operator_token,
                                 ReadTokenFile(o.operator_token_file, "--operator-token-file"));
    }
    TRIBUTARY_ASSIGN_OR_RETURN(auto client_credentials,
                               ClientCredentials::LoadOrCreate(o.token_key_file));
    const std::string node = o.node_id.empty() ? "p" + std::to_string(getpid()) : o.node_id;
    TRIBUTARY_ASSIGN_OR_RETURN(router_,
                               MakeRouter(o.router, std::string(kBpfPinRoot) + "/" + node));
    const std::string prefix = "tributary-" + node + "-job-";
    std::vector<std::string> worker_argv = o.worker_argv;
    std::size_t shm_budget = o.shm_budget_bytes ? o.shm_budget_bytes : HalfOfMemory();
    TRIBUTARY_RETURN_IF_ERROR(AttachDpdk(o, "tributary-" + node, worker_argv));
    if (!dpdk_) TRIBUTARY_RETURN_IF_ERROR(ChooseShmDir(o, worker_argv));
    if (dpdk_) shm_budget = std::min(shm_budget, o.dpdk_memory_bytes);
    const uint32_t aggregators =
        o.aggregators ? o.aggregators : std::max(1u, std::thread::hardware_concurrency());
    if (!o.peers.empty()) {
      const std::string self = o.advertise.empty() ? o.listen : o.advertise;
      if (self.rfind("0.0.0.0:", 0) == 0 || self.ends_with(":0")) {
        return Status::InvalidArgument("--peers: say with --advertise HOST:PORT how the other "
                                       "nodes reach this one (" + self + " is no address)");
      }
      if (std::find(o.peers.begin(), o.peers.end(), self) != o.peers.end()) {
        return Status::InvalidArgument("--peers lists this node's own address " + self);
      }
      PeerLinkOptions link{.self = self, .peers = o.peers, .operator_token = operator_token};
      TRIBUTARY_RETURN_IF_ERROR(PeerTls(o, &link));
      peers_ = std::make_unique<PeerLink>(std::move(link));
      spdlog::info("node {}: member {} of a group of {}", node, self, o.peers.size() + 1);
    }
    control_ = std::make_unique<ControlPlane>(
        ControlPlaneOptions{
            .pool_prefix = prefix,
            .shm_budget_bytes = shm_budget,
            .retained_versions = std::max<uint32_t>(1, o.retained_versions),
            .max_streaming_pushes = o.max_streaming_pushes,
            .max_streaming_pulls = o.max_streaming_pulls,
            .push_rate_per_client = o.push_rate_per_client,
            .push_burst = o.push_burst,
            .credentials = std::make_shared<const ClientCredentials>(std::move(client_credentials)),
            .checkpoint_dir = o.checkpoint_dir,
            .model_write_interval =
                std::chrono::milliseconds(static_cast<int64_t>(o.model_write_interval_s * 1000)),
            .scale_to_zero_after =
                std::chrono::milliseconds(static_cast<int64_t>(o.scale_to_zero_after_s * 1000)),
            .warm_instances = o.autoscale ? 1 : aggregators,
            .max_instances = o.autoscale ? aggregators : 0,
            .instance_service_rate = o.instance_service_rate,
            .peers = peers_.get(),
            .peer_timeout =
                std::chrono::milliseconds(static_cast<int64_t>(o.peer_timeout_s * 1000))},
        router_.get(), &directory_);
    for (const auto& path : o.rule_plugins) {
      // The gateway learns the plug-in's name; only the aggregators run its rule.
      const std::string abs = std::filesystem::absolute(path).string();
      TRIBUTARY_ASSIGN_OR_RETURN(auto plugin, aggregator::LoadRulePlugin(abs));
      spdlog::info("rule plug-in plugin:{} from {}", plugin.name, abs);
      worker_argv.insert(worker_argv.end(), {"--rule-plugin", abs});
    }
    for (const auto& dir : o.python_paths) {
      worker_argv.insert(worker_argv.end(),
                         {"--python-path", std::filesystem::absolute(dir).string()});
    }
    ControlPlane* cp = control_.get();
    auto runtime = runtime::NodeRuntime::Start(
        {.worker_argv = worker_argv,
         .instances = o.autoscale ? 1 : aggregators,
         .pool_prefix = prefix},
        router_.get(),
        {.on_reply = [cp](const shm::Descriptor& d) { cp->OnAggregatorReply(d); },
         .on_instance_lost = [cp](ebpf::InstanceId i, pid_t p,
                                  const std::string& cause) { cp->OnInstanceLost(i, p, cause); },
         .on_instance_ready = [cp](ebpf::InstanceId i) { cp->OnInstanceReady(i); }});
    if (!runtime) return runtime.error().WithContext("starting aggregator processes");
    runtime_ = std::move(runtime).value();
    directory_.Set(runtime_.get());
    // Resume checkpointed jobs first: their pools, left by a process that died, are taken
    // back before the run files of dead nodes are removed.
    TRIBUTARY_RETURN_IF_ERROR(control_->Recover());
    RemoveStaleRunFiles();
    if (o.autoscale) {
      spdlog::info("node {}: 1 aggregator process warm, autoscaled up to {}", node, aggregators);
    } else {
      spdlog::info("node {}: {} aggregator processes warm", node, aggregators);
    }

    const AccessPolicy policy{.mutual_tls = !o.tls_client_ca_file.empty(),
                              .operators = o.operator_ids,
                              .operator_token = operator_token};
    TRIBUTARY_RETURN_IF_ERROR(StartBulkPort(o, policy));
    client_service_ = std::make_unique<ClientServiceImpl>(
        control_.get(), policy, bulk_ ? static_cast<uint32_t>(bulk_->port()) : 0);
    operator_service_ = std::make_unique<OperatorServiceImpl>(control_.get(), policy);
    keda_scaler_ = std::make_unique<KedaScaler>(control_.get());
    peer_service_ = std::make_unique<PeerServiceImpl>(control_.get(), policy);
    // grpc.health.v1.Health answers SERVING from here until shutdown begins (probes, load
    // balancers, Knative's readiness checks).
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(o.listen, credentials, &port_);
    builder.RegisterService(client_service_.get());
    builder.RegisterService(operator_service_.get());
    builder.RegisterService(keda_scaler_.get());
    if (peers_) builder.RegisterService(peer_service_.get());
    builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxChunkBytes + (64 << 10)));
    builder.SetMaxSendMessageSize(static_cast<int>(kMaxChunkBytes + (64 << 10)));
    // Read the socket in 256 KiB pieces rather than gRPC's adaptive default (which settles
    // near 64 KiB): fewer syscalls and slices per chunk; measured +8 % ingest in bench/.
    builder.AddChannelArgument(GRPC_ARG_TCP_READ_CHUNK_SIZE, 256 << 10);
    builder.AddChannelArgument(GRPC_ARG_TCP_MIN_READ_CHUNK_SIZE, 256 << 10);
    // A fixed 8 MiB receive window per stream, where the BDP estimator would grow it until a
    // pushing client could park a whole update in gRPC's buffers beside the slot it is copied
    // into. 8 MiB holds two of the largest chunks, so a push never waits on the window.
    // Measured (bench/RESULTS.md, issue 2): rounds of 10 and 50 clients x 44.8 MB peak at
    // 1.05x and 1.03x pool + model instead of 1.87x and 1.52x and take less server CPU, a
    // push takes 90-170 page faults instead of 800-1,800; one stream alone runs 4-17 %
    // slower without BDP probing.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      return Status::Unavailable("cannot listen on " + o.listen +
                                 (o.tls_cert_file.empty()
                                      ? std::string()
                                      : " (or the TLS certificate and key do not match)"));
    }
    spdlog::info("gateway listening on port {} ({})", port_,
                 o.tls_cert_file.empty()          ? "plaintext"
                 : o.tls_client_ca_file.empty()   ? "TLS"
                                                  : "mutual TLS, client certificate CN = id");
    if (!o.metrics_listen.empty()) TRIBUTARY_RETURN_IF_ERROR(StartMetrics(o.metrics_listen));
    return Status::Ok();
  }

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  int bulk_port() const { return bulk_ ? bulk_->port() : 0; }

  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_; });
  }

  void Drain(std::chrono::milliseconds timeout) {
    if (server_ && server_->GetHealthCheckService()) {
      server_->GetHealthCheckService()->SetServingStatus(false);
    }
    control_->Drain();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!control_->Drained()) {
      spdlog::info("draining: waiting up to {} s for the rounds in progress",
                   std::chrono::duration<double>(timeout).count());
    }
    while (!control_->Drained()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        if (control_->KeepsUnfinishedRounds()) {
          spdlog::warn("draining: timed out; unfinished rounds keep their accepted updates for "
                       "the next start on this data directory");
        } else {
          spdlog::warn("draining: timed out; the updates of unfinished rounds are dropped "
                       "(serve --data-dir keeps them for a restart)");
        }
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    spdlog::info("drained: no round in progress");
  }

  void Shutdown() {
    if (server_ && server_->GetHealthCheckService()) {
      server_->GetHealthCheckService()->SetServingStatus(false);
    }
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }

 private:
  // "bpf": the sk_msg router or an error; "auto": the sk_msg router when it can be loaded,
  // the userspace router otherwise; "userspace": the userspace router.
  static Result<std::unique_ptr<ebpf::Router>> MakeRouter(const std::string& kind,
                                                          const std::string& pin_dir) {
    if (kind != "auto" && kind != "userspace" && kind != "bpf") {
      return Status::InvalidArgument("unknown router '" + kind + "' (auto|userspace|bpf)");
    }
    if (kind != "userspace") {
#ifdef TRIBUTARY_HAVE_BPF
      auto bpf = ebpf::CreateBpfRouter({.pin_dir = pin_dir});
      if (bpf) {
        spdlog::info("router: bpf (sk_msg redirect in the kernel, 64-byte descriptors; maps "
                     "pinned in {})", pin_dir);
        return std::move(*bpf);
      }
      if (kind == "bpf") return bpf.error().WithContext("--router bpf");
      spdlog::warn("router: the BPF router cannot be loaded ({}); using the userspace router",
                   bpf.error().ToString());
#else
      if (kind == "bpf") {
        return Status::Unimplemented("this build has no BPF router (clang, bpftool or libbpf "
                                     "were missing); use --router userspace or auto");
      }
      spdlog::warn("router: this build has no BPF router; using the userspace router");
#endif
    }
    spdlog::info("router: userspace (loopback TCP, 64-byte descriptors)");
    return ebpf::CreateUserspaceRouter();
  }

  // The bulk listener where `o` asks for one (see NodeOptions::bulk_listen).
  Status StartBulkPort(const NodeOptions& o, const AccessPolicy& policy) {
    if (o.bulk_listen == "off") return Status::Ok();
    const bool tls = !o.tls_cert_file.empty();
    if (tls) {
      if (o.bulk_listen.empty()) return Status::Ok();
      return Status::InvalidArgument(
          "--bulk-listen: bulk pushes are not encrypted, so a node serving TLS offers none");
    }
    const std::string& address = o.bulk_listen.empty() ? o.listen : o.bulk_listen;
    const std::size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("bulk address " + address + " needs a port");
    }
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    const int port = o.bulk_listen.empty() ? 0 : std::atoi(address.c_str() + colon + 1);
    auto bulk = BulkServer::Start(control_.get(), {.host = host, .port = port, .policy = policy});
    if (!bulk) return bulk.error().WithContext("--bulk-listen");
    bulk_ = std::move(bulk).value();
    spdlog::info("bulk port on {}:{}", host, bulk_->port());
    return Status::Ok();
  }

  Status StartMetrics(const std::string& listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument("metrics address needs a port");
    const std::string host = listen.substr(0, colon);
    const int port = std::atoi(listen.c_str() + colon + 1);
    metrics_ = std::make_unique<httplib::Server>();
    metrics_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::ostringstream o;
      o << control_->MetricsText();
      o << "# HELP tributary_router_info Router implementation in use.\n"
           "# TYPE tributary_router_info gauge\n"
        << "tributary_router_info{kind=\"" << router_->Kind() << "\"} 1\n";
      WriteMetric(o, "tributary_router_undelivered_total", "counter",
                  "Descriptors that reached no instance.", router_->Undelivered());
      o << "# HELP tributary_router_messages_total Descriptors delivered per instance.\n"
           "# TYPE tributary_router_messages_total counter\n";
      for (const auto& c : router_->Counters()) {
        o << "tributary_router_messages_total{instance=\"" << c.instance << "\"} " << c.messages
          << '\n';
      }
      WriteMetric(o, "tributary_aggregator_processes_started_total", "counter",
                  "Aggregator processes started.", runtime_->processes_started());
      if (bulk_) {
        const BulkServer::Stats bulk = bulk_->stats();
        WriteMetric(o, "tributary_bulk_connections", "gauge", "Bulk connections open.",
                    bulk.connections_open);
        WriteMetric(o, "tributary_bulk_connections_total", "counter", "Bulk connections accepted.",
                    bulk.connections_accepted);
        WriteMetric(o, "tributary_bulk_pushes_total", "counter",
                    "Updates accepted over bulk connections.", bulk.pushes_committed);
        WriteMetric(o, "tributary_bulk_pulls_total", "counter",
                    "Models sent whole over bulk connections.", bulk.pulls_served);
      }
      res.set_content(o.str(), "text/plain; version=0.0.4");
    });
    metrics_port_ = port == 0 ? metrics_->bind_to_any_port(host.c_str())
                              : (metrics_->bind_to_port(host.c_str(), port) ? port : -1);
    if (metrics_port_ <= 0) return Status::Unavailable("cannot serve /metrics on " + listen);
    metrics_thread_ = std::thread([this] { metrics_->listen_after_bind(); });
    spdlog::info("metrics at http://{}:{}/metrics", host, metrics_port_);
    return Status::Ok();
  }

  // --shm-backend dpdk|auto: attaches this process as the node's EAL primary, and has the
  // aggregator processes attach as secondaries. auto falls back to posix, saying why.
  Status AttachDpdk(const NodeOptions& o, const std::string& file_prefix,
                    std::vector<std::string>& worker_argv) {
    if (o.shm_backend == "posix") return Status::Ok();
    // The pools get dpdk_memory_bytes; the rest covers each memzone's 2 MiB alignment.
    auto memory = shm::DpdkMemory::Attach({.file_prefix = file_prefix,
                                           .primary = true,
                                           .memory_bytes = o.dpdk_memory_bytes + (64u << 20),
                                           .huge_dir = {}});
    if (!memory) {
      if (o.shm_backend == "dpdk") return memory.error().WithContext("--shm-backend dpdk");
      spdlog::warn(
          "shared memory: the DPDK backend is unavailable ({}); using POSIX shared "
          "memory",
          memory.error().message());
      return Status::Ok();
    }
    dpdk_ = std::move(memory).value();
    worker_argv.insert(worker_argv.end(), {"--dpdk-prefix", dpdk_->file_prefix(),
                                           "--dpdk-huge-dir", dpdk_->huge_dir()});
    return Status::Ok();
  }

  // --shm-dir: the directory of this node's POSIX pools, for this process and its aggregators.
  // auto: the tmpfs with 2 MiB pages where it can be had, else /dev/shm, saying why.
  Status ChooseShmDir(const NodeOptions& o, std::vector<std::string>& worker_argv) {
    std::string dir = o.shm_dir;
    if (dir == "auto") {
      auto huge = shm::PrepareHugeTmpfs();
      dir = huge ? *huge : "/dev/shm";
      if (!huge) {
        spdlog::info(
            "shared memory: pools in /dev/shm, in 4 KiB pages: no tmpfs with huge pages "
            "({})",
            huge.error().message());
      }
    } else {
      std::error_code ec;
      if (!std::filesystem::is_directory(dir, ec)) {
        return Status::InvalidArgument("--shm-dir " + dir + " is not a directory");
      }
      dir = std::filesystem::absolute(dir, ec).string();  // the aggregators' as well
    }
    if (shm::IsHugeTmpfs(dir)) spdlog::info("shared memory: pools in {}, in 2 MiB pages", dir);
    shm::SetPosixSegmentDir(dir);
    worker_argv.insert(worker_argv.end(), {"--shm-dir", dir});
    return Status::Ok();
  }

  std::unique_ptr<shm::DpdkMemory> dpdk_;
  std::unique_ptr<ebpf::Router> router_;
  RuntimeDirectory directory_;
  std::unique_ptr<ControlPlane> control_;
  std::unique_ptr<runtime::NodeRuntime> runtime_;
  std::unique_ptr<BulkServer> bulk_;
  std::unique_ptr<ClientServiceImpl> client_service_;
  std::unique_ptr<KedaScaler> keda_scaler_;
  std::unique_ptr<OperatorServiceImpl> operator_service_;
  std::unique_ptr<PeerLink> peers_;
  std::unique_ptr<PeerServiceImpl> peer_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<httplib::Server> metrics_;
  std::thread metrics_thread_;
  int port_ = 0;
  int metrics_port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

Result<std::unique_ptr<Node>> Node::Start(const NodeOptions& options) {
  auto impl = std::make_unique<Impl>();
  TRIBUTARY_RETURN_IF_ERROR(impl->Init(options));
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() = default;
int Node::port() const { return impl_->port(); }
int Node::metrics_port() const { return impl_->metrics_port(); }
int Node::bulk_port() const { return impl_->bulk_port(); }
void Node::Wait() { impl_->Wait(); }
void Node::Drain(std::chrono::milliseconds timeout) { impl_->Drain(timeout); }
void Node::Shutdown() { impl_->Shutdown(); }

}  // namespace tributary::gateway
