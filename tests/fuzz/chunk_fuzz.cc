// Fuzz target: the raw chunk framing of pushes (proto/wire_format.h). A gRPC message arrives
// as slices cut anywhere; ParseChunk must accept exactly "0x12 varint(len) + len bytes" and
// point inside the slices, whatever the cuts.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "proto/wire_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte chooses the slice length; the rest is the message.
  const std::size_t cut = 1 + data[0] % 17;
  std::vector<grpc::Slice> slices;
  for (std::size_t off = 1; off < size; off += cut) {
    slices.emplace_back(data + off, std::min(cut, size - off));
  }
  auto chunk = tributary::proto::ParseChunk(slices);
  if (!chunk) return 0;
  std::size_t total = 0;
  for (const auto& s : slices) total += s.size();
  if (chunk->slice >= slices.size() && chunk->length > 0) std::abort();
  if (chunk->slice < slices.size() && chunk->offset > slices[chunk->slice].size()) std::abort();
  std::size_t before = chunk->offset;
  for (std::size_t i = 0; i < chunk->slice && i < slices.size(); ++i) before += slices[i].size();
  if (before + chunk->length != total) std::abort();  // the payload is exactly the rest
  if (tributary::proto::FirstByte(slices) != tributary::proto::kChunkTag) std::abort();
  return 0;
}
