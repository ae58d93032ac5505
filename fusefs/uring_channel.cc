#include "uring_channel.h"

#include <errno.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "session_loop.h"

namespace strata::fuse {

namespace {

// From the kernel's include/uapi/linux/fuse.h (protocol 7.42), newer than
// Debian 12's headers.
constexpr size_t kInOutSize = 128, kOpInSize = 128;
struct RingEntryInOut {  // struct fuse_uring_ent_in_out
  uint64_t flags;
  uint64_t commit_id;  // the request's unique, echoed when committing
  uint32_t payload_sz;
  uint32_t padding;
  uint64_t reserved;
};
struct RingHeader {         // struct fuse_uring_req_header
  char in_out[kInOutSize];  // fuse_in_header in, fuse_out_header back
  char op_in[kOpInSize];    // the request's first argument (its per-opcode struct)
  RingEntryInOut ent;
};
struct RingCommand {  // struct fuse_uring_cmd_req, in the SQE's command area
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};
constexpr uint32_t kRegister = 1, kCommitAndFetch = 2;  // enum fuse_uring_cmd

// Ring threads per CPU queue, each with one entry: a thread serves one request
// at a time, so a second one lets a slow request (a big copy-up) leave the
// queue's other requests going.
constexpr unsigned kThreadsPerQueue = 2;
constexpr uint64_t kStopTag = 0;  // user_data of the read of the stop eventfd

// Room before the payload for the request's header and first argument, so
// that the request reads as /dev/fuse delivers it without moving the payload.
constexpr size_t kRoom = sizeof(fuse_in_header) + kOpInSize;

// One registered entry: where the kernel puts a request and takes its reply.
struct Entry {
  Entry(unsigned queue, size_t size)
      : qid(queue), payload_size(size), buffer(new char[kRoom + size]), payload(buffer.get() + kRoom) {}
  unsigned qid;
  size_t payload_size;
  std::unique_ptr<char[]> buffer;  // kRoom bytes, then the payload the kernel fills
  char* payload;
  RingHeader header{};
  iovec iov[2]{{&header, sizeof header}, {payload, payload_size}};
  uint64_t unique = 0;  // of the request being served
  bool replied = false;
};

thread_local Entry* serving = nullptr;

// Queues a command for entry `e`: register it, or commit its reply and fetch
// the next request. False if the submission queue has no room (it holds at
// most two: this and the stop read).
bool QueueCommand(io_uring& ring, int dev_fd, Entry& e, uint32_t op) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (!sqe) return false;
  constexpr size_t kSqe128 = 2 * sizeof *sqe;  // 64 bytes more of command area
  std::memset(reinterpret_cast<char*>(sqe), 0, kSqe128);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = dev_fd;
  sqe->cmd_op = op;
  sqe->user_data = reinterpret_cast<uintptr_t>(&e);
  RingCommand cmd{};
  cmd.qid = static_cast<uint16_t>(e.qid);
  cmd.commit_id = e.unique;
  std::memcpy(sqe->cmd, &cmd, sizeof cmd);
  if (op == kRegister) {
    sqe->addr = reinterpret_cast<uintptr_t>(e.iov);
    sqe->len = 2;
  }
  return true;
}

// How many CPUs the kernel counts as possible, as it counts its queues:
// "0-1" -> 2, "0-3,6" -> 5. A request made on CPU n goes to queue n.
unsigned PossibleCpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string range;
  unsigned count = 0;
  while (std::getline(in, range, ',')) {
    const size_t dash = range.find('-');
    const unsigned first = static_cast<unsigned>(std::atoi(range.c_str()));
    const unsigned last =
        dash == std::string::npos ? first : static_cast<unsigned>(std::atoi(range.c_str() + dash + 1));
    count += last - first + 1;
  }
  return count > 0 ? count : 1;
}

// Lays the request in `e` out as a read of /dev/fuse gives it: header and
// first argument put just before the payload, which stays where it is. False
// if the sizes do not add up.
bool RebuildRequest(Entry& e, fuse_buf* buf) {
  fuse_in_header in;
  std::memcpy(&in, e.header.in_out, sizeof in);
  const size_t payload = e.header.ent.payload_sz;
  if (in.len < sizeof in + payload || payload > e.payload_size) return false;
  const size_t op_in = in.len - sizeof in - payload;
  if (op_in > kOpInSize) return false;
  char* r = e.payload - op_in - sizeof in;
  std::memcpy(r, &in, sizeof in);
  std::memcpy(r + sizeof in, e.header.op_in, op_in);
  buf->mem = r;
  buf->size = in.len;
  return true;
}

bool InitRing(io_uring* ring) {
  // Task work (the kernel filling our buffers) runs only when this thread
  // waits for completions, which is all it does between requests.
  io_uring_params p{};
  p.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(4, ring, &p) == 0) return true;
  io_uring_params plain{};
  plain.flags = IORING_SETUP_SQE128;
  return io_uring_queue_init_params(4, ring, &plain) == 0;
}

void Warn(const char* what, int err) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::fprintf(stderr, "strata-fuse: warning: io_uring: %s: %s; requests stay on /dev/fuse\n", what,
                 std::strerror(err));
  });
}

}  // namespace

bool UringChannel::KernelAllows() {
  std::ifstream param("/sys/module/fuse/parameters/enable_uring");
  char c = 'N';
  return param >> c && (c == 'Y' || c == '1');
}

UringChannel::UringChannel(fuse_session* se) : se_(se), stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE)) {}

UringChannel::~UringChannel() {
  Stop();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void UringChannel::Start(size_t payload_size) {
  std::lock_guard lock(mu_);
  if (!threads_.empty() || stop_fd_ < 0) return;
  // The kernel makes one queue per possible CPU and uses the rings only
  // once every queue has an entry.
  const unsigned queues = PossibleCpus();
  for (unsigned qid = 0; qid < queues; ++qid) {
    for (unsigned i = 0; i < kThreadsPerQueue; ++i)
      threads_.emplace_back([=, this] { Serve(qid, payload_size); });
  }
}

void UringChannel::Stop() {
  std::lock_guard lock(mu_);
  if (threads_.empty()) return;
  uint64_t n = threads_.size();
  [[maybe_unused]] ssize_t w = ::write(stop_fd_, &n, sizeof n);
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool UringChannel::TakeReply(const iovec* iov, int count, ssize_t* written) {
  Entry* e = serving;
  const auto* out = static_cast<const fuse_out_header*>(iov[0].iov_base);
  if (!e || e->replied || out->unique != e->unique) return false;
  size_t size = 0;
  for (int i = 1; i < count; ++i) {
    if (size + iov[i].iov_len > e->payload_size) {
      *written = -1;  // cannot happen: the kernel sized the payload for its largest reply
      errno = EINVAL;
      return true;
    }
    // memmove: the request's arguments share these bytes.
    std::memmove(e->payload + size, iov[i].iov_base, iov[i].iov_len);
    size += iov[i].iov_len;
  }
  std::memcpy(e->header.in_out, out, sizeof *out);
  e->header.ent.payload_sz = static_cast<uint32_t>(size);
  e->replied = true;
  *written = static_cast<ssize_t>(sizeof *out + size);
  return true;
}

void UringChannel::Serve(unsigned qid, size_t payload_size) {
  // Signals go to the classic loop's threads, never here.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  cpu_set_t cpu;
  CPU_ZERO(&cpu);
  CPU_SET(qid, &cpu);
  sched_setaffinity(0, sizeof cpu, &cpu);  // an offline CPU: stay unpinned

  io_uring ring;
  if (!InitRing(&ring)) return Warn("cannot set up a ring", errno);
  const int dev_fd = fuse_session_fd(se_);
  Entry e(qid, payload_size);

  uint64_t stop_value = 0;
  io_uring_sqe* stop = io_uring_get_sqe(&ring);
  io_uring_prep_read(stop, stop_fd_, &stop_value, sizeof stop_value, 0);
  io_uring_sqe_set_data64(stop, kStopTag);
  for (bool running = QueueCommand(ring, dev_fd, e, kRegister); running;) {
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_submit_and_wait(&ring, 1);
    if (rc < 0 && rc != -EINTR) {
      Warn("submit", -rc);
      break;
    }
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      if (cqe->user_data == kStopTag) {
        running = false;
        continue;
      }
      if (cqe->res < 0) {
        // ENOTCONN: the file system was unmounted; anything else: this
        // kernel refused the entry (the others keep /dev/fuse going).
        if (cqe->res != -ENOTCONN) Warn("a ring command failed", -cqe->res);
        running = false;
        continue;
      }
      // The kernel put a request in the entry: rebuild it as /dev/fuse
      // delivers it and hand it to libfuse, whose reply TakeReply catches.
      e.unique = e.header.ent.commit_id;
      e.replied = false;
      fuse_buf buf{};
      if (RebuildRequest(e, &buf)) {
        serving = &e;
        ServeRequest(se_, buf, inspect_);
        serving = nullptr;
      }
      if (!e.replied) {  // a malformed request (or a handler that did not reply): never leave it waiting
        fuse_out_header out{sizeof out, -EIO, e.unique};
        std::memcpy(e.header.in_out, &out, sizeof out);
        e.header.ent.payload_sz = 0;
      }
      if (!QueueCommand(ring, dev_fd, e, kCommitAndFetch)) {
        Warn("a full submission queue", EAGAIN);  // cannot happen: see QueueCommand
        running = false;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
  io_uring_submit(&ring);  // a reply committed in the last batch still reaches its caller
  io_uring_queue_exit(&ring);
}

}  // namespace strata::fuse
