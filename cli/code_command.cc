// `tributary code`: prints a gradient code's encoding matrix and, for a set of arrived workers,
// its decoding vector and residual.
//
//   tributary code --scheme frc|cyclic --n N --s S [--seed X] [--decode 0,2,5,...]
//
// B is printed row by row (row i = worker i, column j = partition j). With --decode the
// decoding vector a (one entry per worker, 0 for those that did not arrive) follows, then a line
// "residual: <||a^T B_F - 1^T||_2>". When the arrived set cannot recover the exact sum, the
// least-squares approximate decoding is still printed with its residual and error bound, the
// reason goes to stderr and the exit status is 1. Bad arguments (s >= n, (s+1) not dividing n
// for frc, ids out of range or repeated) exit with status 1 and a message on stderr.
#include <charconv>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "robust/coding/gradient_code.h"

namespace tributary::cli {
namespace {

namespace coding = tributary::robust::coding;

struct CodeArgs {
  std::string scheme;
  int n = 0;
  int s = 0;
  uint64_t seed = 1;
  std::optional<std::string> decode;
};

[[noreturn]] void Fail(const std::string& message) {
  std::cerr << "tributary code: " << message << "\n";
  throw CLI::RuntimeError(1);
}

// "0,2,5" -> {0, 2, 5}; range and repetition are checked by the decoder.
std::vector<int> ParseWorkerList(const std::string& text) {
  std::vector<int> ids;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    int id = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size()) {
      Fail("--decode expects comma-separated worker ids, got '" + item + "' in '" + text + "'");
    }
    ids.push_back(id);
  }
  if (ids.empty()) Fail("--decode needs at least one worker id");
  return ids;
}

void PrintRow(const Eigen::RowVectorXd& row) {
  for (Eigen::Index j = 0; j < row.size(); ++j) {
    std::cout << (j ? " " : "") << std::setw(13) << row(j);
  }
  std::cout << "\n";
}

void RunCode(const CodeArgs& args) {
  Result<coding::Scheme> scheme = coding::ParseScheme(args.scheme);
  if (!scheme.has_value()) Fail(scheme.error().message());
  Result<coding::GradientCode> code = coding::GradientCode::Create(
      {.scheme = *scheme, .n = args.n, .s = args.s, .seed = args.seed});
  if (!code.has_value()) Fail(code.error().message());
  // Reject bad ids before printing anything.
  std::optional<std::vector<int>> arrived;
  if (args.decode) {
    arrived = ParseWorkerList(*args.decode);
    const Result<std::vector<bool>> mask = coding::ArrivalMask(code->n(), *arrived);
    if (!mask.has_value()) Fail(mask.error().message());
  }

  std::cout << std::setprecision(9);
  std::cout << "# " << coding::SchemeName(code->scheme()) << " code: n=" << code->n()
            << " workers, s=" << code->s() << " stragglers; worst cond(B_F) "
            << code->condition().worst << "\n";
  std::cout << "B (row i = worker i, column j = partition j):\n";
  for (int i = 0; i < code->n(); ++i) PrintRow(code->matrix().row(i));
  if (!arrived) return;

  Result<coding::Decoding> d = code->Decode(*arrived);
  if (!d.has_value()) Fail(d.error().message());
  std::cout << (d->exact ? "decoding vector a (0 for workers that did not arrive):\n"
                         : "approximate decoding vector a (least squares; 0 for workers that "
                           "did not arrive):\n");
  PrintRow(d->coefficients.transpose());
  std::cout << "residual: " << d->residual << "\n";
  if (!d->exact) {
    std::cout << "error bound: ||sum_i a_i f_i - sum_j g_j|| <= " << d->residual
              << " * sqrt(sum_j ||g_j||^2) (= " << d->ErrorBound(std::sqrt(double(code->n())))
              << " for unit partition gradients)\n";
    Fail("workers {" + *args.decode + "} cannot decode the exact sum: " +
         std::to_string(code->n() - static_cast<int>(arrived->size())) + " missing, the code (" +
         std::string(coding::SchemeName(code->scheme())) + ", s=" + std::to_string(code->s()) +
         ") needs a decodable set; printed the least-squares approximation");
  }
}

}  // namespace

void AddCodeCommand(CLI::App& app) {
  auto args = std::make_shared<CodeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "code",
      "Print a gradient code's encoding matrix B and, with --decode, the decoding vector and "
      "residual for the arrived workers (exit 1, after printing the least-squares approximation "
      "and its error bound, when they cannot decode the exact sum)");
  cmd->add_option("--scheme", args->scheme, "frc (needs (s+1) | n) or cyclic")
      ->required()
      ->check(CLI::IsMember({"frc", "cyclic"}));
  cmd->add_option("--n", args->n, "number of workers (= data partitions)")->required();
  cmd->add_option("--s", args->s, "stragglers tolerated, 0 <= s < n")->required();
  cmd->add_option("--seed", args->seed, "seed of the cyclic code's random H (default 1)");
  cmd->add_option("--decode", args->decode, "arrived workers, comma-separated: 0,2,5");
  cmd->callback([args] { RunCode(*args); });
}

}  // namespace tributary::cli
