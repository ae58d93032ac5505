// ConsoleSocket: where an OCI runtime hands over a container's terminal.
//
// With process.terminal set, `runc run -d --console-socket PATH` makes the
// pty, connects to PATH and sends the master's descriptor (SCM_RIGHTS), then
// goes. The socket lives in a private directory of its own under /tmp (a unix
// socket path has room for 107 bytes; a store root may not) and goes with
// this object.
#pragma once

#include <string>

#include "strata/status.h"
#include "util/file_util.h"

namespace strata {

class ConsoleSocket {
 public:
  static Result<ConsoleSocket> Listen();
  ConsoleSocket(ConsoleSocket&&) noexcept;
  ConsoleSocket& operator=(ConsoleSocket&&) noexcept;
  ~ConsoleSocket();

  const std::string& path() const { return path_; }
  // The master the runtime sent; call after it started the container.
  Result<UniqueFd> ReceiveMaster();

 private:
  ConsoleSocket() = default;
  std::string dir_, path_;
  UniqueFd listener_;
};

}  // namespace strata
