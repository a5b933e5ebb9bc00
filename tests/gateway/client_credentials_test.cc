// ClientCredentials: access tokens bind one client id to one job, verify only for that pair,
// and stay the same across restarts that share the key file (created once, mode 0600).
#include "gateway/client_credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tributary::gateway {
namespace {

namespace fs = std::filesystem;

class ClientCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tributary-credentials-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(ClientCredentialsTest, TokenVerifiesOnlyForItsClientAndJob) {
  auto credentials = ClientCredentials::LoadOrCreate("");
  ASSERT_TRUE(credentials) << credentials.error();
  const std::string alice = credentials->Issue(1, "alice");
  EXPECT_EQ(alice.size(), 64u);  // HMAC-SHA256 in hex
  EXPECT_EQ(credentials->Issue(1, "alice"), alice);
  EXPECT_TRUE(credentials->Verify(1, "alice", alice).ok());
  EXPECT_EQ(credentials->Verify(1, "bob", alice).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(credentials->Verify(2, "alice", alice).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(credentials->Verify(1, "alice", "").code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(credentials->Verify(1, "alice", alice.substr(1)).code(),
            StatusCode::kUnauthenticated);
  // The job id and the client id cannot run into each other.
  EXPECT_NE(credentials->Issue(1, "2alice"), credentials->Issue(12, "alice"));
  // Another key issues other tokens.
  auto other = ClientCredentials::LoadOrCreate("");
  ASSERT_TRUE(other);
  EXPECT_NE(other->Issue(1, "alice"), alice);
}

TEST_F(ClientCredentialsTest, KeyFileKeepsTokensAcrossRestartsAndIsPrivate) {
  const std::string key = (dir_ / "client-token.key").string();
  auto first = ClientCredentials::LoadOrCreate(key);
  ASSERT_TRUE(first) << first.error();
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto second = ClientCredentials::LoadOrCreate(key);
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(second->Issue(7, "carol"), first->Issue(7, "carol"));
  EXPECT_FALSE(fs::exists(key + ".tmp"));
}

TEST_F(ClientCredentialsTest, KeyFileOfTheWrongSizeIsRefused) {
  const std::string key = (dir_ / "short.key").string();
  std::ofstream(key) << "too short";
  auto credentials = ClientCredentials::LoadOrCreate(key);
  ASSERT_FALSE(credentials);
  EXPECT_EQ(credentials.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(credentials.error().message().find("not 32"), std::string::npos);
}

TEST(SecretsEqualTest, ComparesWholeSecrets) {
  EXPECT_TRUE(SecretsEqual("correct horse battery", "correct horse battery"));
  EXPECT_FALSE(SecretsEqual("correct horse battery", "correct horse batterY"));
  EXPECT_FALSE(SecretsEqual("correct horse battery", "correct horse"));
  EXPECT_FALSE(SecretsEqual("", "x"));
}

}  // namespace
}  // namespace tributary::gateway
