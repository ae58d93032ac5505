#include <errno.h>

#include "strata/status.h"

namespace strata {

Status Status::Posix(int error_number, std::string msg) {
  Code code = error_number == ENOENT   ? Code::kNotFound
              : error_number == EEXIST ? Code::kAlreadyExists
              : error_number == EINVAL ? Code::kInvalidArgument
                                       : Code::kIOError;
  Status st(code, std::move(msg));
  st.errno_ = error_number;
  return st;
}

int Status::ToErrno() const {
  if (errno_ != 0) return errno_;
  switch (code_) {
    case Code::kOk: return 0;
    case Code::kNotFound: return ENOENT;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kAlreadyExists: return EEXIST;
    case Code::kInUse: return EBUSY;
    case Code::kUnsupported: return ENOTSUP;
    case Code::kPermissionDenied: return EACCES;
    case Code::kCorruption:
    case Code::kInternal:
    case Code::kIOError: return EIO;
  }
  return EIO;
}

}  // namespace strata
