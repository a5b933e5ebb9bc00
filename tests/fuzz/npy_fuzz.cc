// Fuzz target: the .npy reader of `tributary aggregate`. A damaged or hostile file must give
// an error, never a crash or an allocation the file's size does not justify.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "cli/npy_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const int fd = memfd_create("npy", 0);
  if (fd < 0) return 0;
  if (write(fd, data, size) != static_cast<ssize_t>(size)) {
    close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto matrix = tributary::cli::ReadNpyMatrix(path);
  if (matrix && matrix->values.size() != matrix->rows * matrix->cols) std::abort();
  if (matrix && matrix->values.size() * sizeof(float) > size) std::abort();
  auto vector = tributary::cli::ReadNpyVector(path);
  if (vector && vector->size() * sizeof(float) > size) std::abort();
  close(fd);
  return 0;
}
