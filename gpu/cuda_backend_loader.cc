#include "gpu/cuda_backend_loader.h"

#include <dlfcn.h>

#include <filesystem>
#include <string>
#include <vector>

namespace tributary::gpu {
namespace {

constexpr char kLibraryName[] = "libtributary_gpu_cuda.so";
constexpr char kEntryPoint[] = "tributary_gpu_cuda_backend";

Result<const cuda::CudaBackend*> LoadOnce() {
  std::vector<std::string> paths;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) paths.push_back((exe.parent_path() / kLibraryName).string());
  paths.push_back(kLibraryName);                // LD_LIBRARY_PATH, the system's directories
  paths.push_back(TRIBUTARY_GPU_CUDA_LIBRARY);  // the build tree's
  std::string reasons;
  for (const std::string& path : paths) {
    // Never closed: the rules and pinned memory it hands out live as long as the process.
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      reasons += std::string(reasons.empty() ? "" : "; ") + dlerror();
      continue;
    }
    const auto entry =
        reinterpret_cast<const cuda::CudaBackend* (*)()>(dlsym(library, kEntryPoint));
    if (entry == nullptr) {
      return Status::Unavailable("the CUDA backend " + path + " has no " + kEntryPoint);
    }
    const cuda::CudaBackend* backend = entry();
    if (backend->abi_version != cuda::CudaBackend::kAbiVersion) {
      return Status::FailedPrecondition(
          "the CUDA backend " + path + " is of ABI version " +
          std::to_string(backend->abi_version) + ", this binary needs " +
          std::to_string(cuda::CudaBackend::kAbiVersion) + ": rebuild them together");
    }
    return backend;
  }
  return Status::Unavailable("cannot load the CUDA backend: " + reasons);
}

}  // namespace

Result<const cuda::CudaBackend*> LoadCudaBackend() {
  static const Result<const cuda::CudaBackend*> loaded = LoadOnce();
  return loaded;
}

}  // namespace tributary::gpu
