// Status and Result<T>: how every strata call reports success or failure.
// No exception crosses the public API; a failed Status carries one line of text
// naming what went wrong.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace strata {

enum class Code {
  kOk = 0,
  kNotFound,         // no such image, layer, blob or file
  kInvalidArgument,  // bad input from the caller: a hostile tar, a bad name
  kCorruption,       // stored data does not match its digest
  kIOError,          // the operating system said no
  kAlreadyExists,
  kInUse,  // refused because something still references it
  kUnsupported,
  kInternal,          // a bug in strata (a Result made from an OK status)
  kPermissionDenied,  // a registry refused the credentials (or asked for some)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status AlreadyExists(std::string msg) { return Status(Code::kAlreadyExists, std::move(msg)); }
  static Status InUse(std::string msg) { return Status(Code::kInUse, std::move(msg)); }
  static Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  static Status PermissionDenied(std::string msg) { return Status(Code::kPermissionDenied, std::move(msg)); }
  // A failure with a precise POSIX meaning (ENOTDIR, ENODATA, EROFS...), for
  // callers such as a file system that must answer with an errno.
  static Status Posix(int error_number, std::string msg);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // The same failure with "context: " before its message.
  Status WithContext(const std::string& context) const {
    Status s = *this;
    if (!ok()) s.message_ = context + ": " + message_;
    return s;
  }
  // The errno that best describes this status (0 when ok).
  int ToErrno() const;
  // The errno given to Posix(), or 0 for a status made otherwise.
  int posix_errno() const { return errno_; }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  int errno_ = 0;
  std::string message_;
};

// Either a value or a failed Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  // A Result made from an OK status would hold neither a value nor an error:
  // it becomes an internal error instead, so that callers never see ok() without a value.
  Result(Status status)  // NOLINT: implicit by design
      : v_(status.ok() ? Status::Internal("internal error: a result was made from an OK status")
                       : std::move(status)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // Only when ok(): reading the value of a failure is a bug and aborts (no
  // exception leaves the library).
  T& value() & { return *Checked(std::get_if<T>(&v_)); }
  const T& value() const& { return *Checked(std::get_if<T>(&v_)); }
  T&& value() && { return std::move(*Checked(std::get_if<T>(&v_))); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  template <typename P>
  static P* Checked(P* p) {
    if (!p) std::abort();
    return p;
  }
  std::variant<Status, T> v_;
};

}  // namespace strata
