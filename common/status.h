// Status: the outcome of an operation that produces no value.
//
// Shaped like leveldb's Status: OK carries nothing and costs a null check; errors come from
// named factories and carry a message. Codes mirror the canonical gRPC codes so that the
// gateway maps them onto the wire one to one. A Status is a value type: copy it, return it,
// never throw it. Thread safety: a const Status may be read from many threads.
#pragma once

#include <cerrno>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace tributary {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(StatusCode code, std::string_view message);
  Status(const Status& other) : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }
  static Status Cancelled(std::string_view m) { return {StatusCode::kCancelled, m}; }
  static Status Unknown(std::string_view m) { return {StatusCode::kUnknown, m}; }
  static Status InvalidArgument(std::string_view m) { return {StatusCode::kInvalidArgument, m}; }
  static Status DeadlineExceeded(std::string_view m) { return {StatusCode::kDeadlineExceeded, m}; }
  static Status NotFound(std::string_view m) { return {StatusCode::kNotFound, m}; }
  static Status AlreadyExists(std::string_view m) { return {StatusCode::kAlreadyExists, m}; }
  static Status PermissionDenied(std::string_view m) { return {StatusCode::kPermissionDenied, m}; }
  static Status ResourceExhausted(std::string_view m) { return {StatusCode::kResourceExhausted, m}; }
  static Status FailedPrecondition(std::string_view m) {
    return {StatusCode::kFailedPrecondition, m};
  }
  static Status Aborted(std::string_view m) { return {StatusCode::kAborted, m}; }
  static Status OutOfRange(std::string_view m) { return {StatusCode::kOutOfRange, m}; }
  static Status Unimplemented(std::string_view m) { return {StatusCode::kUnimplemented, m}; }
  static Status Internal(std::string_view m) { return {StatusCode::kInternal, m}; }
  static Status Unavailable(std::string_view m) { return {StatusCode::kUnavailable, m}; }
  static Status DataLoss(std::string_view m) { return {StatusCode::kDataLoss, m}; }
  static Status Unauthenticated(std::string_view m) { return {StatusCode::kUnauthenticated, m}; }
  // An OS failure: `what` followed by strerror(err).
  static Status FromErrno(std::string_view what, int err = errno);

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  // The message alone; empty for OK.
  const std::string& message() const;
  // "CODE_NAME: message", or "OK".
  std::string ToString() const;

  // Prefixes the message with context ("opening pool: ..."); OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

inline std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

}  // namespace tributary

// Returns from the enclosing function when `expr` yields a non-OK Status.
#define TRIBUTARY_RETURN_IF_ERROR(expr)               \
  do {                                                \
    ::tributary::Status _tributary_status = (expr);   \
    if (!_tributary_status.ok()) return _tributary_status; \
  } while (0)
