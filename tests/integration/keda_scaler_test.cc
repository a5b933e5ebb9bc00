// The KEDA external scaler a real `tributary serve` exposes, called with a real gRPC client as
// KEDA calls it: the metric spec follows the trigger's metadata, the metric follows the
// pending updates of a job's round, IsActive and the StreamIsActive push flip when a round
// opens and when the job's last round is published, and bad requests get clear statuses.
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "clients/cpp/client.h"
#include "externalscaler/externalscaler.grpc.pb.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

using externalscaler::ExternalScaler;
using externalscaler::ScaledObjectRef;

ScaledObjectRef Ref(std::map<std::string, std::string> metadata) {
  ScaledObjectRef ref;
  ref.set_name("aggregators");
  ref.set_namespace_("tributary");
  metadata["scalerAddress"] = "tributary-gateway:7070";  // KEDA passes its whole map
  for (const auto& [k, v] : metadata) (*ref.mutable_scalermetadata())[k] = v;
  return ref;
}

// The messages of one StreamIsActive call, read on a thread of its own.
class ActivityStream {
 public:
  ActivityStream(ExternalScaler::Stub& stub, const ScaledObjectRef& ref) {
    reader_ = stub.StreamIsActive(&ctx_, ref);
    thread_ = std::thread([this] {
      externalscaler::IsActiveResponse r;
      while (reader_->Read(&r)) {
        std::lock_guard lock(mu_);
        values_.push_back(r.result());
        cv_.notify_all();
      }
    });
  }
  ~ActivityStream() {
    ctx_.TryCancel();
    thread_.join();
    (void)reader_->Finish();
  }
  // The next pushed value, or nullopt after 10 s.
  std::optional<bool> Next() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return !values_.empty(); })) {
      return std::nullopt;
    }
    const bool v = values_.front();
    values_.pop_front();
    return v;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<externalscaler::IsActiveResponse>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<bool> values_;
};

TEST(KedaScalerTest, MetricAndActivityFollowTheRounds) {
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  auto stub = ExternalScaler::NewStub(
      grpc::CreateChannel(serve.target(), grpc::InsecureChannelCredentials()));
  auto is_active = [&](const ScaledObjectRef& ref) {
    grpc::ClientContext ctx;
    externalscaler::IsActiveResponse r;
    grpc::Status s = stub->IsActive(&ctx, ref, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return r.result();
  };
  auto metric = [&](const ScaledObjectRef& ref, const std::string& name, double* value) {
    grpc::ClientContext ctx;
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = ref;
    req.set_metricname(name);
    externalscaler::GetMetricsResponse r;
    grpc::Status s = stub->GetMetrics(&ctx, req, &r);
    if (s.ok()) {
      EXPECT_EQ(r.metricvalues_size(), 1);
      EXPECT_EQ(r.metricvalues(0).metricname(), name);
      EXPECT_EQ(double(r.metricvalues(0).metricvalue()), r.metricvalues(0).metricvaluefloat());
      *value = r.metricvalues(0).metricvaluefloat();
    }
    return s;
  };

  // No job yet: nothing to aggregate, and the stream says so first.
  const ScaledObjectRef all = Ref({});
  EXPECT_FALSE(is_active(all));
  ActivityStream stream(*stub, all);
  EXPECT_EQ(stream.Next(), false);
  {
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse spec;
    ASSERT_TRUE(stub->GetMetricSpec(&ctx, all, &spec).ok());
    ASSERT_EQ(spec.metricspecs_size(), 1);
    EXPECT_EQ(spec.metricspecs(0).metricname(), "tributary-pending-updates");
    EXPECT_EQ(spec.metricspecs(0).targetsizefloat(), 8.0);
  }

  // A job's first round opens: active at once, pushed without a poll.
  const uint64_t job = serve.CreateJob(/*params=*/1000, /*rounds=*/1, /*clients_per_round=*/3);
  ASSERT_NE(job, 0u);
  EXPECT_EQ(stream.Next(), true);
  const ScaledObjectRef one = Ref({{"job", std::to_string(job)}, {"targetPendingUpdates", "2.5"}});
  const std::string name = "tributary-pending-updates-job-" + std::to_string(job);
  {
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse spec;
    ASSERT_TRUE(stub->GetMetricSpec(&ctx, one, &spec).ok());
    ASSERT_EQ(spec.metricspecs_size(), 1);
    EXPECT_EQ(spec.metricspecs(0).metricname(), name);
    EXPECT_EQ(spec.metricspecs(0).targetsizefloat(), 2.5);
    EXPECT_EQ(spec.metricspecs(0).targetsize(), 3);
  }
  EXPECT_TRUE(is_active(one));
  double pending = -1;
  ASSERT_TRUE(metric(one, name, &pending).ok());
  EXPECT_EQ(pending, 3.0);

  // Updates land: fewer pending; the last one completes the job: inactive, pushed.
  std::vector<std::unique_ptr<client::Client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<client::Client>(
        client::ClientOptions{.target = serve.target(), .client_id = "c" + std::to_string(i)}));
    ASSERT_TRUE(clients.back()->Join(job));
  }
  const std::vector<float> update(1000, 1.0f);
  ASSERT_TRUE(clients[0]->Push(job, 1, update, 1));
  ASSERT_TRUE(metric(one, name, &pending).ok());
  EXPECT_EQ(pending, 2.0);
  ASSERT_TRUE(metric(all, "tributary-pending-updates", &pending).ok());
  EXPECT_EQ(pending, 2.0);
  ASSERT_TRUE(clients[1]->Push(job, 1, update, 1));
  ASSERT_TRUE(clients[2]->Push(job, 1, update, 1));
  ASSERT_TRUE(clients[0]->Pull(job, 1, /*wait=*/true));
  EXPECT_EQ(stream.Next(), false);
  EXPECT_FALSE(is_active(one));
  ASSERT_TRUE(metric(one, name, &pending).ok());
  EXPECT_EQ(pending, 0.0);

  // Bad requests.
  EXPECT_EQ(metric(one, "cpu", &pending).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(metric(Ref({{"job", "999"}}), "tributary-pending-updates-job-999", &pending)
                .error_code(),
            grpc::NOT_FOUND);
  EXPECT_EQ(metric(Ref({{"job", "abc"}}), name, &pending).error_code(), grpc::INVALID_ARGUMENT);
  grpc::ClientContext ctx;
  externalscaler::IsActiveResponse r;
  EXPECT_EQ(stub->IsActive(&ctx, Ref({{"targetPendingUpdates", "0"}}), &r).error_code(),
            grpc::INVALID_ARGUMENT);
}

// A job aggregated in a tree: the leaf tier counts the updates the round waits for, the inner
// tier the partials of finished nodes waiting for the node above.
TEST(KedaScalerTest, TreeJobsReportTheirLeafAndInnerTiers) {
  ServeProcess serve({"--aggregators", "1"});
  ASSERT_TRUE(serve.ok());
  auto stub = ExternalScaler::NewStub(
      grpc::CreateChannel(serve.target(), grpc::InsecureChannelCredentials()));
  v1::JobSpec spec;
  spec.set_name("tree");
  spec.set_params(1000);
  spec.set_rounds(1);
  spec.set_clients_per_round(8);
  spec.set_fan_in(2);
  v1::JobInfo info;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(serve.op().CreateJob(&ctx, spec, &info).ok());
  }
  const std::string job = std::to_string(info.job_id());
  auto metric = [&](const std::string& tier) {
    grpc::ClientContext ctx;
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = Ref({{"job", job}, {"tier", tier}});
    req.set_metricname("tributary-pending-updates-job-" + job +
                       (tier == "all" ? "" : "-tier-" + tier));
    externalscaler::GetMetricsResponse r;
    grpc::Status s = stub->GetMetrics(&ctx, req, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? r.metricvalues(0).metricvalue() : -1;
  };
  EXPECT_EQ(metric("leaf"), 8);
  EXPECT_EQ(metric("inner"), 0);
  // Two updates fill the first leaf (fan-in 2); its partial waits for the second leaf's in the
  // middle above them.
  for (int i = 0; i < 2; ++i) {
    client::Client c({.target = serve.target(), .client_id = "c" + std::to_string(i)});
    ASSERT_TRUE(c.Join(info.job_id()));
    ASSERT_TRUE(c.Push(info.job_id(), 1, std::vector<float>(1000, 1.0f), 1));
  }
  int64_t inner = 0;
  for (int i = 0; i < 500 && inner == 0; ++i) {
    inner = metric("inner");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(inner, 1);
  EXPECT_EQ(metric("leaf"), 6);
  EXPECT_EQ(metric("all"), 7);
  grpc::ClientContext ctx;
  externalscaler::IsActiveResponse r;
  EXPECT_EQ(stub->IsActive(&ctx, Ref({{"tier", "middle"}}), &r).error_code(),
            grpc::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace tributary::testing
