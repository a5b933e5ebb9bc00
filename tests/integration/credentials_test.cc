// Per-client credentials end to end, against a real `tributary serve`: a restricted job (an
// access list and an enrolment token) admits only listed clients presenting the token; every
// Push, Pull and Tasks call must carry the access token Join issued for that client and job,
// so a client can push neither without it, nor as another client, nor into another job, and a
// refused call changes nothing; job replies never carry the enrolment token; with
// --operator-token-file the operator service needs the operator token, and the CLI passes it
// (and sets a restricted job's initial model with it).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "clients/cpp/client.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kParams = 1000;
constexpr char kEnrolment[] = "enrol-7f3a9c2e51d04b88";

// Creates a 1-round, 2-client job restricted to alice and bob with kEnrolment; 0 on failure.
uint64_t CreateRestrictedJob(ServeProcess& serve) {
  v1::JobSpec spec;
  spec.set_name("restricted");
  spec.set_params(kParams);
  spec.set_rounds(1);
  spec.set_clients_per_round(2);
  spec.mutable_access()->add_allowed_clients("alice");
  spec.mutable_access()->add_allowed_clients("bob");
  spec.mutable_access()->set_enrolment_token(kEnrolment);
  grpc::ClientContext ctx;
  v1::JobInfo info;
  grpc::Status s = serve.op().CreateJob(&ctx, spec, &info);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return s.ok() ? info.job_id() : 0;
}

client::ClientOptions Options(const ServeProcess& serve, const std::string& id,
                              const std::string& enrolment = kEnrolment) {
  client::ClientOptions o;
  o.target = serve.target();
  o.client_id = id;
  o.enrolment_token = enrolment;
  o.max_attempts = 1;
  return o;
}

TEST(CredentialsTest, RestrictedJobAdmitsOnlyListedClientsWithTheEnrolmentToken) {
  ServeProcess serve({"--insecure"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = CreateRestrictedJob(serve);
  ASSERT_NE(job, 0u);

  auto stranger = client::Client(Options(serve, "mallory")).Join(job);
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error().code(), StatusCode::kPermissionDenied) << stranger.error();
  EXPECT_NE(stranger.error().message().find("not allowed"), std::string::npos);

  auto no_token = client::Client(Options(serve, "alice", "")).Join(job);
  ASSERT_FALSE(no_token);
  EXPECT_EQ(no_token.error().code(), StatusCode::kUnauthenticated) << no_token.error();

  auto wrong_token = client::Client(Options(serve, "alice", "enrol-0000000000000000")).Join(job);
  ASSERT_FALSE(wrong_token);
  EXPECT_EQ(wrong_token.error().code(), StatusCode::kUnauthenticated) << wrong_token.error();

  auto alice = client::Client(Options(serve, "alice")).Join(job);
  ASSERT_TRUE(alice) << alice.error();
  EXPECT_EQ(alice->access_token().size(), 64u);
  auto bob = client::Client(Options(serve, "bob")).Join(job);
  ASSERT_TRUE(bob) << bob.error();
  EXPECT_NE(bob->access_token(), alice->access_token());
  // Joining again is idempotent and returns the same token.
  EXPECT_EQ(client::Client(Options(serve, "alice")).Join(job)->access_token(),
            alice->access_token());
}

TEST(CredentialsTest, CallsOfARestrictedJobNeedTheTokenOfTheirClientAndJob) {
  ServeProcess serve({"--insecure"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = CreateRestrictedJob(serve);
  const uint64_t other_job = CreateRestrictedJob(serve);
  ASSERT_NE(job, 0u);
  ASSERT_NE(other_job, 0u);
  client::Client alice(Options(serve, "alice"));
  auto joined = alice.Join(job);
  ASSERT_TRUE(joined) << joined.error();
  const std::string alice_token = joined->access_token();
  client::Client bob(Options(serve, "bob"));
  ASSERT_TRUE(bob.Join(job));
  const std::vector<float> ones(kParams, 1.0f), fours(kParams, 4.0f);

  auto expect_refused = [&](client::ClientOptions o, const char* what) {
    o.enrolment_token.clear();
    client::Client c(o);  // never joined: sends o.access_token, if any
    auto push = c.PushOnce(job, 1, ones, 1);
    ASSERT_FALSE(push) << what;
    EXPECT_EQ(push.error().code(), StatusCode::kUnauthenticated) << what << ": " << push.error();
    auto pull = c.Pull(job, 0, false);
    ASSERT_FALSE(pull) << what;
    EXPECT_EQ(pull.error().code(), StatusCode::kUnauthenticated) << what << ": " << pull.error();
    auto tasks = c.Tasks(job, 1, false);
    ASSERT_FALSE(tasks) << what;
    EXPECT_EQ(tasks.error().code(), StatusCode::kUnauthenticated) << what;
  };
  auto with_token = [&](const std::string& id, const std::string& token) {
    client::ClientOptions o = Options(serve, id);
    o.access_token = token;
    return o;
  };
  expect_refused(with_token("alice", ""), "no token");
  expect_refused(with_token("alice", std::string(64, 'f')), "forged token");
  expect_refused(with_token("bob", alice_token), "alice's token used as bob");
  // Alice's token of `job` does not open `other_job`, which admits alice too.
  {
    client::Client c(with_token("alice", alice_token));
    auto push = c.PushOnce(other_job, 1, ones, 1);
    ASSERT_FALSE(push);
    EXPECT_EQ(push.error().code(), StatusCode::kUnauthenticated) << push.error();
  }
  // Nothing refused reached either job.
  EXPECT_EQ(serve.GetJob(job).updates_in_round(), 0u);
  EXPECT_EQ(serve.GetJob(other_job).updates_in_round(), 0u);

  // With their tokens the round runs and publishes the exact weighted average.
  ASSERT_TRUE(alice.Push(job, 1, ones, 1));
  ASSERT_TRUE(bob.Push(job, 1, fours, 3));
  auto model = alice.Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  ASSERT_EQ(model->values.size(), kParams);
  for (float v : model->values) ASSERT_FLOAT_EQ(v, 3.25f);
}

TEST(CredentialsTest, JobRepliesNeverCarryTheEnrolmentToken) {
  ServeProcess serve({"--insecure"});
  ASSERT_TRUE(serve.ok());
  const uint64_t job = CreateRestrictedJob(serve);
  ASSERT_NE(job, 0u);
  const v1::JobInfo info = serve.GetJob(job);
  EXPECT_TRUE(info.spec().access().enrolment_token().empty());
  EXPECT_TRUE(info.spec().access().enrolment_token_set());
  EXPECT_EQ(info.spec().access().allowed_clients_size(), 2);
  grpc::ClientContext ctx;
  v1::ListJobsReply list;
  ASSERT_TRUE(serve.op().ListJobs(&ctx, v1::ListJobsRequest(), &list).ok());
  ASSERT_EQ(list.jobs_size(), 1);
  EXPECT_EQ(list.jobs(0).SerializeAsString().find(kEnrolment), std::string::npos);
  auto joined = client::Client(Options(serve, "alice")).Join(job);
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->SerializeAsString().find(kEnrolment), std::string::npos);

  // Malformed access settings are refused at creation.
  v1::JobSpec bad;
  bad.set_params(10);
  bad.set_rounds(1);
  bad.set_clients_per_round(1);
  bad.mutable_access()->set_enrolment_token("short");
  grpc::ClientContext bad_ctx;
  v1::JobInfo bad_info;
  grpc::Status s = serve.op().CreateJob(&bad_ctx, bad, &bad_info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

class OperatorTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tributary-operator-token-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::ofstream(File("operator.token")) << kOperatorToken << "\n";
    std::ofstream(File("wrong.token")) << "not-the-operator-token\n";
    std::ofstream(File("enrolment.token")) << kEnrolment << "\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string File(const std::string& name) const { return (dir_ / name).string(); }

  static constexpr char kOperatorToken[] = "op-2b8e61d9c04f4a7c";
  fs::path dir_;
};

TEST_F(OperatorTokenTest, OperatorServiceNeedsTheOperatorToken) {
  ServeProcess serve({"--insecure", "--operator-token-file", File("operator.token")});
  ASSERT_TRUE(serve.ok());
  v1::ListJobsReply reply;
  {
    grpc::ClientContext ctx;
    grpc::Status s = serve.op().ListJobs(&ctx, v1::ListJobsRequest(), &reply);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer not-the-operator-token");
    grpc::Status s = serve.op().ListJobs(&ctx, v1::ListJobsRequest(), &reply);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kOperatorToken);
    grpc::Status s = serve.op().ListJobs(&ctx, v1::ListJobsRequest(), &reply);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  std::string out;
  EXPECT_NE(RunTributary({"job", "list", "--server", serve.target(), "--operator-token-file",
                          File("wrong.token")},
                         &out),
            0);
  EXPECT_NE(out.find("operator token is not valid"), std::string::npos) << out;
}

// The CLI end to end: the operator creates a restricted job with an initial model (set with
// the operator token), and simulated clients enrol with the job's token and run it.
TEST_F(OperatorTokenTest, CliRunsARestrictedJob) {
  ServeProcess serve({"--insecure", "--operator-token-file", File("operator.token")});
  ASSERT_TRUE(serve.ok());
  const std::string npy = WriteNpy(std::vector<float>(10, 0.5f));
  struct RemoveAtExit {
    std::string path;
    ~RemoveAtExit() { std::remove(path.c_str()); }
  } remove_npy{npy};
  std::string out;
  ASSERT_EQ(RunTributary({"job", "create", "--server", serve.target(), "--operator-token-file",
                          File("operator.token"), "--name", "cli", "--params", "10", "--rounds",
                          "2", "--clients-per-round", "3", "--enrolment-token-file",
                          File("enrolment.token"), "--initial-model", npy},
                         &out),
            0)
      << out;
  const uint64_t job = LastLineNumber(out);
  ASSERT_NE(job, 0u) << out;
  // The initial model the operator set is version 0.
  client::ClientOptions reader = {};
  reader.target = serve.target();
  reader.client_id = "reader";
  reader.enrolment_token = kEnrolment;
  client::Client c(reader);
  ASSERT_TRUE(c.Join(job));
  auto v0 = c.Pull(job, 0, false);
  ASSERT_TRUE(v0) << v0.error();
  ASSERT_EQ(v0->values.size(), 10u);
  for (float v : v0->values) EXPECT_EQ(v, 0.5f);
  // Without the enrolment token the simulated clients cannot join.
  EXPECT_NE(RunTributary({"sim", "--server", serve.target(), "--job", std::to_string(job),
                          "--clients", "3"},
                         &out),
            0);
  EXPECT_NE(out.find("enrolment token"), std::string::npos) << out;
  ASSERT_EQ(RunTributary({"sim", "--server", serve.target(), "--job", std::to_string(job),
                          "--clients", "3", "--enrolment-token-file", File("enrolment.token")},
                         &out),
            0)
      << out;
}

}  // namespace
}  // namespace tributary::testing
