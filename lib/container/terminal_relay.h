// TerminalRelay: a container's terminal joined to the monitor's standard
// streams, as docker's attach joins it to the client's.
//
// A thread copies input (`in`, the caller's stdin or /dev/null) to the pty's
// master and the master's output to `out` (the caller's stdout, or the
// container's log for a detached run). The pty's size follows `in` when that
// is a terminal: at the start and on each ResizeFromSignal().
#pragma once

#include <thread>

#include "util/file_util.h"

namespace strata {

class TerminalRelay {
 public:
  TerminalRelay(UniqueFd master, int in, int out);
  ~TerminalRelay();  // Finish()
  TerminalRelay(const TerminalRelay&) = delete;
  TerminalRelay& operator=(const TerminalRelay&) = delete;

  // Once the container's process has ended: copies what output is left, stops.
  void Finish();
  // The size of `in` onto the pty. Async-signal-safe (two ioctls): for a
  // SIGWINCH handler. Does nothing when no relay runs.
  static void ResizeFromSignal();

 private:
  void Loop();
  bool CopyOutput(bool drain);  // false once the terminal is closed

  UniqueFd master_;
  int in_, out_;
  UniqueFd stop_read_, stop_write_;
  std::thread thread_;
};

}  // namespace strata
