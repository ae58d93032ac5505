#include "container/terminal_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace strata {

namespace {

// The relay whose size a SIGWINCH updates: its master and input.
std::atomic<int> g_master{-1};
std::atomic<int> g_input{-1};

void CopySize(int from, int to) {
  struct winsize size;
  if (::ioctl(from, TIOCGWINSZ, &size) == 0 && size.ws_row > 0) ::ioctl(to, TIOCSWINSZ, &size);
}

}  // namespace

TerminalRelay::TerminalRelay(UniqueFd master, int in, int out)
    : master_(std::move(master)), in_(in), out_(out) {
  int stop[2];
  if (::pipe2(stop, O_CLOEXEC) == 0) {
    stop_read_ = UniqueFd(stop[0]);
    stop_write_ = UniqueFd(stop[1]);
  }
  ::fcntl(master_.get(), F_SETFL, ::fcntl(master_.get(), F_GETFL) | O_NONBLOCK);
  CopySize(in_, master_.get());
  g_input = in_;
  g_master = master_.get();
  thread_ = std::thread([this] { Loop(); });
}

TerminalRelay::~TerminalRelay() {
  Finish();
}

void TerminalRelay::ResizeFromSignal() {
  int master = g_master.load(), in = g_input.load();
  if (master >= 0 && in >= 0) CopySize(in, master);
}

void TerminalRelay::Finish() {
  if (!thread_.joinable()) return;
  char byte = 0;
  (void)!::write(stop_write_.get(), &byte, 1);
  thread_.join();
  g_master = -1;
  g_input = -1;
}

bool TerminalRelay::CopyOutput(bool drain) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(master_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;  // all there is for now
    if (n <= 0) return false;                   // EIO: every slave is closed
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out_, buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;  // the reader went; the container's output is dropped, as a closed terminal drops it
      done += w;
    }
    if (!drain) return true;
  }
}

void TerminalRelay::Loop() {
  bool input_open = true;
  for (;;) {
    pollfd fds[3] = {{master_.get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}, {in_, POLLIN, 0}};
    int n = ::poll(fds, input_open ? 3 : 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    if (fds[1].revents) {  // the process has ended: what is left, then go
      CopyOutput(true);
      return;
    }
    if (fds[0].revents && !CopyOutput(false)) return;
    if (input_open && fds[2].revents) {
      char buf[4096];
      ssize_t got = ::read(in_, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {  // end of input: the terminal stays, as docker's does
        input_open = false;
        continue;
      }
      for (ssize_t done = 0; done < got;) {
        ssize_t w = ::write(master_.get(), buf + done, static_cast<size_t>(got - done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
          pollfd out{master_.get(), POLLOUT, 0};
          ::poll(&out, 1, 100);
          continue;
        }
        if (w <= 0) break;
        done += w;
      }
    }
  }
}

}  // namespace strata
