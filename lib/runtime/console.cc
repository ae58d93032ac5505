#include "runtime/console.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace strata {

Result<ConsoleSocket> ConsoleSocket::Listen() {
  ConsoleSocket socket;
  char dir[] = "/tmp/strata-console-XXXXXX";  // mkdtemp: mode 0700, ours alone
  if (!::mkdtemp(dir)) return ErrnoStatus("mkdtemp", dir);
  socket.dir_ = dir;
  socket.path_ = socket.dir_ + "/socket";
  socket.listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket.listener_.valid()) return ErrnoStatus("socket", socket.path_);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket.path_.c_str(), socket.path_.size() + 1);
  if (::bind(socket.listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return ErrnoStatus("bind", socket.path_);
  if (::listen(socket.listener_.get(), 1) != 0) return ErrnoStatus("listen", socket.path_);
  return socket;
}

ConsoleSocket::ConsoleSocket(ConsoleSocket&& other) noexcept
    : dir_(std::move(other.dir_)), path_(std::move(other.path_)), listener_(std::move(other.listener_)) {
  other.dir_.clear();
}

ConsoleSocket& ConsoleSocket::operator=(ConsoleSocket&& other) noexcept {
  std::swap(dir_, other.dir_);
  std::swap(path_, other.path_);
  std::swap(listener_, other.listener_);
  return *this;
}

ConsoleSocket::~ConsoleSocket() {
  if (dir_.empty()) return;
  ::unlink(path_.c_str());
  ::rmdir(dir_.c_str());
}

Result<UniqueFd> ConsoleSocket::ReceiveMaster() {
  // The runtime has connected and sent by the time it has started the
  // container; the wait only guards against one that never did.
  pollfd p{listener_.get(), POLLIN, 0};
  if (::poll(&p, 1, 5000) != 1) return Status::IOError("the runtime sent no terminal to " + path_);
  UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn.valid()) return ErrnoStatus("accept", path_);
  char name[256];  // runc sends the pty's name as the message's data
  iovec iov{name, sizeof name};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus("recvmsg", path_);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
    return Status::IOError("the runtime sent no terminal descriptor to " + path_);
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

}  // namespace strata
