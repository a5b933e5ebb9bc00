#include "common/stream_copy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace tributary {
namespace {

// Copies `src` into an aligned destination in pieces of `piece` bytes, as gRPC slices arrive.
bool CopyInPieces(const std::vector<float>& src, std::vector<float>& dst, std::size_t piece) {
  const auto* s = reinterpret_cast<const char*>(src.data());
  auto* d = reinterpret_cast<char*>(dst.data());
  const std::size_t bytes = src.size() * sizeof(float);
  bool flagged = false;
  for (std::size_t off = 0; off < bytes; off += piece) {
    flagged |= StreamCopy(d + off, s + off, std::min(piece, bytes - off));
  }
  return flagged;
}

TEST(StreamCopyTest, CopiesExactlyAtEveryPieceSize) {
  std::vector<float> src(20011);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = float(i) * 0.5f - 3.0f;
  for (std::size_t piece : {1ul, 3ul, 4ul, 61ul, 4096ul, 4099ul, 65536ul, 80044ul}) {
    std::vector<float> dst(src.size(), 0.0f);
    EXPECT_FALSE(CopyInPieces(src, dst, piece)) << piece;
    EXPECT_EQ(std::memcmp(src.data(), dst.data(), src.size() * 4), 0) << piece;
  }
}

TEST(StreamCopyTest, FlagsNanAndInfWhereverTheyAre) {
  for (float poison : {std::nanf(""), INFINITY, -INFINITY}) {
    for (std::size_t at : {0ul, 1ul, 7ul, 1023ul, 1024ul, 5000ul, 20010ul}) {
      for (std::size_t piece : {6ul, 4097ul, 65538ul}) {  // pieces that split floats
        std::vector<float> src(20011, 1.0f), dst(20011, 0.0f);
        src[at] = poison;
        EXPECT_TRUE(CopyInPieces(src, dst, piece)) << at << " " << piece;
      }
    }
  }
}

TEST(StreamCopyTest, MaybeNonFiniteCoversPartialFloats) {
  float v[2] = {1.0f, INFINITY};
  const char* p = reinterpret_cast<const char*>(v);
  EXPECT_FALSE(MaybeNonFinite(p, p + 4));
  EXPECT_TRUE(MaybeNonFinite(p + 5, p + 6));  // one byte of the Inf: its whole float is read
}

}  // namespace
}  // namespace tributary
