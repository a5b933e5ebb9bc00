// `tributary aggregator-worker`: one aggregator function process, started by the node runtime.
#include <spdlog/spdlog.h>

#include "aggregator/worker.h"
#include "cli/command.h"
#include "gpu/device.h"
#include "shm/dpdk_memory.h"
#include "shm/segment.h"

namespace tributary::cli {

void AddAggregatorWorkerCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("aggregator-worker",
                                 "Internal: an aggregator process (started by `serve`)");
  cmd->group("");  // hidden from --help
  auto opts = std::make_shared<aggregator::WorkerOptions>();
  cmd->add_option("--host", opts->host, "Node runtime address");
  cmd->add_option("--port", opts->port, "Node runtime port")->required();
  cmd->add_option("--instance", opts->instance, "Instance id")->required();
  cmd->add_option("--pool-prefix", opts->pool_prefix, "Shared-memory name prefix")->required();
  cmd->add_option("--rule-plugin", opts->rule_plugins, "Rule plug-in shared object (repeatable)");
  cmd->add_option("--python-path", opts->python_paths, "Directory for python: rules (repeatable)");
  auto device = std::make_shared<std::string>("cpu");
  cmd->add_option("--device", *device, "Where fedavg and robust rules run: auto|cpu|cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  auto dpdk = std::make_shared<shm::DpdkOptions>();
  cmd->add_option("--dpdk-prefix", dpdk->file_prefix,
                  "Attach to the node's DPDK memory with this EAL file prefix");
  cmd->add_option("--dpdk-huge-dir", dpdk->huge_dir, "The node's hugetlbfs directory");
  auto shm_dir = std::make_shared<std::string>(shm::PosixSegmentDir());
  cmd->add_option("--shm-dir", *shm_dir, "The directory of the node's POSIX pools");
  cmd->callback([opts, device, dpdk, shm_dir] {
    opts->device = *gpu::ParseDeviceChoice(*device);  // checked by IsMember
    shm::SetPosixSegmentDir(*shm_dir);
    std::unique_ptr<shm::DpdkMemory> memory;          // the pools are memzones while attached
    if (!dpdk->file_prefix.empty()) {
      auto attached = shm::DpdkMemory::Attach(*dpdk);
      if (!attached) {
        spdlog::error("aggregator-worker: DPDK memory: {}", attached.error().ToString());
        throw CLI::RuntimeError(1);
      }
      memory = std::move(attached).value();
    }
    if (int rc = aggregator::RunWorker(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tributary::cli
