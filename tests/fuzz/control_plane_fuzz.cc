// Fuzz target: what the control plane accepts from the network. The first byte picks the
// message: a JobSpec given to CreateJob (then cancelled), or a push header given to BeginPush
// (then aborted) for a job with a joined client. Every refusal must be a Status; whatever is
// accepted must leave the job's pool as it was.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "ebpf/userspace_router.h"
#include "gateway/control_plane.h"

namespace {

using tributary::gateway::ControlPlane;

// No aggregator processes: rounds open and take pushes, nothing aggregates them.
class NoInstances final : public tributary::gateway::InstanceDirectory {
 public:
  std::vector<tributary::ebpf::InstanceId> LiveInstances() const override { return {}; }
  void Broadcast(const tributary::shm::Descriptor&) override {}
  void ScaleTo(uint32_t) override {}
};

struct Fixture {
  Fixture() {
    prefix = "tributary-fuzz-" + std::to_string(getpid()) + "-job-";
    control = std::make_unique<ControlPlane>(
        tributary::gateway::ControlPlaneOptions{.pool_prefix = prefix,
                                                .shm_budget_bytes = 64ull << 20},
        router.get(), &instances);
    tributary::v1::JobSpec spec;
    spec.set_params(64);
    spec.set_rounds(3);
    spec.set_clients_per_round(4);
    job = control->CreateJob(spec).value().job_id();
    (void)control->Join(job, "c0");
  }
  std::unique_ptr<tributary::ebpf::Router> router = tributary::ebpf::CreateUserspaceRouter();
  NoInstances instances;
  std::string prefix;
  std::unique_ptr<ControlPlane> control;
  uint64_t job = 0;
};

Fixture* g_fixture = nullptr;

// One fixture for the whole run; at exit it is destroyed, which removes its shared memory.
Fixture& Shared() {
  if (g_fixture == nullptr) {
    g_fixture = new Fixture;
    std::atexit([] { delete g_fixture; });
  }
  return *g_fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  Fixture& f = Shared();
  const char* body = reinterpret_cast<const char*>(data + 1);
  const int body_size = static_cast<int>(size - 1);
  if (data[0] % 2 == 0) {
    tributary::v1::JobSpec spec;
    if (!spec.ParseFromArray(body, body_size)) return 0;
    auto created = f.control->CreateJob(spec);
    if (created) (void)f.control->CancelJob(created->job_id());
  } else {
    tributary::v1::UpdateHeader header;
    if (!header.ParseFromArray(body, body_size)) return 0;
    header.set_job_id(header.job_id() % 4);  // mostly the fixture's job (1), sometimes unknown
    const auto before = f.control->GetJob(f.job).value().pool_free_slots();
    auto ticket = f.control->BeginPush(header);
    if (ticket) {
      if (ticket->expected_bytes != 64 * sizeof(float)) std::abort();
      f.control->AbortPush(*ticket);
    }
    if (f.control->GetJob(f.job).value().pool_free_slots() != before) std::abort();  // a leak
  }
  return 0;
}
