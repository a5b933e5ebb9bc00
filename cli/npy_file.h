// Reading and writing NumPy .npy files for the offline `tributary aggregate` command.
//
// Reads version 1.0/2.0/3.0 files holding little-endian float32 ('<f4') or float64 ('<f8')
// arrays in C order, and validates everything a hand-made or damaged file can get wrong: the
// magic string, the header dictionary (descr, fortran_order, shape), the dtype, the shape, and
// the data length (truncated files and trailing bytes are errors). Writes version 1.0 float64
// vectors with the header padded to 64 bytes, as numpy.save does.
//
// Thread safety: free functions with no shared state.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace tributary::cli {

// An n×d matrix of float32 values, row-major: row i is values[i*cols, (i+1)*cols).
struct NpyMatrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> values;
};

// A 2-D float32 or float64 array with rows, cols >= 1. float64 values are rounded to float32
// (the platform's update type); a finite value beyond the float32 range is an error. Non-finite
// values are kept: whether a rule can take them is the rule's decision.
Result<NpyMatrix> ReadNpyMatrix(const std::string& path);

// A 1-D float32 or float64 array with at least one element, as float64.
Result<std::vector<double>> ReadNpyVector(const std::string& path);

// Writes a 1-D float64 array.
Status WriteNpyVector(const std::string& path, std::span<const double> values);

}  // namespace tributary::cli
