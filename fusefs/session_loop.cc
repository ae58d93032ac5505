#include "session_loop.h"

#include <errno.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

namespace strata::fuse {

namespace {

constexpr int kWakeSignal = SIGUSR1;
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// One worker at a time reads the device: the holder of the reader token. It
// serves the requests that rarely wait (lookups, attributes, xattrs, listings)
// itself and reads on, so that a run of them stays on one warm thread instead
// of hopping between workers at every request (the kernel wakes its readers in
// turn); before a request that may wait on the disk (writes, syncs, and reads
// with other requests queued behind them) it hands the token on. A request
// served in place for longer than kStuck (a lookup behind a rename's copy-up)
// loses the token to the watchdog, so the rest are never held up for long.
constexpr long kStuckNanos = 5'000'000;

struct Loop {
  fuse_session* se = nullptr;
  size_t max_threads = 1;
  RequestInspector inspect;
  sem_t ended;  // posted by a stop signal, or by a worker that saw the session end
  std::atomic<int> error{0};
  std::mutex mu;
  std::vector<pthread_t> workers;  // guarded by mu; joined at the end
  size_t running = 0;              // guarded by mu: workers not yet returned
  // The reader token, guarded by mu: its holder (a worker's number, 0 when
  // free), and the workers waiting for it.
  std::condition_variable token_free;
  size_t holder = 0;
  size_t waiting = 0;
  size_t next_worker = 1;
  // When the holder began the request it serves in place (0: it serves none).
  std::atomic<int64_t> serving_since{0};
  std::atomic<uint64_t> requests{0};  // read so far: the watchdog sleeps longer while none come
  // Set by the watchdog before it sleeps until the next request (an idle mount
  // wakes no thread); the worker that reads that request wakes it.
  std::atomic<bool> watchdog_asleep{false};
};

int64_t NowNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

bool RequestWaiting(fuse_session* se) {
  pollfd device{fuse_session_fd(se), POLLIN, 0};
  return ::poll(&device, 1, 0) != 0;  // an error counts as waiting: hand on
}

// Requests that seldom wait on anything: served where they were read, which
// saves handing the reader's token to another thread (a futex wake and two
// signal mask changes each). Changes to names and attributes are such: local
// file system calls that no signal interrupts; one that takes long (a
// copy-up) has the token passed on by the watchdog; so do writes (the page
// cache takes them; requests are read whole, never spliced: see OpInit).
// Fsyncs and reads with company wait on the disk: another thread reads on
// meanwhile.
bool ServedInPlace(fuse_session* se, const fuse_buf& buf) {
  if ((buf.flags & FUSE_BUF_IS_FD) || buf.size < sizeof(fuse_in_header)) return false;
  switch (static_cast<const fuse_in_header*>(buf.mem)->opcode) {
    case FUSE_LOOKUP:
    case FUSE_FORGET:
    case FUSE_BATCH_FORGET:
    case FUSE_GETATTR:
    case FUSE_GETXATTR:
    case FUSE_LISTXATTR:
    case FUSE_READLINK:
    case FUSE_ACCESS:
    case FUSE_STATFS:
    case FUSE_OPENDIR:
    case FUSE_READDIR:
    case FUSE_READDIRPLUS:
    case FUSE_RELEASEDIR:
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_SYMLINK:
    case FUSE_LINK:
    case FUSE_UNLINK:
    case FUSE_RMDIR:
    case FUSE_RENAME:
    case FUSE_RENAME2:
    case FUSE_CREATE:
    case FUSE_SETATTR:
    case FUSE_SETXATTR:
    case FUSE_REMOVEXATTR:
    case FUSE_FLUSH:
    case FUSE_RELEASE:
    case FUSE_WRITE: return true;
    // A read too while no other request waits behind it: a read that goes to
    // the disk then costs one thread switch fewer (a cold random 4 KiB read
    // ~10% faster); one with company (the kernel's readahead sends several at
    // once) still lets another thread read on.
    case FUSE_READ: return !RequestWaiting(se);
    default: return false;
  }
}

std::atomic<Loop*> active_loop{nullptr};

void OnStopSignal(int) {
  // Both calls are async-signal-safe: fuse_session_exit only sets a flag.
  if (Loop* loop = active_loop.load()) {
    fuse_session_exit(loop->se);
    sem_post(&loop->ended);
  }
}

void OnWakeSignal(int) {}  // its only job is to end a blocked read with EINTR

void* Work(void* arg);

// Requires loop.mu. The new thread inherits the caller's signal mask, in which
// every signal is blocked (see RunSessionLoop and Work).
bool StartWorkerLocked(Loop& loop) {
  pthread_t thread;
  if (pthread_create(&thread, nullptr, Work, &loop) != 0) return false;
  loop.workers.push_back(thread);
  ++loop.running;
  return true;
}

// Requires loop.mu: the token goes to a waiting worker, or to a new one.
void PassTokenLocked(Loop& loop) {
  loop.holder = 0;
  if (loop.waiting > 0) {
    loop.token_free.notify_one();
  } else if (loop.workers.size() < loop.max_threads) {
    StartWorkerLocked(loop);
  }
}

void* Work(void* arg) {
  Loop& loop = *static_cast<Loop*>(arg);
  size_t me;
  {
    std::lock_guard lock(loop.mu);
    me = loop.next_worker++;
  }
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, kWakeSignal);
  fuse_buf buf{};
  bool holding = false;
  while (!fuse_session_exited(loop.se)) {
    if (!holding) {
      std::unique_lock lock(loop.mu);
      ++loop.waiting;
      loop.token_free.wait(lock, [&] { return loop.holder == 0 || fuse_session_exited(loop.se); });
      --loop.waiting;
      if (fuse_session_exited(loop.se)) break;
      loop.holder = me;
      holding = true;
      // The holder may be woken from its read by the wake signal, and only the
      // holder. It keeps the signal open while it serves in place: those
      // requests make only local file system calls (stat, getxattr, readdir),
      // which signals do not interrupt, and the signal comes only once the
      // session is over anyway.
      pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
    }
    int received = fuse_session_receive_buf(loop.se, &buf);
    if (received <= 0 && received != -EINTR) {  // 0: unmounted (libfuse marks the session exited)
      pthread_sigmask(SIG_BLOCK, &wake, nullptr);
      if (received < 0) loop.error = received;
      std::lock_guard lock(loop.mu);
      loop.holder = 0;
      break;
    }
    if (received == -EINTR) continue;
    // Both seq_cst (a plain locked add and a load on x86): the watchdog going
    // to sleep either sees this request counted or is seen asleep here.
    loop.requests.fetch_add(1);
    if (loop.watchdog_asleep.load() && loop.watchdog_asleep.exchange(false)) sem_post(&loop.ended);
    if (ServedInPlace(loop.se, buf)) {
      loop.serving_since = NowNanos();
      ServeRequest(loop.se, buf, loop.inspect);
      loop.serving_since = 0;
      std::lock_guard lock(loop.mu);
      holding = loop.holder == me;  // read on, unless the watchdog passed the token meanwhile
      if (!holding) pthread_sigmask(SIG_BLOCK, &wake, nullptr);
    } else {
      {
        std::lock_guard lock(loop.mu);
        PassTokenLocked(loop);
        holding = false;
      }
      pthread_sigmask(SIG_BLOCK, &wake, nullptr);  // its host calls must not fail with EINTR
      ServeRequest(loop.se, buf, loop.inspect);
    }
  }
  std::free(buf.mem);
  fuse_session_exit(loop.se);
  sem_post(&loop.ended);
  std::lock_guard lock(loop.mu);
  loop.token_free.notify_all();
  --loop.running;
  return nullptr;
}

// The holder has served one request in place for too long: the token goes on.
void Watch(Loop& loop) {
  const int64_t since = loop.serving_since;
  if (since == 0 || NowNanos() - since < kStuckNanos) return;
  std::lock_guard lock(loop.mu);
  if (loop.holder != 0 && loop.serving_since == since) PassTokenLocked(loop);
}

// Wakes every worker still waiting for a request until all have returned. A
// signal that lands just before a worker blocks is missed, hence the repeats.
void StopWorkers(Loop& loop) {
  for (;;) {
    {
      std::lock_guard lock(loop.mu);
      if (loop.running == 0) break;
      for (pthread_t thread : loop.workers) pthread_kill(thread, kWakeSignal);
      loop.token_free.notify_all();
    }
    timespec pause{0, 10'000'000};
    nanosleep(&pause, nullptr);
  }
  for (pthread_t thread : loop.workers) pthread_join(thread, nullptr);
}

// Installs the loop's signal handlers for its lifetime, restoring the old ones
// after. None has SA_RESTART: the wake signal's interrupted read must return.
class SignalSetup {
 public:
  SignalSetup() {
    for (int sig : kStopSignals) Install(sig, OnStopSignal);
    Install(kWakeSignal, OnWakeSignal);
    Install(SIGPIPE, SIG_IGN);
  }
  ~SignalSetup() {
    for (auto& [sig, old] : saved_) sigaction(sig, &old, nullptr);
  }

 private:
  void Install(int sig, void (*handler)(int)) {
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    struct sigaction old {};
    sigaction(sig, &action, &old);
    saved_.emplace_back(sig, old);
  }
  std::vector<std::pair<int, struct sigaction>> saved_;
};

}  // namespace

void ServeRequest(fuse_session* se, fuse_buf& buf, const RequestInspector& inspect) {
  if (inspect) inspect(buf);
  // A request this small is always in memory, never left in a splice pipe.
  if (!(buf.flags & FUSE_BUF_IS_FD) && buf.size >= sizeof(fuse_in_header)) {
    auto* header = static_cast<fuse_in_header*>(buf.mem);
    if (header->opcode == FUSE_TMPFILE) header->opcode = FUSE_CREATE;  // see session_loop.h
  }
  fuse_session_process_buf(se, &buf);
}

int RunSessionLoop(fuse_session* se, int max_threads, RequestInspector inspect) {
  Loop loop;
  loop.se = se;
  loop.inspect = std::move(inspect);
  loop.max_threads = max_threads > 0 ? static_cast<size_t>(max_threads) : 1;
  sem_init(&loop.ended, 0, 0);
  active_loop = &loop;
  int result = 1;
  {
    SignalSetup signals;
    // Workers start with every signal blocked, so stop signals reach this thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    bool started;
    {
      std::lock_guard lock(loop.mu);
      started = StartWorkerLocked(loop);
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (started) {
      // Until the session ends (EINTR: look again), watching the reader token:
      // every half of kStuckNanos while requests come, backing off to 4 times
      // kStuckNanos while none do (a first slow request after a pause holds
      // the token at most ~20 ms), then asleep until the next request comes,
      // so that an idle mount wakes no thread at all.
      uint64_t seen = 0;
      long interval = kStuckNanos / 2;
      constexpr long kLongest = kStuckNanos * 4;
      while (!fuse_session_exited(se)) {
        const uint64_t now_seen = loop.requests.load();
        if (now_seen == seen && interval == kLongest && loop.serving_since == 0) {
          loop.watchdog_asleep = true;
          if (loop.requests.load() == seen) sem_wait(&loop.ended);
          loop.watchdog_asleep = false;
          interval = kStuckNanos / 2;
          continue;
        }
        interval = now_seen != seen ? kStuckNanos / 2 : std::min(interval * 2, kLongest);
        seen = now_seen;
        timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += interval;
        if (until.tv_nsec >= 1'000'000'000) until.tv_sec += 1, until.tv_nsec -= 1'000'000'000;
        sem_timedwait(&loop.ended, &until);
        Watch(loop);
      }
      StopWorkers(loop);
      result = loop.error == 0 ? 0 : 1;
    }
    active_loop = nullptr;
  }
  sem_destroy(&loop.ended);
  fuse_session_reset(se);
  return result;
}

}  // namespace strata::fuse
