// Fuzz target: what a node reads back from its data directory when it restarts. The input is a
// job's checkpoint file and journal (4 bytes of little-endian length, the checkpoint, then the
// journal); a control plane recovers from them. Whatever they hold, recovery must end with
// every job resumed or recorded as failed, never a crash, and must not touch shared memory
// outside its own pools (a checkpoint naming another file or a live node's pool is not
// followed).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "ebpf/userspace_router.h"
#include "gateway/control_plane.h"
#include "tributary/internal/checkpoint.pb.h"

namespace {

namespace fs = std::filesystem;

class NoInstances final : public tributary::gateway::InstanceDirectory {
 public:
  std::vector<tributary::ebpf::InstanceId> LiveInstances() const override { return {}; }
  void Broadcast(const tributary::shm::Descriptor&) override {}
  void ScaleTo(uint32_t) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const uint32_t length = uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16 |
                          uint32_t(data[3]) << 24;
  const std::string bytes(reinterpret_cast<const char*>(data) + 4, size - 4);
  const std::string checkpoint = bytes.substr(0, length);
  const std::string journal = length < bytes.size() ? bytes.substr(length) : std::string();
  tributary::internal::JobCheckpoint parsed;
  const uint64_t id = parsed.ParseFromString(checkpoint) ? parsed.job_id() : 1;

  const fs::path root = fs::temp_directory_path() / ("tributary-fuzz-" + std::to_string(getpid()));
  const fs::path dir = root / std::to_string(id);
  fs::create_directories(dir);
  std::ofstream(dir / "checkpoint.pb", std::ios::binary) << checkpoint;
  std::ofstream(dir / "journal", std::ios::binary) << journal;
  {
    auto router = tributary::ebpf::CreateUserspaceRouter();
    NoInstances instances;
    tributary::gateway::ControlPlane control(
        {.pool_prefix = "tributary-fuzz" + std::to_string(getpid()) + "-job-",
         .shm_budget_bytes = 64ull << 20,
         .checkpoint_dir = root.string()},
        router.get(), &instances);
    if (!control.Recover().ok()) std::abort();  // the store itself is fine: recovery succeeds
    for (const auto& job : control.ListJobs()) {
      if (job.state() == tributary::v1::JOB_STATE_UNSPECIFIED) std::abort();
    }
  }  // the control plane removes its pools
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
