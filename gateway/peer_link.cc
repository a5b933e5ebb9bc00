#include "gateway/peer_link.h"

#include <grpcpp/grpcpp.h>
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
    // up to 2 minutes: a call to it fails fast and the round goes on without it.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    for (const auto& peer : options_.peers) {
      stubs_[peer] = internal::PeerService::NewStub(
          grpc::CreateCustomChannel(peer, grpc::InsecureChannelCredentials(), args));
    }
    worker_ = std::thread([this] { Run(); });
  }

  ~Impl() { Stop(); }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
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
    for (const auto& [peer, stub] : stubs_) {
      auto ctx = Context();
      internal::PeerAck ack;
      Status s = FromGrpc(stub->CreateJob(ctx.get(), request, &ack));
      if (!s.ok()) return s.WithContext("creating job " + std::to_string(id) + " on " + peer);
    }
    return Status::Ok();
  }

  void Enqueue(std::function<void()> call) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      queue_.push_back(std::move(call));
    }
    cv_.notify_one();
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

  internal::PeerService::Stub* Stub(const std::string& to) {
    auto it = stubs_.find(to);
    return it == stubs_.end() ? nullptr : it->second.get();
  }

  // Queues a stream to `to`: `header`, then `data` in chunks, on the client stream that
  // `open(stub, ctx, ack)` starts; counts the data in `counter`; `done` gets its status.
  template <typename Chunk, typename Open>
  void EnqueueStream(const std::string& to, Chunk header, std::span<const std::byte> data,
                     Open open, std::atomic<uint64_t>* counter, Done done) {
    Enqueue([this, to, header = std::move(header), data, open, counter, done = std::move(done)] {
      auto* stub = Stub(to);
      if (!stub) return done(Status::NotFound(to + " is not a peer"));
      done(Stream(stub, header, data, open, counter));
    });
  }

  template <typename Chunk, typename Open>
  Status Stream(internal::PeerService::Stub* stub, const Chunk& header,
                std::span<const std::byte> data, Open open, std::atomic<uint64_t>* counter) {
    auto ctx = Context();
    internal::PeerAck ack;
    auto writer = open(stub, ctx.get(), &ack);
    bool ok = writer->Write(header);
    Chunk chunk;
    for (std::size_t at = 0; ok && at < data.size(); at += kChunkBytes) {
      const std::size_t n = std::min(kChunkBytes, data.size() - at);
      chunk.set_data(reinterpret_cast<const char*>(data.data() + at), n);
      ok = writer->Write(chunk);
      if (ok) *counter += n;
    }
    writer->WritesDone();
    return FromGrpc(writer->Finish());
  }

  PeerLinkOptions options_;
  std::vector<std::string> members_;
  uint32_t index_ = 0;
  std::map<std::string, std::unique_ptr<internal::PeerService::Stub>> stubs_;
  std::atomic<uint64_t> partial_bytes_{0}, model_bytes_{0};

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      auto call = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      call();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread worker_;
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

void PeerLink::Progress(const std::string& to, uint64_t job, uint32_t round, uint32_t accepted) {
  internal::RoundProgress request;
  *request.mutable_round() = impl_->Ref(job, round);
  request.set_accepted(accepted);
  impl_->Enqueue([this, to, request] {
    auto* stub = impl_->Stub(to);
    if (!stub) return;
    auto ctx = impl_->Context();
    internal::PeerAck ack;
    (void)stub->Progress(ctx.get(), request, &ack);  // the next one, or the close, catches up
  });
}

void PeerLink::CloseRound(const std::string& to, uint64_t job, uint32_t round, Done done) {
  internal::RoundRef request = impl_->Ref(job, round);
  impl_->Enqueue([this, to, request, done = std::move(done)] {
    auto* stub = impl_->Stub(to);
    if (!stub) return done(Status::NotFound(to + " is not a peer"));
    auto ctx = impl_->Context();
    internal::PeerAck ack;
    done(FromGrpc(stub->CloseRound(ctx.get(), request, &ack)));
  });
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
