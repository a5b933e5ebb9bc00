// TLS and mutual TLS on the gateway's gRPC port, end to end: certificates made by
// `tributary certs`, a real `tributary serve --tls-cert/--tls-key [--tls-client-ca]`, and the
// C++ SDK and CLI as clients. A wrong CA, a plaintext client and a missing client certificate
// are refused at the handshake; under mTLS a certificate binds its holder to the client id in
// its CN, and only operator certificates reach the operator service.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <sys/stat.h>

#include "clients/cpp/client.h"
#include "tests/integration/serve_process.h"

namespace tributary::testing {
namespace {

namespace fs = std::filesystem;

class TlsTest : public ::testing::Test {
 protected:
  // Two independent CAs: `certs_` (the server's) and `other_` (a stranger's), with the same ids.
  static void SetUpTestSuite() {
    root_ = new std::string((fs::temp_directory_path() /
                             ("tributary-tls-" + std::to_string(getpid())))
                                .string());
    for (const char* name : {"certs", "other"}) {
      std::string out;
      ASSERT_EQ(RunTributary({"certs", "--out", *root_ + "/" + name, "--client", "alice",
                              "--client", "bob"},
                             &out),
                0)
          << out;
    }
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
  }

  static std::string Certs(const std::string& file) { return *root_ + "/certs/" + file; }
  static std::string Other(const std::string& file) { return *root_ + "/other/" + file; }

  static std::vector<std::string> TlsArgs() {
    return {"--tls-cert", Certs("server.pem"), "--tls-key", Certs("server-key.pem")};
  }
  static std::vector<std::string> MutualTlsArgs() {
    auto args = TlsArgs();
    args.insert(args.end(), {"--tls-client-ca", Certs("ca.pem")});
    return args;
  }
  // SDK options of `id` trusting `ca`, presenting `cert_id`'s certificate unless empty.
  static client::ClientOptions Options(const std::string& target, const std::string& id,
                                       const std::string& ca, const std::string& cert_id = "") {
    client::ClientOptions o = CaOnly(ca);
    o.target = target;
    o.client_id = id;
    o.max_attempts = 1;
    if (!cert_id.empty()) {
      o.tls_cert_file = Certs(cert_id + ".pem");
      o.tls_key_file = Certs(cert_id + "-key.pem");
    }
    return o;
  }
  // Options that trust `ca` and nothing else set (the TLS side of ServeProcess::op()).
  static client::ClientOptions CaOnly(const std::string& ca) {
    client::ClientOptions o;
    o.tls_ca_file = ca;
    return o;
  }
  static client::ClientOptions OperatorTls() {
    client::ClientOptions o = CaOnly(Certs("ca.pem"));
    o.tls_cert_file = Certs("operator.pem");
    o.tls_key_file = Certs("operator-key.pem");
    return o;
  }

  static std::string* root_;
};
std::string* TlsTest::root_ = nullptr;

TEST_F(TlsTest, CertsCommandWritesPrivateKeysAndServerNames) {
  struct stat st;
  ASSERT_EQ(stat((*root_ + "/certs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const char* key : {"ca-key.pem", "server-key.pem", "alice-key.pem", "operator-key.pem"}) {
    ASSERT_EQ(stat(Certs(key).c_str(), &st), 0) << key;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
  }
  std::string out;
  ASSERT_EQ(RunTributary({"certs", "--out", *root_ + "/certs", "--client", "server"}, &out), 1);
  EXPECT_NE(out.find("would overwrite"), std::string::npos) << out;
}

TEST_F(TlsTest, RoundCompletesOverTls) {
  ServeProcess serve(TlsArgs(), {}, CaOnly(Certs("ca.pem")));
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(1000, 1, 2);
  ASSERT_NE(job, 0u);
  client::Client alice(Options(serve.target(), "alice", Certs("ca.pem")));
  client::Client bob(Options(serve.target(), "bob", Certs("ca.pem")));
  auto joined = alice.Join(job);
  ASSERT_TRUE(joined) << joined.error();
  EXPECT_EQ(joined->bulk_port(), 0u) << "bulk pushes are plaintext: none under TLS";
  ASSERT_TRUE(bob.Join(job));
  std::vector<float> a(1000, 1.0f), b(1000, 4.0f);
  ASSERT_TRUE(alice.Push(job, 1, a, 2));
  ASSERT_TRUE(bob.Push(job, 1, b, 1));
  auto model = alice.Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  ASSERT_EQ(model->values.size(), 1000u);
  EXPECT_FLOAT_EQ(model->values[0], 2.0f);
  EXPECT_FLOAT_EQ(model->values[999], 2.0f);
}

TEST_F(TlsTest, ClientTrustingAnotherCaIsRefused) {
  ServeProcess serve(TlsArgs(), {}, CaOnly(Certs("ca.pem")));
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(10, 1, 1);
  ASSERT_NE(job, 0u);
  client::Client stranger(Options(serve.target(), "alice", Other("ca.pem")));
  auto joined = stranger.Join(job);
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code(), StatusCode::kUnavailable) << joined.error();
}

TEST_F(TlsTest, PlaintextClientIsRefused) {
  ServeProcess serve(TlsArgs(), {}, CaOnly(Certs("ca.pem")));
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(10, 1, 1);
  ASSERT_NE(job, 0u);
  client::ClientOptions plain_options;
  plain_options.target = serve.target();
  plain_options.client_id = "alice";
  plain_options.max_attempts = 1;
  client::Client plain(plain_options);
  auto joined = plain.Join(job);
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code(), StatusCode::kUnavailable) << joined.error();
}

TEST_F(TlsTest, CliCreatesAndSimulatesOverTls) {
  ServeProcess serve(TlsArgs(), {}, CaOnly(Certs("ca.pem")));
  ASSERT_TRUE(serve.ok());
  std::string out;
  ASSERT_EQ(RunTributary({"job", "create", "--server", serve.target(), "--tls-ca", Certs("ca.pem"),
                          "--name", "tls", "--params", "10000", "--rounds", "2",
                          "--clients-per-round", "3"},
                         &out),
            0)
      << out;
  const uint64_t job = LastLineNumber(out);
  ASSERT_NE(job, 0u) << out;
  std::string sim;
  EXPECT_EQ(RunTributary({"sim", "--server", serve.target(), "--tls-ca", Certs("ca.pem"), "--job",
                          std::to_string(job), "--clients", "3"},
                         &sim),
            0)
      << sim;
  EXPECT_NE(sim.find("2 rounds verified"), std::string::npos) << sim;
  std::string plain;
  EXPECT_NE(RunTributary({"job", "get", "--server", serve.target(), "--job", std::to_string(job)},
                         &plain),
            0)
      << plain;
}

TEST_F(TlsTest, MutualTlsRefusesClientWithoutCertificate) {
  ServeProcess serve(MutualTlsArgs(), {}, OperatorTls());
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(10, 1, 1);
  ASSERT_NE(job, 0u);
  client::Client anonymous(Options(serve.target(), "alice", Certs("ca.pem")));
  auto joined = anonymous.Join(job);
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code(), StatusCode::kUnavailable) << joined.error();
  // A certificate from another CA is no better.
  client::ClientOptions o = Options(serve.target(), "alice", Certs("ca.pem"));
  o.tls_cert_file = Other("alice.pem");
  o.tls_key_file = Other("alice-key.pem");
  client::Client forged(o);
  auto forged_join = forged.Join(job);
  ASSERT_FALSE(forged_join);
  EXPECT_EQ(forged_join.error().code(), StatusCode::kUnavailable) << forged_join.error();
}

TEST_F(TlsTest, MutualTlsBindsClientIdToCertificate) {
  ServeProcess serve(MutualTlsArgs(), {}, OperatorTls());
  ASSERT_TRUE(serve.ok());
  const uint64_t job = serve.CreateJob(1000, 1, 1);
  ASSERT_NE(job, 0u);
  // Alice's certificate, claiming to be bob.
  client::Client impostor(Options(serve.target(), "bob", Certs("ca.pem"), "alice"));
  auto joined = impostor.Join(job);
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(joined.error().message().find("'alice'"), std::string::npos) << joined.error();
  EXPECT_NE(joined.error().message().find("'bob'"), std::string::npos) << joined.error();
  std::vector<float> forged(1000, 7.0f);
  auto pushed = impostor.PushOnce(job, 1, forged, 1);
  ASSERT_FALSE(pushed);
  EXPECT_EQ(pushed.error().code(), StatusCode::kPermissionDenied) << pushed.error();
  auto pulled = impostor.Pull(job, 0, false);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code(), StatusCode::kPermissionDenied) << pulled.error();
  auto tasks = impostor.Tasks(job, 1, false);
  ASSERT_FALSE(tasks);
  EXPECT_EQ(tasks.error().code(), StatusCode::kPermissionDenied) << tasks.error();

  // Alice as herself: the round takes her update, and only hers.
  client::Client alice(Options(serve.target(), "alice", Certs("ca.pem"), "alice"));
  ASSERT_TRUE(alice.Join(job));
  std::vector<float> mine(1000);
  for (std::size_t i = 0; i < mine.size(); ++i) mine[i] = 0.5f * static_cast<float>(i);
  auto accepted = alice.Push(job, 1, mine, 1);
  ASSERT_TRUE(accepted) << accepted.error();
  auto model = alice.Pull(job, 1, true);
  ASSERT_TRUE(model) << model.error();
  EXPECT_EQ(model->values, mine);
  v1::JobInfo info = serve.GetJob(job);
  EXPECT_EQ(info.published_version(), 1u);
}

TEST_F(TlsTest, MutualTlsOperatorServiceNeedsOperatorCertificate) {
  ServeProcess serve(MutualTlsArgs(), {}, OperatorTls());
  ASSERT_TRUE(serve.ok());
  ASSERT_NE(serve.CreateJob(10, 1, 1), 0u);  // the operator certificate is admitted
  client::ClientOptions as_alice = Options(serve.target(), "alice", Certs("ca.pem"), "alice");
  auto channel = client::CreateChannel(as_alice);
  ASSERT_TRUE(channel) << channel.error();
  auto stub = v1::OperatorService::NewStub(*channel);
  {
    grpc::ClientContext ctx;
    v1::JobSpec spec;
    spec.set_name("not-an-operator");
    spec.set_params(10);
    spec.set_rounds(1);
    spec.set_clients_per_round(1);
    v1::JobInfo info;
    grpc::Status s = stub->CreateJob(&ctx, spec, &info);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("not an operator"), std::string::npos) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::ListJobsReply reply;
    grpc::Status s = stub->ListJobs(&ctx, v1::ListJobsRequest(), &reply);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_EQ(reply.jobs_size(), 0);
  }
  {
    grpc::ClientContext ctx;
    v1::JobRef ref;
    ref.set_job_id(1);
    auto reader = stub->WatchJob(&ctx, ref);
    v1::RoundEvent e;
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  std::string out;
  ASSERT_EQ(RunTributary({"job", "list", "--server", serve.target(), "--tls-ca", Certs("ca.pem"),
                          "--tls-cert", Certs("operator.pem"), "--tls-key",
                          Certs("operator-key.pem")},
                         &out),
            0)
      << out;
  EXPECT_NE(out.find("RUNNING"), std::string::npos) << out;
}

TEST_F(TlsTest, ServeRefusesIncompleteTlsFlags) {
  std::string out;
  EXPECT_EQ(RunTributary({"serve", "--listen", "127.0.0.1:0", "--tls-cert", Certs("server.pem")},
                         &out),
            1)
      << out;
  EXPECT_NE(out.find("--tls-key"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunTributary({"serve", "--listen", "127.0.0.1:0", "--insecure", "--tls-cert",
                          Certs("server.pem"), "--tls-key", Certs("server-key.pem")},
                         &out),
            1)
      << out;
  EXPECT_NE(out.find("--insecure"), std::string::npos) << out;

  // A member of a group under TLS must say how it verifies its peers, and under mutual TLS
  // which certificate it shows them.
  std::vector<std::string> group = {"serve",          "--listen", "127.0.0.1:0",   "--advertise",
                                    "127.0.0.1:7391", "--peers",  "127.0.0.1:7392"};
  group.insert(group.end(),
               {"--tls-cert", Certs("server.pem"), "--tls-key", Certs("server-key.pem")});
  out.clear();
  EXPECT_EQ(RunTributary(group, &out), 1) << out;
  EXPECT_NE(out.find("--peer-tls-ca"), std::string::npos) << out;
  std::vector<std::string> mutual = group;
  mutual.insert(mutual.end(),
                {"--tls-client-ca", Certs("ca.pem"), "--peer-tls-ca", Certs("ca.pem")});
  out.clear();
  EXPECT_EQ(RunTributary(mutual, &out), 1) << out;
  EXPECT_NE(out.find("--peer-cert"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunTributary(
                {"serve", "--insecure", "--listen", "127.0.0.1:0", "--advertise", "127.0.0.1:7391",
                 "--peers", "127.0.0.1:7392", "--peer-tls-ca", Certs("ca.pem")},
                &out),
            1)
      << out;
  EXPECT_NE(out.find("apply to a group under TLS"), std::string::npos) << out;
}

}  // namespace
}  // namespace tributary::testing
