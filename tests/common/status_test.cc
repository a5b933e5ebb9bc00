#include "common/status.h"

#include <gtest/gtest.h>

#include "common/result.h"

namespace tributary {
namespace {

TEST(StatusTest, OkIsEmpty) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, FactoriesCarryCodeAndMessage) {
  Status s = Status::NotFound("job 7");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "job 7");
  EXPECT_EQ(s.ToString(), "NOT_FOUND: job 7");
  EXPECT_EQ(s.WithContext("pull").message(), "pull: job 7");
  Status copy = s;
  EXPECT_EQ(copy.ToString(), s.ToString());
}

TEST(StatusTest, FromErrnoMapsCommonErrors) {
  EXPECT_EQ(Status::FromErrno("open", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::FromErrno("mmap", ENOMEM).code(), StatusCode::kResourceExhausted);
  EXPECT_NE(Status::FromErrno("open", ENOENT).message().find("No such file"), std::string::npos);
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}

Status Chain(int x, int* out) {
  TRIBUTARY_ASSIGN_OR_RETURN(int h, Half(x));
  TRIBUTARY_ASSIGN_OR_RETURN(*out, Half(h));
  return Status::Ok();
}

TEST(ResultTest, ValueOrError) {
  EXPECT_EQ(*Half(8), 4);
  EXPECT_FALSE(Half(3).has_value());
  EXPECT_EQ(Half(3).error().code(), StatusCode::kInvalidArgument);
  int out = 0;
  EXPECT_TRUE(Chain(8, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(Chain(6, &out).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tributary
