// Test helpers that speak the client API message by message, so tests can send exactly the
// malformed, partial or concurrent streams a real client library would never produce.
#pragma once

#include <grpcpp/grpcpp.h>
#include <xxhash.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tributary/v1/client.grpc.pb.h"

namespace tributary::testing {

inline uint64_t Checksum(std::span<const float> values) {
  return XXH3_64bits(values.data(), values.size_bytes());
}

inline v1::UpdateHeader Header(uint64_t job, uint32_t round, const std::string& client,
                               std::span<const float> values, uint64_t examples = 10) {
  v1::UpdateHeader h;
  h.set_job_id(job);
  h.set_round(round);
  h.set_client_id(client);
  h.set_num_examples(examples);
  h.set_dtype(v1::DTYPE_FLOAT32);
  h.set_total_bytes(values.size_bytes());
  h.set_checksum(Checksum(values));
  return h;
}

// One push stream, driven message by message.
class PushStream {
 public:
  explicit PushStream(v1::ClientService::Stub& stub) : writer_(stub.Push(&ctx_, &reply_)) {}
  bool Send(const v1::UpdateHeader& h) {
    v1::PushMessage m;
    *m.mutable_header() = h;
    return writer_->Write(m);
  }
  bool SendChunk(const void* data, std::size_t bytes) {
    v1::PushMessage m;
    m.set_chunk(std::string(static_cast<const char*>(data), bytes));
    return writer_->Write(m);
  }
  bool SendAll(std::span<const float> values, std::size_t chunk_floats = 100000) {
    for (std::size_t off = 0; off < values.size(); off += chunk_floats) {
      const std::size_t n = std::min(chunk_floats, values.size() - off);
      if (!SendChunk(values.data() + off, n * sizeof(float))) return false;
    }
    return true;
  }
  bool SendTrailer(uint64_t checksum) {
    v1::PushMessage m;
    m.mutable_trailer()->set_checksum(checksum);
    return writer_->Write(m);
  }
  grpc::Status Finish() {
    writer_->WritesDone();
    return writer_->Finish();
  }
  const v1::PushReply& reply() const { return reply_; }

 private:
  grpc::ClientContext ctx_;
  v1::PushReply reply_;
  std::unique_ptr<grpc::ClientWriter<v1::PushMessage>> writer_;
};

// A header that announces its checksum in the trailer (and declares none itself).
inline v1::UpdateHeader TrailerHeader(uint64_t job, uint32_t round, const std::string& client,
                                      std::span<const float> values, uint64_t examples = 10) {
  v1::UpdateHeader h = Header(job, round, client, values, examples);
  h.set_checksum(0);
  h.set_checksum_in_trailer(true);
  return h;
}

// A whole, well-formed push.
inline grpc::Status PushUpdate(v1::ClientService::Stub& stub, uint64_t job, uint32_t round,
                               const std::string& client, std::span<const float> values,
                               uint64_t examples) {
  PushStream s(stub);
  if (s.Send(Header(job, round, client, values, examples))) s.SendAll(values);
  return s.Finish();
}

inline grpc::Status Join(v1::ClientService::Stub& stub, uint64_t job, const std::string& client) {
  grpc::ClientContext ctx;
  v1::JoinRequest req;
  req.set_job_id(job);
  req.set_client_id(client);
  v1::JoinReply reply;
  return stub.Join(&ctx, req, &reply);
}

}  // namespace tributary::testing
