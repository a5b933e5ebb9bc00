// `tributary aggregator-worker`: one aggregator function process, started by the node runtime.
#include "aggregator/worker.h"
#include "cli/command.h"
#include "gpu/device.h"

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
  cmd->callback([opts, device] {
    opts->device = *gpu::ParseDeviceChoice(*device);  // checked by IsMember
    if (int rc = aggregator::RunWorker(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tributary::cli
