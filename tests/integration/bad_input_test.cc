// Every malformed or unwelcome push gets its precise gRPC status, and the round still
// publishes the exact weighted average of the valid updates.
#include <gtest/gtest.h>

#include <cmath>

#include "clients/cpp/client.h"
#include "tests/integration/push_helpers.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

constexpr std::size_t kParams = 1000;

std::vector<float> Values(float base) {
  std::vector<float> v(kParams);
  for (std::size_t i = 0; i < kParams; ++i) v[i] = base + 0.001f * float(i);
  return v;
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(serve_.ok());
    job_ = serve_.CreateJob(kParams, /*rounds=*/2, /*clients_per_round=*/3);
    ASSERT_NE(job_, 0u);
    stub_ = v1::ClientService::NewStub(
        grpc::CreateChannel(serve_.target(), grpc::InsecureChannelCredentials()));
    for (const char* c : {"a", "b", "c", "d"}) ASSERT_TRUE(Join(*stub_, job_, c).ok());
  }

  void ExpectRefused(grpc::Status s, grpc::StatusCode code, const std::string& fragment) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_NE(s.error_message().find(fragment), std::string::npos) << s.error_message();
  }

  ServeProcess serve_;
  uint64_t job_ = 0;
  std::unique_ptr<v1::ClientService::Stub> stub_;
};

TEST_F(BadInputTest, EachBadPushIsRefusedAndTheRoundStaysExact) {
  const auto a = Values(1), b = Values(-2), c = Values(5), d = Values(100);

  // The first valid update is accepted before the bad ones arrive: none of them may disturb it.
  ASSERT_TRUE(PushUpdate(*stub_, job_, 1, "a", a, 10).ok());

  ExpectRefused(PushUpdate(*stub_, 999, 1, "b", b, 10), grpc::NOT_FOUND, "job 999");
  ExpectRefused(PushUpdate(*stub_, job_, 1, "stranger", b, 10), grpc::FAILED_PRECONDITION,
                "has not joined");
  ExpectRefused(PushUpdate(*stub_, job_, 1, "a", a, 10), grpc::ALREADY_EXISTS, "already pushed");
  ExpectRefused(PushUpdate(*stub_, job_, 2, "b", b, 10), grpc::FAILED_PRECONDITION, "not open");
  ExpectRefused(PushUpdate(*stub_, job_, 1, "b", std::span(b).first(kParams - 1), 10),
                grpc::INVALID_ARGUMENT, "expects 4000");
  ExpectRefused(PushUpdate(*stub_, job_, 1, "b", b, 0), grpc::INVALID_ARGUMENT, "num_examples");
  {  // wrong dtype
    PushStream s(*stub_);
    auto h = Header(job_, 1, "b", b);
    h.set_dtype(v1::DTYPE_FLOAT64);
    s.Send(h);
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "dtype");
  }
  {  // a NaN in the middle of the update
    auto bad = b;
    bad[500] = std::nanf("");
    ExpectRefused(PushUpdate(*stub_, job_, 1, "b", bad, 10), grpc::INVALID_ARGUMENT,
                  "value 500 is not finite");
  }
  {  // an Inf
    auto bad = b;
    bad[999] = INFINITY;
    ExpectRefused(PushUpdate(*stub_, job_, 1, "b", bad, 10), grpc::INVALID_ARGUMENT,
                  "value 999 is not finite");
  }
  {  // bytes that do not match the header's checksum
    PushStream s(*stub_);
    auto h = Header(job_, 1, "b", b);
    h.set_checksum(h.checksum() ^ 1);
    s.Send(h);
    s.SendAll(b);
    ExpectRefused(s.Finish(), grpc::DATA_LOSS, "checksum");
  }
  {  // a trailer whose checksum does not match the bytes
    PushStream s(*stub_);
    s.Send(TrailerHeader(job_, 1, "b", b));
    s.SendAll(b);
    s.SendTrailer(Checksum(b) ^ 1);
    ExpectRefused(s.Finish(), grpc::DATA_LOSS, "checksum");
  }
  {  // a trailer announced, never sent
    PushStream s(*stub_);
    s.Send(TrailerHeader(job_, 1, "b", b));
    s.SendAll(b);
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "without the UpdateTrailer");
  }
  {  // a trailer the header did not announce
    PushStream s(*stub_);
    s.Send(Header(job_, 1, "b", b));
    s.SendAll(b);
    s.SendTrailer(Checksum(b));
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "did not set checksum_in_trailer");
  }
  {  // a chunk after the trailer
    PushStream s(*stub_);
    s.Send(TrailerHeader(job_, 1, "b", b));
    s.SendAll(std::span(b).first(kParams - 4));
    s.SendTrailer(Checksum(b));
    s.SendAll(std::span(b).last(4));
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "nothing may follow");
  }
  {  // truncated: half the bytes, then end of stream
    PushStream s(*stub_);
    s.Send(Header(job_, 1, "b", b));
    s.SendAll(std::span(b).first(kParams / 2));
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "truncated");
  }
  {  // more bytes than declared
    PushStream s(*stub_);
    s.Send(Header(job_, 1, "b", b));
    s.SendAll(b);
    s.SendAll(std::span(b).first(4));
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "more than");
  }
  {  // a chunk before the header
    PushStream s(*stub_);
    s.SendAll(b);
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "first message");
  }
  {  // a chunk that splits a float
    PushStream s(*stub_);
    s.Send(Header(job_, 1, "b", b));
    s.SendChunk(b.data(), 6);
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "whole number");
  }
  {  // two headers
    PushStream s(*stub_);
    s.Send(Header(job_, 1, "b", b));
    s.Send(Header(job_, 1, "b", b));
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "exactly one");
  }
  {  // an empty stream
    PushStream s(*stub_);
    ExpectRefused(s.Finish(), grpc::INVALID_ARGUMENT, "before its header");
  }

  // None of the refused pushes took a slot or counted as an update.
  v1::JobInfo mid = serve_.GetJob(job_);
  EXPECT_EQ(mid.updates_in_round(), 1u);
  EXPECT_EQ(mid.open_round(), 1u);
  EXPECT_EQ(mid.pool_free_slots(), mid.pool_slots() - 3);  // v0, the output and a

  {  // b's checksum comes in the trailer; a and c declare theirs in the header
    PushStream s(*stub_);
    ASSERT_TRUE(s.Send(TrailerHeader(job_, 1, "b", b, 30)));
    ASSERT_TRUE(s.SendAll(b));
    ASSERT_TRUE(s.SendTrailer(Checksum(b)));
    ASSERT_TRUE(s.Finish().ok());
  }
  ASSERT_TRUE(PushUpdate(*stub_, job_, 1, "c", c, 60).ok());
  // Round 1 is closed: a late push for it is refused, while a client whose update it accepted
  // and who retries (its acknowledgement lost) learns that it was accepted.
  ExpectRefused(PushUpdate(*stub_, job_, 1, "d", d, 10), grpc::FAILED_PRECONDITION, "closed");
  ExpectRefused(PushUpdate(*stub_, job_, 1, "a", a, 10), grpc::ALREADY_EXISTS, "accepted it");

  client::Client sdk({.target = serve_.target(), .client_id = "a"});
  auto model = sdk.Pull(job_, 1, /*wait=*/true);
  ASSERT_TRUE(model) << model.error();
  // Still so once round 2 is open; the retry changed nothing.
  ExpectRefused(PushUpdate(*stub_, job_, 1, "b", b, 30), grpc::ALREADY_EXISTS, "accepted it");
  EXPECT_EQ(serve_.GetJob(job_).updates_in_round(), 0u);
  EXPECT_EQ(model->version, 1u);
  ASSERT_EQ(model->values.size(), kParams);
  for (std::size_t i = 0; i < kParams; ++i) {
    const double expect = (10.0 * a[i] + 30.0 * b[i] + 60.0 * c[i]) / 100.0;
    ASSERT_NEAR(model->values[i], expect, 1e-5 * std::max(1.0, std::abs(expect))) << i;
  }
}

TEST_F(BadInputTest, PullAndJoinRefuseBadRequests) {
  client::Client sdk({.target = serve_.target(), .client_id = "a", .max_attempts = 1});
  auto missing = sdk.Pull(12345, 0, false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
  auto future = sdk.Pull(job_, 1, /*wait=*/false);
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code(), StatusCode::kNotFound);
  EXPECT_NE(future.error().message().find("not published"), std::string::npos);
  auto beyond = sdk.Pull(job_, 7, true);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code(), StatusCode::kOutOfRange);
  auto initial = sdk.Pull(job_, 0, false);
  ASSERT_TRUE(initial) << initial.error();
  EXPECT_EQ(initial->values, std::vector<float>(kParams, 0.0f));
  EXPECT_EQ(Join(*stub_, job_, "").error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Join(*stub_, job_, std::string(200, 'x')).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(Join(*stub_, 777, "a").error_code(), grpc::NOT_FOUND);
}

TEST_F(BadInputTest, InvalidJobSpecsAreRefused) {
  auto create = [&](v1::JobSpec spec) {
    grpc::ClientContext ctx;
    v1::JobInfo info;
    return serve_.op().CreateJob(&ctx, spec, &info);
  };
  v1::JobSpec ok;
  ok.set_name("x");
  ok.set_params(10);
  ok.set_rounds(1);
  ok.set_clients_per_round(2);
  auto spec = ok;
  spec.set_params(0);
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  spec = ok;
  spec.set_rule("nonsense");
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  spec = ok;
  spec.set_min_clients(3);
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  spec = ok;
  spec.set_dtype(v1::DTYPE_FLOAT64);
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  spec = ok;
  spec.set_params(1ull << 33);  // 32 GiB per slot: beyond the node's shared-memory budget
  EXPECT_EQ(create(spec).error_code(), grpc::RESOURCE_EXHAUSTED);
  spec = ok;
  spec.set_update_kind(static_cast<v1::UpdateKind>(7));  // not a kind this server knows
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  spec = ok;
  spec.set_server_learning_rate(0.5);  // a server step without delta updates
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  spec.set_update_kind(v1::UPDATE_KIND_DELTA);
  spec.set_server_learning_rate(-1);
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  spec.set_server_learning_rate(std::nan(""));
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  spec = ok;
  spec.set_rule("python:nodot");
  EXPECT_EQ(create(spec).error_code(), grpc::INVALID_ARGUMENT);
  // Sequential gradient coding: B, W and lambda are required and must fit together.
  auto sgc = ok;
  sgc.mutable_coding()->set_scheme("m-sgc");
  sgc.set_clients_per_round(4);
  ExpectRefused(create(sgc), grpc::INVALID_ARGUMENT, "burst, window and window_stragglers");
  sgc.mutable_coding()->set_burst(3);
  sgc.mutable_coding()->set_window(3);
  sgc.mutable_coding()->set_window_stragglers(1);
  ExpectRefused(create(sgc), grpc::INVALID_ARGUMENT, "B <= W-1");
  sgc.mutable_coding()->set_burst(2);
  sgc.mutable_coding()->set_window_stragglers(4);
  ExpectRefused(create(sgc), grpc::INVALID_ARGUMENT, "lambda");
  sgc.mutable_coding()->set_window_stragglers(1);
  spec = sgc;
  spec.mutable_coding()->set_scheme("sr-sgc");  // B = 2 must divide W-1 = 3
  spec.mutable_coding()->set_window(4);
  ExpectRefused(create(spec), grpc::INVALID_ARGUMENT, "divide");
  spec = sgc;
  spec.set_rule("median");
  ExpectRefused(create(spec), grpc::INVALID_ARGUMENT, "leave rule unset");
  spec = sgc;
  spec.set_update_kind(v1::UPDATE_KIND_DELTA);
  ExpectRefused(create(spec), grpc::INVALID_ARGUMENT, "update_kind");
  spec = sgc;
  spec.set_rounds(1u << 20);
  ExpectRefused(create(spec), grpc::INVALID_ARGUMENT, "limited");
  EXPECT_TRUE(create(sgc).ok());
  EXPECT_TRUE(create(ok).ok());
}

TEST_F(BadInputTest, TaskRequestsAndTaskResultsAreChecked) {
  v1::JobSpec spec;
  spec.set_name("sgc");
  spec.set_params(kParams);
  spec.set_rounds(2);
  spec.set_clients_per_round(3);
  spec.mutable_coding()->set_scheme("m-sgc");
  spec.mutable_coding()->set_burst(1);
  spec.mutable_coding()->set_window(2);
  spec.mutable_coding()->set_window_stragglers(1);
  grpc::ClientContext ctx;
  v1::JobInfo info;
  ASSERT_TRUE(serve_.op().CreateJob(&ctx, spec, &info).ok());
  const uint64_t sgc = info.job_id();
  client::Client a({.target = serve_.target(), .client_id = "a", .max_attempts = 1});
  client::Client stranger({.target = serve_.target(), .client_id = "z", .max_attempts = 1});
  ASSERT_TRUE(a.Join(sgc));
  auto expect = [](const auto& r, StatusCode code, const std::string& fragment) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), code) << r.error();
    EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error();
  };
  expect(a.Tasks(job_, 1), StatusCode::kFailedPrecondition, "not sequentially coded");
  expect(stranger.Tasks(sgc, 1), StatusCode::kFailedPrecondition, "has not joined");
  expect(a.Tasks(sgc, 0), StatusCode::kOutOfRange, "outside");
  expect(a.Tasks(sgc, 99), StatusCode::kOutOfRange, "outside");
  expect(a.Tasks(sgc, 2, /*wait=*/false), StatusCode::kFailedPrecondition, "not open yet");
  auto tasks = a.Tasks(sgc, 1);
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_GE(tasks->tasks_size(), 1);
  EXPECT_EQ(tasks->workers(), 3u);
  EXPECT_EQ(tasks->tasks(0).version(), 1u);
  const auto result = Values(1.0f);
  expect(a.PushOnce(job_, 1, result, 1, /*task=*/3), StatusCode::kInvalidArgument,
         "sequentially coded");
  expect(a.PushOnce(sgc, 1, result, 1, /*task=*/40), StatusCode::kInvalidArgument, "no task 40");
  const uint32_t slot = tasks->tasks(0).slot();
  ASSERT_TRUE(a.PushOnce(sgc, 1, result, 1, slot));
  expect(a.PushOnce(sgc, 1, result, 1, slot), StatusCode::kAlreadyExists, "already pushed");
  auto info_now = serve_.GetJob(sgc);
  EXPECT_EQ(info_now.updates_in_round(), 1u);
  EXPECT_EQ(info_now.open_round(), 1u);
}

}  // namespace
}  // namespace tributary::testing
