#include "clients/cpp/client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#define XXH_INLINE_ALL  // inlined and compiled for this CPU (AVX2)
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "clients/cpp/bulk_client.h"
#include "common/stream_copy.h"
#include "proto/wire_format.h"
#include "tributary/v1/client.grpc.pb.h"

namespace tributary::client {
namespace {

constexpr char kPushMethod[] = "/tributary.v1.ClientService/Push";
constexpr char kPullMethod[] = "/tributary.v1.ClientService/Pull";

Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status::Ok();
  return Status(static_cast<StatusCode>(s.error_code()), s.error_message());
}

bool Retryable(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kResourceExhausted;
}

template <typename Message>
grpc::ByteBuffer Serialize(const Message& m) {
  grpc::ByteBuffer bb;
  bool own = false;
  grpc::SerializationTraits<Message>::Serialize(m, &bb, &own);
  return bb;
}

// Adds `authorization: Bearer access_token` to the call (nothing for an empty token).
void Authorize(grpc::ClientContext* ctx, const std::string& access_token) {
  if (!access_token.empty()) ctx->AddMetadata("authorization", "Bearer " + access_token);
}

// Drives one generic streaming call step by step on a private completion queue.
class BlockingCall {
 public:
  BlockingCall(grpc::GenericStub* stub, const char* method, std::chrono::seconds timeout,
               const std::string& access_token) {
    ctx_.set_deadline(std::chrono::system_clock::now() + timeout);
    Authorize(&ctx_, access_token);
    call_ = stub->PrepareCall(&ctx_, method, &cq_);
    call_->StartCall(this);
    ok_ = Next();
  }
  ~BlockingCall() {
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }
  bool ok() const { return ok_; }
  bool Write(const grpc::ByteBuffer& bb) {
    call_->Write(bb, this);
    return ok_ = ok_ && Next();
  }
  bool WritesDone() {
    call_->WritesDone(this);
    return Next();
  }
  bool Read(grpc::ByteBuffer* bb) {
    call_->Read(bb, this);
    return Next();
  }
  Status Finish() {
    grpc::Status status;
    call_->Finish(&status, this);
    Next();
    return FromGrpc(status);
  }

 private:
  bool Next() {
    void* tag;
    bool ok = false;
    return cq_.Next(&tag, &ok) && ok;
  }
  grpc::ClientContext ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool ok_ = false;
};

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Waits until `deadline` watching `channel`'s connectivity. A synchronous client polls its
// connections only inside calls, and a call on a channel that failed to connect fails at once
// without polling: a reconnection begun after a gateway restart would then wait for gRPC's
// backup poller (every 5 s) to complete. Watching the state polls it, and asks to connect.
void WaitOutBackoff(grpc::Channel& channel, std::chrono::system_clock::time_point deadline) {
  for (;;) {
    const grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY || !channel.WaitForStateChange(state, deadline)) break;
  }
  std::this_thread::sleep_until(deadline);
}

}  // namespace

Result<std::shared_ptr<grpc::Channel>> CreateChannel(const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  // The channel reconnects at the pace of this client's retries: with gRPC's own backoff (1 s,
  // growing to 120 s) the attempts after a gateway restart would fail fast, unconnected.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::max<int64_t>(1, options.initial_backoff.count())));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::max<int64_t>(1, options.max_backoff.count())));
  if (options.tls_ca_file.empty() && options.tls_cert_file.empty() &&
      options.tls_key_file.empty()) {
    return grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return Status::InvalidArgument("a client certificate needs both its file and its key file");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca_file.empty()) {
    TRIBUTARY_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.tls_ca_file));
  }
  if (!options.tls_cert_file.empty()) {
    TRIBUTARY_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadFile(options.tls_cert_file));
    TRIBUTARY_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadFile(options.tls_key_file));
  }
  return grpc::CreateCustomChannel(options.target, grpc::SslCredentials(ssl), args);
}

Client::Client(ClientOptions options)
    : options_(std::move(options)), bulk_(std::make_unique<BulkClient>(options_.call_timeout)) {
  auto channel = CreateChannel(options_);
  if (channel) {
    channel_ = std::move(*channel);
  } else {
    channel_error_ = channel.error().WithContext("connecting to " + options_.target);
  }
}

Client::Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      bulk_(std::make_unique<BulkClient>(options_.call_timeout)) {}

Client::~Client() = default;

template <typename F>
auto Client::WithRetries(const std::shared_ptr<grpc::Channel>& channel, F&& attempt)
    -> decltype(attempt()) {
  if (!channel_error_.ok()) return channel_error_;
  thread_local std::mt19937_64 rng(std::random_device{}());
  auto backoff = options_.initial_backoff;
  for (int i = 1;; ++i) {
    auto r = attempt();
    if (r.has_value() || !Retryable(r.error()) || i >= options_.max_attempts) return r;
    std::uniform_int_distribution<long> jitter(backoff.count() / 2, backoff.count());
    WaitOutBackoff(*channel,
                   std::chrono::system_clock::now() + std::chrono::milliseconds(jitter(rng)));
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
}

Result<v1::JoinReply> Client::Join(uint64_t job) {
  {
    std::lock_guard lock(tokens_mu_);
    placed_.erase(job);
  }
  TRIBUTARY_ASSIGN_OR_RETURN(v1::JoinReply reply, JoinOnce(job, channel_));
  if (reply.node().empty() || reply.node() == options_.target) return reply;
  // Placed on another node: join there (it registers the client and issues its token).
  ClientOptions there = options_;
  there.target = reply.node();
  TRIBUTARY_ASSIGN_OR_RETURN(auto channel, CreateChannel(there));
  TRIBUTARY_ASSIGN_OR_RETURN(v1::JoinReply placed, JoinOnce(job, channel));
  std::lock_guard lock(tokens_mu_);
  placed_[job] = {reply.node(), std::move(channel)};
  return placed;
}

std::string Client::TargetOf(uint64_t job) const {
  std::lock_guard lock(tokens_mu_);
  auto it = placed_.find(job);
  return it == placed_.end() ? options_.target : it->second.first;
}

std::shared_ptr<grpc::Channel> Client::ChannelOf(uint64_t job) const {
  std::lock_guard lock(tokens_mu_);
  auto it = placed_.find(job);
  return it == placed_.end() ? channel_ : it->second.second;
}

template <typename F>
auto Client::WithPlacement(uint64_t job, F&& call) -> decltype(call()) {
  auto r = call();
  if (r.has_value() || r.error().code() != StatusCode::kUnavailable ||
      TargetOf(job) == options_.target) {
    return r;
  }
  if (auto joined = Join(job); !joined) return joined.error();
  return call();
}

Result<v1::JoinReply> Client::JoinOnce(uint64_t job,
                                       const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::ClientService::NewStub(channel);
  return WithRetries(channel, [&]() -> Result<v1::JoinReply> {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
    v1::JoinRequest req;
    req.set_job_id(job);
    req.set_client_id(options_.client_id);
    req.set_enrolment_token(options_.enrolment_token);
    v1::JoinReply reply;
    Status s = FromGrpc(stub->Join(&ctx, req, &reply));
    if (!s.ok()) return s;
    std::lock_guard lock(tokens_mu_);
    access_tokens_[job] = reply.access_token();
    bulk_ports_[job] = static_cast<uint16_t>(reply.bulk_port());
    return reply;
  });
}

Result<v1::TasksReply> Client::Tasks(uint64_t job, uint32_t round, bool wait) {
  const std::shared_ptr<grpc::Channel> channel = ChannelOf(job);
  auto stub = v1::ClientService::NewStub(channel);
  return WithRetries(channel, [&]() -> Result<v1::TasksReply> {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
    Authorize(&ctx, AccessToken(job));
    v1::TasksRequest req;
    req.set_job_id(job);
    req.set_client_id(options_.client_id);
    req.set_round(round);
    req.set_wait(wait);
    v1::TasksReply reply;
    Status s = FromGrpc(stub->Tasks(&ctx, req, &reply));
    if (!s.ok()) return s;
    return reply;
  });
}

Result<v1::PushReply> Client::PushTaskResult(uint64_t job, uint32_t round, uint32_t task,
                                             std::span<const float> result) {
  return WithPlacement(job, [&] {
    return WithRetries(ChannelOf(job), [&] { return PushOnce(job, round, result, 1, task); });
  });
}

Result<v1::PushReply> Client::Push(uint64_t job, uint32_t round, std::span<const float> update,
                                   uint64_t num_examples) {
  return WithPlacement(job, [&] {
    return WithRetries(ChannelOf(job), [&] { return PushOnce(job, round, update, num_examples); });
  });
}

Result<v1::PushReply> Client::SetInitialModel(uint64_t job, std::span<const float> model) {
  return Push(job, 0, model, 1);
}

Result<v1::PushReply> Client::PushOnce(uint64_t job, uint32_t round,
                                       std::span<const float> update, uint64_t num_examples,
                                       uint32_t task) {
  if (!channel_error_.ok()) return channel_error_;
  const std::size_t bytes = update.size_bytes();
  v1::PushMessage header;
  auto* h = header.mutable_header();
  h->set_job_id(job);
  h->set_round(round);
  h->set_client_id(options_.client_id);
  h->set_num_examples(num_examples);
  h->set_task(task);
  h->set_dtype(v1::DTYPE_FLOAT32);
  h->set_total_bytes(bytes);
  if (const uint16_t port = BulkPortOf(job); port != 0) {
    auto pushed =
        bulk_->Push(TargetHost(TargetOf(job)), port, *h, AccessToken(job), std::as_bytes(update));
    if (pushed) return *std::move(pushed);
    std::lock_guard lock(tokens_mu_);  // unreachable: gRPC from now on
    bulk_ports_[job] = 0;
  }
  // Each chunk is hashed just before it is written, while the kernel's copy can still find it
  // in cache, and the checksum follows in the trailer: no pass over the whole update before
  // the first byte goes out.
  h->set_checksum_in_trailer(true);
  XXH3_state_t hash;
  XXH3_64bits_reset(&hash);

  grpc::GenericStub stub(ChannelOf(job));
  BlockingCall call(&stub, kPushMethod, options_.call_timeout, AccessToken(job));
  bool ok = call.ok() && call.Write(Serialize(header));
  const auto* data = reinterpret_cast<const std::byte*>(update.data());
  const std::size_t chunk = std::max<std::size_t>(4, options_.chunk_bytes / 4 * 4);
  for (std::size_t off = 0; ok && off < bytes; off += chunk) {
    const std::size_t n = std::min(chunk, bytes - off);
    XXH3_64bits_update(&hash, data + off, n);
    ok = call.Write(proto::ChunkMessage(data + off, n));
  }
  if (ok) {
    v1::PushMessage trailer;
    trailer.mutable_trailer()->set_checksum(XXH3_64bits_digest(&hash));
    ok = call.Write(Serialize(trailer));
  }
  if (ok) call.WritesDone();
  grpc::ByteBuffer reply_bb;
  const bool got_reply = call.Read(&reply_bb);
  Status s = call.Finish();
  if (!s.ok()) return s;
  v1::PushReply reply;
  if (!got_reply || !grpc::SerializationTraits<v1::PushReply>::Deserialize(&reply_bb, &reply).ok()) {
    return Status::Internal("push succeeded without a readable reply");
  }
  return reply;
}

uint16_t Client::BulkPortOf(uint64_t job) const {
  if (!options_.use_bulk_port || !options_.tls_ca_file.empty() || !options_.tls_cert_file.empty() ||
      !options_.tls_key_file.empty() || TargetHost(TargetOf(job)).empty()) {
    return 0;
  }
  std::lock_guard lock(tokens_mu_);
  auto it = bulk_ports_.find(job);
  return it == bulk_ports_.end() ? 0 : it->second;
}

std::string Client::AccessToken(uint64_t job) const {
  std::lock_guard lock(tokens_mu_);
  auto it = access_tokens_.find(job);
  return it == access_tokens_.end() ? options_.access_token : it->second;
}

Result<Model> Client::Pull(uint64_t job, int64_t version, bool wait) {
  Model m;
  TRIBUTARY_ASSIGN_OR_RETURN(m.version, PullInto(job, version, wait, &m.values));
  return m;
}

Result<uint32_t> Client::PullInto(uint64_t job, int64_t version, bool wait,
                                  std::vector<float>* out) {
  return WithPlacement(job, [&] {
    return WithRetries(ChannelOf(job), [&] { return PullOnce(job, version, wait, out); });
  });
}

Result<uint32_t> Client::PullOnce(uint64_t job, int64_t version, bool wait,
                                  std::vector<float>* out) {
  v1::PullRequest req;
  req.set_job_id(job);
  req.set_client_id(options_.client_id);
  req.set_version(version);
  req.set_wait(wait);
  if (const uint16_t port = BulkPortOf(job); port != 0) {
    auto pulled = bulk_->Pull(TargetHost(TargetOf(job)), port, req, AccessToken(job), out);
    if (pulled) return *std::move(pulled);
    std::lock_guard lock(tokens_mu_);  // unreachable: gRPC from now on
    bulk_ports_[job] = 0;
  }
  grpc::GenericStub stub(ChannelOf(job));
  BlockingCall call(&stub, kPullMethod, options_.call_timeout, AccessToken(job));
  if (call.ok() && call.Write(Serialize(req))) call.WritesDone();
  grpc::ByteBuffer bb;
  v1::ModelHeader header;
  bool have_header = false;
  bool have_trailer = false;
  std::size_t received = 0;
  XXH3_state_t hash;
  XXH3_64bits_reset(&hash);
  Status bad;
  while (bad.ok() && call.Read(&bb)) {
    std::vector<grpc::Slice> slices;
    if (!bb.Dump(&slices).ok()) {
      bad = Status::DataLoss("unreadable model chunk");
      break;
    }
    if (!have_header) {
      v1::PullMessage msg;
      if (!grpc::SerializationTraits<v1::PullMessage>::Deserialize(&bb, &msg).ok() ||
          !msg.has_header() || msg.header().total_bytes() % sizeof(float) != 0) {
        bad = Status::DataLoss("model stream does not start with a valid header");
        break;
      }
      header = msg.header();
      have_header = true;
      out->resize(header.total_bytes() / sizeof(float));
      continue;
    }
    if (proto::FirstByte(slices) == proto::kTrailerTag) {
      v1::PullMessage msg;
      if (!header.checksum_in_trailer() || have_trailer || received != header.total_bytes() ||
          !grpc::SerializationTraits<v1::PullMessage>::Deserialize(&bb, &msg).ok() ||
          !msg.has_trailer()) {
        bad = Status::DataLoss("unexpected or malformed ModelTrailer");
        break;
      }
      header.set_checksum(msg.trailer().checksum());
      have_trailer = true;
      continue;
    }
    auto chunk = proto::ParseChunk(slices);
    if (!chunk || received + chunk->length > header.total_bytes()) {
      bad = Status::DataLoss("malformed or oversized model chunk");
      break;
    }
    auto* dst = reinterpret_cast<std::byte*>(out->data()) + received;
    std::size_t left = chunk->length;
    for (std::size_t i = chunk->slice; left > 0 && i < slices.size(); ++i) {
      const uint8_t* src = slices[i].begin() + (i == chunk->slice ? chunk->offset : 0);
      const std::size_t n = std::min(left, static_cast<std::size_t>(slices[i].end() - src));
      XXH3_64bits_update(&hash, src, n);  // while the slice is hot in cache
      (void)StreamCopy(dst, src, n);      // a model is larger than the cache: streamed stores
      dst += n;
      left -= n;
    }
    received += chunk->length;
  }
  Status s = call.Finish();
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  if (!have_header || received != header.total_bytes()) {
    return Status::DataLoss("model stream ended after " + std::to_string(received) + " bytes");
  }
  if (header.checksum_in_trailer() && !have_trailer) {
    return Status::DataLoss("model stream ended without the ModelTrailer its header announced");
  }
  if (XXH3_64bits_digest(&hash) != header.checksum()) {
    return Status::DataLoss("model checksum does not match its bytes");
  }
  return header.version();
}

}  // namespace tributary::client
