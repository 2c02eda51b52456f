// Status and Result<T>: errors as values, in the style of leveldb's Status.
// A Status is ok or carries a message; a Result<T> holds a value or a non-OK
// Status, never both.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace healthcheck {

class [[nodiscard]] Status {
 public:
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  // Empty for an OK status.
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }

 private:
  Status() = default;
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)), status_(Status::Ok()) {}
  // Only a non-OK Status may become a Result; an OK one would hold no value.
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok()) status_ = Status::Error("internal error: Result from an OK Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace healthcheck
