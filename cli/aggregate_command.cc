// `tributary aggregate`: one offline aggregation of a .npy matrix of updates, so researchers can
// reproduce what a rule did to a round (or try a rule on their own data):
//
//   tributary aggregate --rule fedavg|flag|krum|multikrum|bulyan|median|trimmed-mean|geomed|
//                              cclip|normclip|normalized-mean
//       [--f F] [--m M] [--lambda L] [--iters I] [--weights FILE] [--device auto|cpu|cuda]
//       --input UPDATES.npy --output RESULT.npy
//
// The input is n rows × d columns (float32 or float64, C order); the output is the aggregate as
// a 1-D float64 array. It runs exactly the rule the platform runs (robust::CreateRule), as one
// round (cclip therefore starts from zero). A rule accepts only the parameters it uses;
// --weights (one positive weight per row, 1-D .npy) only for fedavg, the one rule that weighs
// updates. --device picks CPU or CUDA (gpu/rule_factory.h; auto: CUDA when a device is present
// and the rule has a CUDA implementation); the log says which ran.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/npy_file.h"
#include "common/result.h"
#include "gpu/host_pinning.h"
#include "gpu/rule_factory.h"
#include "robust/rule_factory.h"

namespace tributary::cli {
namespace {

struct AggregateArgs {
  std::string rule;
  std::optional<int> f;
  std::optional<int> m;
  std::optional<double> lambda;
  std::optional<int> iters;
  std::string weights_path;
  std::string input_path;
  std::string output_path;
  std::string device = "auto";
};

Status RunAggregate(const AggregateArgs& args) {
  robust::RuleOptions options;
  options.f = args.f;
  options.m = args.m;
  options.lambda = args.lambda;
  options.iters = args.iters;
  TRIBUTARY_ASSIGN_OR_RETURN(gpu::DeviceChoice device, gpu::ParseDeviceChoice(args.device));
  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<robust::RobustRule> rule,
                             gpu::CreateRule(args.rule, options, device));
  if (!args.weights_path.empty() && args.rule != "fedavg") {
    return Status::InvalidArgument("--weights is used only by --rule fedavg (rule '" + args.rule +
                                   "' treats every update alike)");
  }
  TRIBUTARY_ASSIGN_OR_RETURN(NpyMatrix updates, ReadNpyMatrix(args.input_path));
  std::vector<double> weights(updates.rows, 1.0);
  if (!args.weights_path.empty()) {
    TRIBUTARY_ASSIGN_OR_RETURN(weights, ReadNpyVector(args.weights_path));
    if (weights.size() != updates.rows) {
      return Status::InvalidArgument(args.weights_path + ": " + std::to_string(weights.size()) +
                                     " weights for " + std::to_string(updates.rows) +
                                     " updates in " + args.input_path);
    }
  }
  // For a CUDA rule, the matrix page-locked once: each row then goes to the device by DMA as
  // it is added.
  const std::unique_ptr<gpu::HostPinning> pinned =
      gpu::HostPinning::ForRule(device, args.rule, std::as_bytes(std::span(updates.values)));
  TRIBUTARY_RETURN_IF_ERROR(rule->Begin({.round = 1, .dim = updates.cols,
                                         .expected_updates = updates.rows}));
  for (std::size_t i = 0; i < updates.rows; ++i) {
    const std::span<const float> row(updates.values.data() + i * updates.cols, updates.cols);
    TRIBUTARY_RETURN_IF_ERROR(
        rule->Add(row, weights[i]).WithContext("row " + std::to_string(i)));
  }
  std::vector<double> result(updates.cols);
  TRIBUTARY_RETURN_IF_ERROR(rule->FinishDouble(result));
  return WriteNpyVector(args.output_path, result);
}

}  // namespace

void AddAggregateCommand(CLI::App& app) {
  auto args = std::make_shared<AggregateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "aggregate", "Aggregate a .npy matrix of updates (n rows x d) offline with one rule");
  cmd->add_option("--rule", args->rule,
                  "fedavg|flag|krum|multikrum|bulyan|median|trimmed-mean|geomed|cclip|normclip|"
                  "normalized-mean")
      ->required();
  cmd->add_option("--f", args->f,
                  "declared Byzantine updates (krum, multikrum, bulyan, trimmed-mean; default 0)");
  cmd->add_option("--m", args->m,
                  "multikrum: updates averaged (default n-f); flag: subspace dimension < n "
                  "(default: smallest power of two >= n/2)");
  cmd->add_option("--lambda", args->lambda, "flag: pairwise regularizer weight (default 0)");
  cmd->add_option("--iters", args->iters,
                  "flag: IRLS iterations (default 4); geomed: Weiszfeld iterations (default 100); "
                  "cclip: clipping iterations (default 3)");
  cmd->add_option("--weights", args->weights_path,
                  "fedavg: 1-D .npy of one positive weight per update (default: all 1)");
  cmd->add_option("--input", args->input_path, "2-D .npy of updates, float32 or float64")
      ->required();
  cmd->add_option("--output", args->output_path, "where to write the 1-D float64 aggregate")
      ->required();
  cmd->add_option("--device", args->device,
                  "auto (CUDA when a device is present and the rule has a CUDA implementation), "
                  "cpu, or cuda (an error without a device)")
      ->capture_default_str();
  cmd->callback([args] {
    const Status status = RunAggregate(*args);
    if (!status.ok()) {
      std::cerr << "tributary aggregate: " << status.message() << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace tributary::cli
