// `tributary sim`: N simulated clients (threads) that push deterministic updates, pull each
// published model and verify it against the model the job's rule must publish for the updates
// the round accepted (RoundReference: FedAvg recomputed in double precision, the other rules
// rerun on the CPU). Exits non-zero when any round is wrong or a client fails.

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/command.h"
#include "cli/heap_tuning.h"
#include "cli/sim_reference.h"
#include "clients/cpp/client.h"
#include "clients/cpp/synthetic_update.h"
#include "common/token_file.h"

namespace tributary::cli {
namespace {

struct SimOptions {
  std::vector<std::string> servers{"127.0.0.1:7070"};  // client i talks to servers[i % size]
  uint64_t job = 0;
  uint32_t clients = 8;
  uint32_t rounds = 0;  // 0: the rest of the job
  uint64_t seed = 1;
  double tolerance = 1e-5;
  client::ClientOptions tls;  // only its tls_* fields are used
  std::string enrolment_token_file;
};

// Options of simulated client `i`, with the TLS files and enrolment token of `o`.
client::ClientOptions ClientOf(const SimOptions& o, uint32_t i) {
  client::ClientOptions c = o.tls;
  c.target = o.servers[i % o.servers.size()];
  c.client_id = "sim-" + std::to_string(o.seed) + "-" + std::to_string(i);
  return c;
}

using Clock = std::chrono::steady_clock;

int RunSim(const SimOptions& o) {
  client::Client probe(ClientOf(o, 0));
  auto joined = probe.Join(o.job);
  if (!joined) {
    std::cerr << "sim: join: " << joined.error() << "\n";
    return 1;
  }
  const v1::JobInfo& job = joined->job();
  const std::size_t params = job.spec().params();
  const uint32_t first = job.open_round();
  if (first == 0) {
    std::cerr << "sim: job " << o.job << " has no open round (" << v1::JobState_Name(job.state())
              << ")\n";
    return 1;
  }
  const uint32_t last =
      o.rounds ? std::min(job.spec().rounds(), first + o.rounds - 1) : job.spec().rounds();
  auto reference = RoundReference::ForJob(job.spec(), o.seed, first);
  if (!reference) {
    std::cerr << "sim: job " << o.job << ": " << reference.error() << "\n";
    return 1;
  }
  const bool verify = (*reference)->unverified_reason().empty();
  const bool delta = job.spec().update_kind() == v1::UPDATE_KIND_DELTA;
  std::printf("sim: job %llu, %zu params (%.1f MB), %u clients, rounds %u..%u, rule %s\n",
              (unsigned long long)o.job, params, params * 4 / 1e6, o.clients, first, last,
              job.spec().rule().empty() ? "fedavg" : job.spec().rule().c_str());
  if (!verify)
    std::printf("sim: models are pulled, not verified: %s\n",
                (*reference)->unverified_reason().c_str());
  std::fflush(stdout);

  std::atomic<bool> failed{false};
  std::vector<char> accepted(o.clients, 0);
  std::vector<std::string> node_of(o.clients);  // where each client's calls go once joined
  std::mutex mu;
  Clock::time_point round_start, pushes_done;
  std::barrier sync(o.clients, [&]() noexcept { pushes_done = Clock::now(); });
  std::barrier start(o.clients, [&]() noexcept { round_start = Clock::now(); });

  auto worker = [&](uint32_t i) {
    client::Client c(ClientOf(o, i));
    auto fail = [&](const std::string& what, const Status& s) {
      std::lock_guard lock(mu);
      std::cerr << "sim: client " << i << ": " << what << ": " << s << "\n";
      failed = true;
    };
    if (auto j = c.Join(o.job); !j) fail("join", j.error());
    node_of[i] = c.TargetOf(o.job);
    std::vector<float> update(params), model, previous;
    bool verifier = false;  // the first client of its node verifies the models pulled there
    for (uint32_t r = first; r <= last; ++r) {
      client::SyntheticUpdate(o.seed, i, r, update);
      start.arrive_and_wait();
      if (r == first) {
        verifier = std::find(node_of.begin(), node_of.end(), node_of[i]) == node_of.begin() + i;
        if (verifier && delta && !failed) {  // a delta round publishes on top of the model before
          if (auto v = c.PullInto(o.job, first - 1, /*wait=*/false, &previous); !v) {
            fail("pull version " + std::to_string(first - 1), v.error());
          }
        }
      }
      accepted[i] = 0;
      if (!failed) {
        auto pushed = c.Push(o.job, r, update, client::SyntheticExamples(o.seed, i, r));
        if (pushed) {
          accepted[i] = 1;
        } else if (pushed.error().code() != StatusCode::kFailedPrecondition) {
          fail("push round " + std::to_string(r), pushed.error());
        }
      }
      sync.arrive_and_wait();
      if (failed) continue;
      auto version = c.PullInto(o.job, r, /*wait=*/true, &model);
      if (!version) {
        fail("pull version " + std::to_string(r), version.error());
        continue;
      }
      if (!verifier) continue;
      const double round_s = std::chrono::duration<double>(Clock::now() - round_start).count();
      const double push_s = std::chrono::duration<double>(pushes_done - round_start).count();
      std::vector<uint64_t> ids;
      for (uint32_t k = 0; k < o.clients; ++k) {
        if (accepted[k]) ids.push_back(k);
      }
      double err = 0;
      if (verify) {
        auto ref = (*reference)->Expected(r, ids, previous);
        if (!ref) {
          fail("reference of round " + std::to_string(r), ref.error());
          continue;
        }
        err = client::MaxRelativeError(model, *ref);
        previous.swap(model);
      }
      const double mb = ids.size() * params * 4 / 1e6;
      std::lock_guard lock(mu);
      const std::string at = o.servers.size() > 1 || node_of[i] != o.servers[0]
                                 ? " (pulled from " + node_of[i] + ")"
                                 : "";
      char verdict[64] = "not verified";
      if (verify) {
        std::snprintf(verdict, sizeof(verdict), "max relative error %.2e %s", err,
                      err <= o.tolerance ? "OK" : "WRONG");
      }
      std::printf(
          "round %u%s: %zu updates accepted, %.1f MB pushed in %.3f s (%.0f MB/s), "
          "published in %.3f s, %s\n",
          r, at.c_str(), ids.size(), mb, push_s, mb / push_s, round_s, verdict);
      std::fflush(stdout);
      if (!(err <= o.tolerance) || ids.empty()) failed = true;
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < o.clients; ++i) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  if (failed) {
    std::printf("sim: FAILED\n");
    return 1;
  }
  std::printf("sim: %u rounds %s\n", last - first + 1, verify ? "verified" : "run");
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("sim", "Simulated clients that verify every round");
  auto o = std::make_shared<SimOptions>();
  cmd->add_option("--server", o->servers,
                  "Gateway HOST:PORT; several (comma-separated): the nodes of a group, client i "
                  "joining through the (i mod n)-th; the first client on each node verifies the "
                  "model there")
      ->delimiter(',')
      ->capture_default_str();
  AddTlsFlags(cmd, &o->tls);
  cmd->add_option("--enrolment-token-file", o->enrolment_token_file,
                  "File holding the job's enrolment token (restricted jobs)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--job", o->job, "Job id")->required();
  cmd->add_option("--clients", o->clients, "Simulated clients")->required()->check(CLI::Range(1u, 100000u));
  cmd->add_option("--rounds", o->rounds, "Rounds to run (default: the rest of the job)");
  cmd->add_option("--seed", o->seed, "Seed of the synthetic updates")->capture_default_str();
  cmd->add_option("--tolerance", o->tolerance, "Largest accepted relative error")
      ->capture_default_str();
  cmd->callback([o] {
    KeepHeapWarm();
    if (!o->enrolment_token_file.empty()) {
      auto token = ReadTokenFile(o->enrolment_token_file, "--enrolment-token-file");
      if (!token) {
        std::cerr << "sim: " << token.error() << "\n";
        throw CLI::RuntimeError(1);
      }
      o->tls.enrolment_token = *token;
    }
    if (int rc = RunSim(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tributary::cli
