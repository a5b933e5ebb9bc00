// A full shared-memory pool answers RESOURCE_EXHAUSTED at once (backpressure, not unbounded
// growth); the streams it already accepted complete and the round publishes their exact average.
#include <gtest/gtest.h>

#include "clients/cpp/client.h"
#include "tests/integration/push_helpers.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

TEST(BackpressureTest, FullPoolRefusesThenRecovers) {
  constexpr std::size_t kParams = 4096;
  ServeProcess serve;
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/2);
  ASSERT_NE(job, 0u);
  auto stub = v1::ClientService::NewStub(
      grpc::CreateChannel(serve.target(), grpc::InsecureChannelCredentials()));
  const v1::JobInfo info = serve.GetJob(job);
  const uint32_t free_at_start = info.pool_free_slots();
  ASSERT_GT(free_at_start, 2u);

  // Hold one streaming push per free slot: each has sent its header and taken a slot.
  std::vector<std::vector<float>> values;
  std::vector<std::unique_ptr<PushStream>> held;
  for (uint32_t i = 0; i < free_at_start; ++i) {
    const std::string id = "held" + std::to_string(i);
    ASSERT_TRUE(Join(*stub, job, id).ok());
    values.emplace_back(kParams, float(i + 1));
    held.push_back(std::make_unique<PushStream>(*stub));
    ASSERT_TRUE(held.back()->Send(Header(job, 1, id, values.back(), 10 * (i + 1))));
  }
  // The header is processed asynchronously; wait until every slot is taken.
  for (int i = 0; i < 200 && serve.GetJob(job).pool_free_slots() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(serve.GetJob(job).pool_free_slots(), 0u);

  ASSERT_TRUE(Join(*stub, job, "late").ok());
  std::vector<float> late(kParams, 7.0f);
  grpc::Status refused = PushUpdate(*stub, job, 1, "late", late, 5);
  EXPECT_EQ(refused.error_code(), grpc::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("full"), std::string::npos);

  // Two of the held streams complete: the round closes with exactly them.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(held[i]->SendAll(values[i]));
    grpc::Status s = held[i]->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  client::Client sdk({.target = serve.target(), .client_id = "held0"});
  auto model = sdk.Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  const float expect = (10.0f * 1 + 20.0f * 2) / 30.0f;
  for (float v : model->values) ASSERT_NEAR(v, expect, 1e-6);
  // The others find their round closed, and give their slots back.
  for (std::size_t i = 2; i < held.size(); ++i) {
    held[i]->SendAll(values[i]);
    EXPECT_EQ(held[i]->Finish().error_code(), grpc::FAILED_PRECONDITION);
  }
  // Retained: versions 0 and 1, and round 2's output.
  EXPECT_EQ(serve.GetJob(job).pool_free_slots(), info.pool_slots() - 3);
}

// The node's shared-memory budget (serve --shm-budget-mb) counts each pool whole, header and
// tables beside its slots: what the node reserves is what JobInfo reports, and a budget that
// holds two pools' slots but not two pools takes one job and refuses the second.
TEST(BackpressureTest, ShmBudgetCountsWholePools) {
  constexpr uint64_t kParams = 1u << 18;  // slots of 1 MiB
  uint64_t pool_bytes = 0, slot_data = 0;
  {
    ServeProcess serve({"--metrics-listen", "127.0.0.1:0"});
    ASSERT_TRUE(serve.ok());
    const uint64_t a = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/1);
    const uint64_t b = serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/1);
    ASSERT_NE(a, 0u);
    ASSERT_NE(b, 0u);
    const v1::JobInfo info = serve.GetJob(a);
    pool_bytes = info.pool_bytes();
    slot_data = uint64_t(info.pool_slots()) * kParams * sizeof(float);
    EXPECT_GT(pool_bytes, slot_data);
    EXPECT_EQ(serve.GetJob(b).pool_bytes(), pool_bytes);
    EXPECT_TRUE(serve.AwaitMetric("tributary_shm_bytes_reserved", double(2 * pool_bytes)))
        << serve.Metrics();
  }
  ServeProcess serve({"--shm-budget-mb", std::to_string(2 * slot_data >> 20)});
  ASSERT_TRUE(serve.ok());
  ASSERT_NE(serve.CreateJob(kParams, /*rounds=*/1, /*clients_per_round=*/1), 0u);
  v1::JobSpec spec;
  spec.set_name("second");
  spec.set_params(kParams);
  spec.set_rounds(1);
  spec.set_clients_per_round(1);
  grpc::ClientContext ctx;
  v1::JobInfo created;
  const grpc::Status refused = serve.op().CreateJob(&ctx, spec, &created);
  EXPECT_EQ(refused.error_code(), grpc::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("MiB of shared memory"), std::string::npos)
      << refused.error_message();
}

}  // namespace
}  // namespace tributary::testing
