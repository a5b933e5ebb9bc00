// Result<T>: a value or the Status that explains why there is none.
//
// Shaped like C++23 std::expected<T, Status> (has_value, value, error, operator*, operator->)
// so that it can be swapped for it later. A Result never holds an OK Status. Thread safety: as
// for T.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/status.h"

namespace tributary {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, as std::expected
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK Status");
  }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; REQUIRES: !has_value().
  const Status& error() const { return std::get<Status>(v_); }
  // OK when a value is held, the error otherwise.
  Status status() const { return has_value() ? Status() : error(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tributary

#define TRIBUTARY_CONCAT_INNER(a, b) a##b
#define TRIBUTARY_CONCAT(a, b) TRIBUTARY_CONCAT_INNER(a, b)
#define TRIBUTARY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.has_value()) return tmp.error();             \
  lhs = std::move(tmp).value()
// Declares or assigns `lhs` from a Result, returning its Status from the enclosing function on
// error: TRIBUTARY_ASSIGN_OR_RETURN(auto pool, SlotPool::Create(options));
#define TRIBUTARY_ASSIGN_OR_RETURN(lhs, expr) \
  TRIBUTARY_ASSIGN_OR_RETURN_IMPL(TRIBUTARY_CONCAT(_tributary_result_, __LINE__), lhs, expr)
