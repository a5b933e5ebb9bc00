// `tributary job create|get|list|cancel|watch`: the operator's view of jobs.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>
#include <optional>

#include "cli/certificates.h"
#include "cli/command.h"
#include "cli/npy_file.h"
#include "clients/cpp/client.h"
#include "common/token_file.h"
#include "tributary/v1/operator.grpc.pb.h"

namespace tributary::cli {
namespace {

[[noreturn]] void Fail(const Status& s) {
  std::cerr << "tributary job: " << s << '\n';
  throw CLI::RuntimeError(1);
}

// How `tributary job` reaches a gateway: its address, TLS files and operator token file.
struct OperatorFlags {
  std::string server = "127.0.0.1:7070";
  client::ClientOptions tls;  // only its tls_* fields are used
  std::string operator_token_file;

  void AddTo(CLI::App* cmd) {
    cmd->add_option("--server", server, "Gateway HOST:PORT")->capture_default_str();
    AddTlsFlags(cmd, &tls);
    cmd->add_option("--operator-token-file", operator_token_file,
                    "File holding the node's operator token (serve --operator-token-file)")
        ->check(CLI::ExistingFile);
  }

  // Client options for `server` with TLS and, as access token, the operator token.
  client::ClientOptions Options() const {
    client::ClientOptions o = tls;
    o.target = server;
    if (!operator_token_file.empty()) {
      auto token = ReadTokenFile(operator_token_file, "--operator-token-file");
      if (!token) Fail(token.error());
      o.access_token = *token;
    }
    return o;
  }
};

// An operator stub and the token its calls carry.
struct OperatorConnection {
  std::unique_ptr<v1::OperatorService::Stub> stub;
  std::string token;

  explicit OperatorConnection(const OperatorFlags& flags) {
    const client::ClientOptions o = flags.Options();
    auto channel = client::CreateChannel(o);
    if (!channel) Fail(channel.error());
    stub = v1::OperatorService::NewStub(*channel);
    token = o.access_token;
  }
  // Prepares `ctx` for an operator call.
  void Authorize(grpc::ClientContext* ctx) const {
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  }
};

// The client ids in `path`, one per line (blank lines and lines starting with # skipped).
std::vector<std::string> ReadClientIds(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail(Status::NotFound("--allowed-clients-file: cannot read " + path));
  std::vector<std::string> ids;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    ids.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
  }
  return ids;
}

void Check(const grpc::Status& s, const char* what) {
  if (s.ok()) return;
  std::cerr << "tributary job " << what << ": " << s.error_message() << " (code "
            << s.error_code() << ")\n";
  throw CLI::RuntimeError(1);
}

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out;
}

}  // namespace

void AddJobCommand(CLI::App& app) {
  auto* job = app.add_subcommand("job", "Create, inspect, cancel and watch jobs");
  job->require_subcommand(1);
  auto flags = std::make_shared<OperatorFlags>();
  auto id = std::make_shared<uint64_t>(0);

  auto* create = job->add_subcommand("create", "Create a job; prints its id on the last line");
  auto spec = std::make_shared<v1::JobSpec>();
  auto name = std::make_shared<std::string>();
  auto params = std::make_shared<uint64_t>(0);
  auto rounds = std::make_shared<uint32_t>(1);
  auto cpr = std::make_shared<uint32_t>(1);
  auto min_clients = std::make_shared<uint32_t>(0);
  auto deadline = std::make_shared<double>(0);
  auto rule = std::make_shared<std::string>();
  auto shards = std::make_shared<uint32_t>(0);
  auto fan_in = std::make_shared<uint32_t>(0);
  auto coding = std::make_shared<std::string>();
  auto rule_f = std::make_shared<std::optional<int>>();
  auto rule_m = std::make_shared<std::optional<int>>();
  auto rule_lambda = std::make_shared<std::optional<double>>();
  auto rule_iters = std::make_shared<std::optional<int>>();
  auto rule_extra = std::make_shared<std::vector<std::string>>();
  auto update_kind = std::make_shared<std::string>("model");
  auto server_lr = std::make_shared<double>(0);
  auto initial_model = std::make_shared<std::string>();
  auto stragglers = std::make_shared<uint32_t>(0);
  auto coding_seed = std::make_shared<uint64_t>(1);
  auto burst = std::make_shared<uint32_t>(0);
  auto window = std::make_shared<uint32_t>(0);
  auto window_stragglers = std::make_shared<uint32_t>(0);
  auto allowed_clients = std::make_shared<std::vector<std::string>>();
  auto allowed_clients_file = std::make_shared<std::string>();
  auto enrolment_token_file = std::make_shared<std::string>();
  flags->AddTo(create);
  create->add_option("--name", *name, "Job name")->required();
  create->add_option("--params", *params, "Parameters in the flattened model")->required();
  create->add_option("--rounds", *rounds, "Rounds to run")->required();
  create->add_option("--clients-per-round", *cpr, "Updates that close a round")->required();
  create->add_option("--min-clients", *min_clients,
                     "After the deadline, close with at least this many (default: all)");
  create->add_option("--deadline-s", *deadline, "Round deadline in seconds (0: none)");
  create->add_option("--rule", *rule,
                     "Aggregation rule (default: fedavg): a built-in or robust rule, "
                     "plugin:NAME or python:module.func");
  create->add_option("--f", *rule_f, "Rule parameter: Byzantine clients tolerated");
  create->add_option("--m", *rule_m, "Rule parameter: multikrum selection / flag subspace");
  create->add_option("--lambda", *rule_lambda, "Rule parameter: flag regularizer");
  create->add_option("--iters", *rule_iters, "Rule parameter: iterations");
  create->add_option("--param", *rule_extra, "Any rule parameter as NAME=VALUE (repeatable)");
  create->add_option("--updates", *update_kind,
                     "What clients push: model (the round publishes the aggregate) or delta "
                     "(the round publishes previous + server-lr * aggregate)")
      ->capture_default_str()
      ->check(CLI::IsMember({"model", "delta"}));
  create->add_option("--server-lr", *server_lr, "Delta updates: server learning rate (0: 1)");
  create->add_option("--initial-model", *initial_model,
                     "Initial global model (version 0): a 1-D float32/float64 .npy file")
      ->check(CLI::ExistingFile);
  create->add_option("--shards", *shards, "Model shards aggregated in parallel (0: auto)");
  create->add_option("--fan-in", *fan_in,
                     "fedavg: aggregate in a tree, each leaf folding this many updates and each "
                     "node above this many partials (0: flat)");
  create->add_option("--coding", *coding,
                     "Gradient coding against stragglers (workers = clients per round): "
                     "frc|cyclic|auto, or sequential sr-sgc|m-sgc (workers ask for their "
                     "mini-tasks each round; --deadline-s is the grace period)")
      ->check(CLI::IsMember({"frc", "cyclic", "auto", "sr-sgc", "m-sgc"}));
  create->add_option("--stragglers", *stragglers, "frc, cyclic: workers that may be missing");
  create->add_option("--coding-seed", *coding_seed, "Cyclic codes: seed of the coefficients");
  create->add_option("--burst", *burst, "sr-sgc, m-sgc: B, longest straggling burst (rounds)");
  create->add_option("--window", *window, "sr-sgc, m-sgc: W, the sliding window (rounds)");
  create->add_option("--window-stragglers", *window_stragglers,
                     "sr-sgc, m-sgc: lambda, stragglers in any window of W rounds");
  create->add_option("--allow-client", *allowed_clients,
                     "Restrict the job to this client id (repeatable; see also "
                     "--allowed-clients-file): others are refused at Join, and every call of "
                     "the job must carry the access token its Join returned");
  create->add_option("--allowed-clients-file", *allowed_clients_file,
                     "Restrict the job to the client ids in this file, one per line")
      ->check(CLI::ExistingFile);
  create->add_option("--enrolment-token-file", *enrolment_token_file,
                     "Restrict the job to clients presenting the token in this file "
                     "(16 to 1024 characters) when they join")
      ->check(CLI::ExistingFile);
  create->callback([=] {
    v1::JobSpec s;
    s.set_name(*name);
    s.set_params(*params);
    s.set_dtype(v1::DTYPE_FLOAT32);
    s.set_rounds(*rounds);
    s.set_clients_per_round(*cpr);
    s.set_min_clients(*min_clients);
    s.set_deadline_s(*deadline);
    s.set_rule(*rule);
    if (*rule_f) (*s.mutable_rule_params())["f"] = **rule_f;
    if (*rule_m) (*s.mutable_rule_params())["m"] = **rule_m;
    if (*rule_lambda) (*s.mutable_rule_params())["lambda"] = **rule_lambda;
    if (*rule_iters) (*s.mutable_rule_params())["iters"] = **rule_iters;
    for (const auto& kv : *rule_extra) {
      const auto eq = kv.find('=');
      double value = 0;
      if (eq == std::string::npos || eq == 0 || !CLI::detail::lexical_cast(kv.substr(eq + 1), value)) {
        throw CLI::ValidationError("--param", "expected NAME=NUMBER, got '" + kv + "'");
      }
      (*s.mutable_rule_params())[kv.substr(0, eq)] = value;
    }
    s.set_update_kind(*update_kind == "delta" ? v1::UPDATE_KIND_DELTA : v1::UPDATE_KIND_MODEL);
    s.set_server_learning_rate(*server_lr);
    s.set_shards(*shards);
    s.set_fan_in(*fan_in);
    std::vector<float> initial;
    if (!initial_model->empty()) {  // read before creating, so a bad file creates nothing
      auto values = ReadNpyVector(*initial_model);
      if (!values) throw CLI::ValidationError("--initial-model", values.error().message());
      if (values->size() != *params) {
        throw CLI::ValidationError("--initial-model", "holds " + std::to_string(values->size()) +
                                                          " values; --params is " +
                                                          std::to_string(*params));
      }
      initial.assign(values->begin(), values->end());
    }
    if (!coding->empty()) {
      s.mutable_coding()->set_scheme(*coding);
      s.mutable_coding()->set_stragglers(*stragglers);
      s.mutable_coding()->set_seed(*coding_seed);
      s.mutable_coding()->set_burst(*burst);
      s.mutable_coding()->set_window(*window);
      s.mutable_coding()->set_window_stragglers(*window_stragglers);
    }
    for (const auto& c : *allowed_clients) s.mutable_access()->add_allowed_clients(c);
    if (!allowed_clients_file->empty()) {
      for (auto& c : ReadClientIds(*allowed_clients_file)) {
        s.mutable_access()->add_allowed_clients(std::move(c));
      }
    }
    if (!enrolment_token_file->empty()) {
      auto token = ReadTokenFile(*enrolment_token_file, "--enrolment-token-file");
      if (!token) Fail(token.error());
      s.mutable_access()->set_enrolment_token(*token);
    }
    const OperatorConnection connection(*flags);
    grpc::ClientContext ctx;
    connection.Authorize(&ctx);
    v1::JobInfo info;
    Check(connection.stub->CreateJob(&ctx, s, &info), "create");
    if (!initial.empty()) {
      // The operator sets the initial model (with the operator token as its access token);
      // under mutual TLS its certificate names the uploader, so its CN is the id.
      client::ClientOptions up = flags->Options();
      up.client_id = "operator";
      if (!up.tls_cert_file.empty()) up.client_id = CertificateCommonName(up.tls_cert_file);
      client::Client uploader(up);
      if (auto r = uploader.SetInitialModel(info.job_id(), initial); !r) {
        std::cerr << "setting the initial model of job " << info.job_id() << ": " << r.error()
                  << '\n';
        throw CLI::RuntimeError(1);
      }
    }
    std::cout << "created job " << info.job_id() << " '" << info.spec().name() << "': "
              << info.spec().params() << " params, " << info.spec().rounds() << " rounds, "
              << info.spec().clients_per_round() << " clients per round, rule "
              << info.spec().rule() << ", " << info.shards() << " shards\n"
              << info.job_id() << '\n';
  });

  auto add_ref_command = [&](const char* verb, const char* help) {
    auto* c = job->add_subcommand(verb, help);
    flags->AddTo(c);
    c->add_option("--job", *id, "Job id")->required();
    return c;
  };
  add_ref_command("get", "Print a job as JSON")->callback([=] {
    const OperatorConnection connection(*flags);
    grpc::ClientContext ctx;
    connection.Authorize(&ctx);
    v1::JobRef ref;
    ref.set_job_id(*id);
    v1::JobInfo info;
    Check(connection.stub->GetJob(&ctx, ref, &info), "get");
    PrintJson(info);
  });
  add_ref_command("cancel", "Cancel a running job")->callback([=] {
    const OperatorConnection connection(*flags);
    grpc::ClientContext ctx;
    connection.Authorize(&ctx);
    v1::JobRef ref;
    ref.set_job_id(*id);
    v1::JobInfo info;
    Check(connection.stub->CancelJob(&ctx, ref, &info), "cancel");
    std::cout << "job " << info.job_id() << " " << v1::JobState_Name(info.state()) << '\n';
  });
  add_ref_command("watch", "Print a job's round events until it ends")->callback([=] {
    const OperatorConnection connection(*flags);
    grpc::ClientContext ctx;
    connection.Authorize(&ctx);
    v1::JobRef ref;
    ref.set_job_id(*id);
    auto reader = connection.stub->WatchJob(&ctx, ref);
    v1::RoundEvent e;
    while (reader->Read(&e)) {
      std::cout << "job " << e.job_id() << " round " << e.round() << " "
                << v1::RoundEvent::Kind_Name(e.kind()) << " updates=" << e.updates();
      if (e.kind() == v1::RoundEvent::ROUND_PUBLISHED) {
        std::cout << " round_s=" << e.round_seconds() << " aggregate_s=" << e.aggregate_seconds();
        if (e.tree_nodes_size() > 1) {
          std::cout << " tree=";
          for (int i = 0; i < e.tree_nodes_size(); ++i) {
            std::cout << (i ? "-" : "") << e.tree_nodes(i);
          }
        }
      }
      if (!e.message().empty()) std::cout << " (" << e.message() << ")";
      std::cout << std::endl;
    }
    Check(reader->Finish(), "watch");
  });
  auto* list = job->add_subcommand("list", "List jobs");
  flags->AddTo(list);
  list->callback([=] {
    const OperatorConnection connection(*flags);
    grpc::ClientContext ctx;
    connection.Authorize(&ctx);
    v1::ListJobsReply reply;
    Check(connection.stub->ListJobs(&ctx, v1::ListJobsRequest(), &reply), "list");
    std::cout << "ID\tSTATE\tROUND\tVERSION\tNAME\n";
    for (const auto& j : reply.jobs()) {
      std::cout << j.job_id() << '\t' << v1::JobState_Name(j.state()) << '\t' << j.open_round()
                << '\t' << j.published_version() << '\t' << j.spec().name() << '\n';
    }
  });
}

}  // namespace tributary::cli
