#include "gateway/peer_link.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#define XXH_INLINE_ALL  // inlined and compiled for this CPU (AVX2), not the generic library build
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "gateway/status_mapping.h"
#include "tributary/internal/peer.grpc.pb.h"

namespace tributary::gateway {
namespace {

constexpr std::size_t kChunkBytes = 1u << 20;
constexpr auto kCallTimeout = std::chrono::seconds(60);

// The rendezvous weight of `member` for `job`.
uint64_t Weight(uint64_t job, const std::string& member) {
  return XXH3_64bits_withSeed(member.data(), member.size(), job);
}

}  // namespace

class PeerLink::Impl {
 public:
  explicit Impl(PeerLinkOptions o) : options_(std::move(o)) {
    members_ = options_.peers;
    members_.push_back(options_.self);
    std::sort(members_.begin(), members_.end());
    index_ = static_cast<uint32_t>(std::find(members_.begin(), members_.end(), options_.self) -
                                   members_.begin());
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(static_cast<int>(kChunkBytes + (64 << 10)));
    // A member that went away is tried again within 2 s, not after gRPC's default backoff of
    // up to 2 minutes: a call to it fails fast and the round goes on without it. A connection
    // attempt itself may take up to 2 s (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is that timeout, not
    // a backoff): at 100 ms, a busy node's handshake ran out before the peer's SETTINGS came.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!options_.tls_root_certs.empty()) {
      credentials = grpc::SslCredentials({.pem_root_certs = options_.tls_root_certs,
                                          .pem_private_key = options_.tls_private_key,
                                          .pem_cert_chain = options_.tls_cert_chain});
    }
    for (const auto& address : options_.peers) {
      auto peer = std::make_unique<Peer>();
      peer->stub =
          internal::PeerService::NewStub(grpc::CreateCustomChannel(address, credentials, args));
      peer->worker = std::thread([this, p = peer.get()] { Run(*p); });
      peers_[address] = std::move(peer);
    }
  }

  ~Impl() { Stop(); }

  void Stop() {
    for (auto& [address, peer] : peers_) {
      {
        std::lock_guard lock(peer->mu);
        peer->stopping = true;
        peer->queue.clear();
      }
      peer->cv.notify_all();
      if (peer->worker.joinable()) peer->worker.join();
    }
  }

  const std::string& HomeOf(uint64_t job) const {
    return *std::max_element(members_.begin(), members_.end(), [&](const auto& a, const auto& b) {
      return Weight(job, a) < Weight(job, b);
    });
  }

  Status CreateJob(uint64_t id, const v1::JobSpec& spec) {
    internal::PeerJob request;
    request.set_job_id(id);
    *request.mutable_spec() = spec;
    for (const auto& [address, peer] : peers_) {
      auto ctx = Context();
      internal::PeerAck ack;
      Status s = FromGrpc(peer->stub->CreateJob(ctx.get(), request, &ack));
      if (!s.ok()) return s.WithContext("creating job " + std::to_string(id) + " on " + address);
    }
    return Status::Ok();
  }

  using Call = std::function<void(internal::PeerService::Stub*)>;

  // Queues `call` for the worker of peer `to`; false when `to` is no peer.
  bool Enqueue(const std::string& to, Call call) {
    auto it = peers_.find(to);
    if (it == peers_.end()) return false;
    Peer& peer = *it->second;
    {
      std::lock_guard lock(peer.mu);
      if (peer.stopping) return true;  // dropped
      peer.queue.push_back(std::move(call));
    }
    peer.cv.notify_one();
    return true;
  }

  internal::RoundRef Ref(uint64_t job, uint32_t round) const {
    internal::RoundRef ref;
    ref.set_job_id(job);
    ref.set_round(round);
    ref.set_node(options_.self);
    return ref;
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    if (!options_.operator_token.empty()) {
      ctx->AddMetadata("authorization", "Bearer " + options_.operator_token);
    }
    return ctx;
  }

  // Queues a stream to `to`: `header`, then `data` in chunks, on the client stream that
  // `open(stub, ctx, ack)` starts; counts the data in `counter`; `done` gets its status.
  template <typename Chunk, typename Open>
  void EnqueueStream(const std::string& to, Chunk header, std::span<const std::byte> data,
                     Open open, std::atomic<uint64_t>* counter, Done done) {
    auto call = [this, header = std::move(header), data, open, counter,
                 done](internal::PeerService::Stub* stub) {
      done(Stream(stub, header, data, open, counter));
    };
    if (!Enqueue(to, std::move(call))) done(Status::NotFound(to + " is not a peer"));
  }

  template <typename Chunk, typename Open>
  Status Stream(internal::PeerService::Stub* stub, const Chunk& header,
                std::span<const std::byte> data, Open open, std::atomic<uint64_t>* counter) {
    auto ctx = Context();
    internal::PeerAck ack;
    auto writer = open(stub, ctx.get(), &ack);
    bool ok = writer->Write(header);
    Chunk chunk;
    XXH3_state_t hash;
    XXH3_64bits_reset(&hash);
    for (std::size_t at = 0; ok && at < data.size(); at += kChunkBytes) {
      const std::size_t n = std::min(kChunkBytes, data.size() - at);
      XXH3_64bits_update(&hash, data.data() + at, n);
      chunk.set_data(reinterpret_cast<const char*>(data.data() + at), n);
      ok = writer->Write(chunk);
      if (ok) *counter += n;
    }
    if (ok && !data.empty()) {
      chunk.mutable_trailer()->set_checksum(XXH3_64bits_digest(&hash));
      writer->Write(chunk);
    }
    writer->WritesDone();
    return FromGrpc(writer->Finish());
  }

  PeerLinkOptions options_;
  std::vector<std::string> members_;
  uint32_t index_ = 0;
  // Each peer has a queue and a worker of its own: a peer that hangs holds up only its calls.
  struct Peer {
    std::unique_ptr<internal::PeerService::Stub> stub;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Call> queue;
    bool stopping = false;
    std::thread worker;
  };
  std::map<std::string, std::unique_ptr<Peer>> peers_;
  std::atomic<uint64_t> partial_bytes_{0}, model_bytes_{0};

 private:
  void Run(Peer& peer) {
    std::unique_lock lock(peer.mu);
    while (true) {
      peer.cv.wait(lock, [&] { return peer.stopping || !peer.queue.empty(); });
      if (peer.stopping) return;
      auto call = std::move(peer.queue.front());
      peer.queue.pop_front();
      lock.unlock();
      call(peer.stub.get());
      lock.lock();
    }
  }
};

PeerLink::PeerLink(PeerLinkOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
PeerLink::~PeerLink() = default;
void PeerLink::Stop() { impl_->Stop(); }

const std::string& PeerLink::self() const { return impl_->options_.self; }
const std::vector<std::string>& PeerLink::peers() const { return impl_->options_.peers; }
uint32_t PeerLink::index() const { return impl_->index_; }
const std::string& PeerLink::HomeOf(uint64_t job) const { return impl_->HomeOf(job); }
Status PeerLink::CreateJob(uint64_t id, const v1::JobSpec& spec) {
  return impl_->CreateJob(id, spec);
}
uint64_t PeerLink::partial_bytes_sent() const { return impl_->partial_bytes_; }
uint64_t PeerLink::model_bytes_sent() const { return impl_->model_bytes_; }

Result<std::string> PeerLink::Place(const std::string& home, uint64_t job,
                                    const std::string& client_id) {
  auto it = impl_->peers_.find(home);
  if (it == impl_->peers_.end()) return Status::NotFound(home + " is not a peer");
  internal::PlaceRequest request;
  request.set_job_id(job);
  request.set_client_id(client_id);
  request.set_node(impl_->options_.self);
  auto ctx = impl_->Context();
  internal::PlaceReply reply;
  Status s = FromGrpc(it->second->stub->Place(ctx.get(), request, &reply));
  if (!s.ok()) return s.WithContext("placing the client at the job's home " + home);
  return reply.node();
}

void PeerLink::Progress(const std::string& to, uint64_t job, uint32_t round, uint32_t accepted) {
  internal::RoundProgress request;
  *request.mutable_round() = impl_->Ref(job, round);
  request.set_accepted(accepted);
  impl_->Enqueue(to, [this, request](internal::PeerService::Stub* stub) {
    auto ctx = impl_->Context();
    internal::PeerAck ack;
    (void)stub->Progress(ctx.get(), request, &ack);  // the next one, or the close, catches up
  });
}

void PeerLink::CancelJob(const std::string& to, uint64_t job) {
  internal::RoundRef request = impl_->Ref(job, 0);
  impl_->Enqueue(to, [this, to, request](internal::PeerService::Stub* stub) {
    auto ctx = impl_->Context();
    internal::PeerAck ack;
    if (Status s = FromGrpc(stub->CancelJob(ctx.get(), request, &ack)); !s.ok()) {
      spdlog::warn("job {}: cancelling it on {}: {}", request.job_id(), to, s.ToString());
    }
  });
}

void PeerLink::CloseRound(const std::string& to, uint64_t job, uint32_t round, Done done) {
  internal::RoundRef request = impl_->Ref(job, round);
  auto call = [this, request, done](internal::PeerService::Stub* stub) {
    auto ctx = impl_->Context();
    internal::PeerAck ack;
    done(FromGrpc(stub->CloseRound(ctx.get(), request, &ack)));
  };
  if (!impl_->Enqueue(to, std::move(call))) done(Status::NotFound(to + " is not a peer"));
}

void PeerLink::SendPartial(const std::string& to, uint64_t job, uint32_t round, uint32_t updates,
                           double weight, std::span<const std::byte> data, Done done) {
  internal::PartialChunk header;
  *header.mutable_header()->mutable_round() = impl_->Ref(job, round);
  header.mutable_header()->set_updates(updates);
  header.mutable_header()->set_weight(weight);
  header.mutable_header()->set_total_bytes(data.size());
  impl_->EnqueueStream(
      to, std::move(header), data,
      [](auto* stub, auto* ctx, auto* ack) { return stub->PushPartial(ctx, ack); },
      &impl_->partial_bytes_, std::move(done));
}

void PeerLink::SendModel(const std::string& to, uint64_t job, uint32_t version, uint32_t updates,
                         std::span<const std::byte> data, Done done) {
  internal::ModelChunk header;
  *header.mutable_header()->mutable_version() = impl_->Ref(job, version);
  header.mutable_header()->set_total_bytes(data.size());
  header.mutable_header()->set_updates(updates);
  impl_->EnqueueStream(
      to, std::move(header), data,
      [](auto* stub, auto* ctx, auto* ack) { return stub->PublishModel(ctx, ack); },
      &impl_->model_bytes_, std::move(done));
}

}  // namespace tributary::gateway
