#include "gpu/cuda/host_registration.h"

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>
#include <spdlog/spdlog.h>

namespace tributary::gpu::cuda {
namespace {

bool IsRegistered(const void* ptr) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, ptr) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attributes.type == cudaMemoryTypeHost;
}

}  // namespace

bool IsPageLocked(const void* data, std::size_t bytes) {
  return bytes > 0 && IsRegistered(data) &&
         IsRegistered(static_cast<const std::byte*>(data) + bytes - 1);
}

HostRegistration::HostRegistration(std::span<const std::pair<const void*, std::size_t>> ranges) {
  const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> pages;  // [begin, end), page-aligned
  for (const auto& [start, bytes] : ranges) {
    if (bytes == 0) continue;
    const auto begin = reinterpret_cast<std::uintptr_t>(start);
    // Locked already (by an owner that outlives us): leave it so. Its bytes tell, not its
    // pages: a page-locked allocation need not fill its last page.
    if (IsPageLocked(start, bytes)) continue;
    pages.emplace_back(begin / page * page, (begin + bytes + page - 1) / page * page);
  }
  std::sort(pages.begin(), pages.end());
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> merged;
  for (const auto& range : pages) {
    if (!merged.empty() && range.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, range.second);
    } else {
      merged.push_back(range);
    }
  }
  for (const auto& [begin, end] : merged) {
    void* ptr = reinterpret_cast<void*>(begin);
    const cudaError_t error = cudaHostRegister(ptr, end - begin, cudaHostRegisterDefault);
    if (error == cudaSuccess) {
      registered_.push_back(ptr);
      locked_bytes_ += end - begin;
    } else {
      (void)cudaGetLastError();  // clear it: the copies below still work from pageable memory
      spdlog::debug("cuda: cudaHostRegister of {} bytes failed ({}); copying from pageable memory",
                    end - begin, cudaGetErrorString(error));
    }
  }
}

HostRegistration::~HostRegistration() {
  for (void* ptr : registered_) (void)cudaHostUnregister(ptr);
}

}  // namespace tributary::gpu::cuda
