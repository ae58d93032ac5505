#include "session_loop.h"

#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

namespace strata::fuse {

namespace {

constexpr int kWakeSignal = SIGUSR1;
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

struct Loop {
  fuse_session* se = nullptr;
  size_t max_threads = 1;
  RequestInspector inspect;
  sem_t ended;  // posted by a stop signal, or by a worker that saw the session end
  std::atomic<int> error{0};
  std::atomic<size_t> waiting{0};  // workers waiting for a request
  std::mutex mu;
  std::vector<pthread_t> workers;  // guarded by mu; joined at the end
  size_t running = 0;              // guarded by mu: workers not yet returned
};

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
  ++loop.waiting;
  ++loop.running;
  return true;
}

void* Work(void* arg) {
  Loop& loop = *static_cast<Loop*>(arg);
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, kWakeSignal);
  fuse_buf buf{};
  while (!fuse_session_exited(loop.se)) {
    // The wake signal may interrupt the wait for a request, never a request
    // being served (its host calls would fail with EINTR).
    pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
    int received = fuse_session_receive_buf(loop.se, &buf);
    pthread_sigmask(SIG_BLOCK, &wake, nullptr);
    if (received == -EINTR) continue;
    if (received <= 0) {  // 0: unmounted (libfuse marks the session exited)
      if (received < 0) loop.error = received;
      break;
    }
    if (--loop.waiting == 0) {
      // The last waiting worker took this request: start another, so that a
      // slow request (a big copy-up) never holds up the rest.
      std::lock_guard lock(loop.mu);
      if (loop.workers.size() < loop.max_threads) StartWorkerLocked(loop);
    }
    ServeRequest(loop.se, buf, loop.inspect);
    ++loop.waiting;
  }
  std::free(buf.mem);
  fuse_session_exit(loop.se);
  sem_post(&loop.ended);
  std::lock_guard lock(loop.mu);
  --loop.running;
  return nullptr;
}

// Wakes every worker still waiting for a request until all have returned. A
// signal that lands just before a worker blocks is missed, hence the repeats.
void StopWorkers(Loop& loop) {
  for (;;) {
    {
      std::lock_guard lock(loop.mu);
      if (loop.running == 0) break;
      for (pthread_t thread : loop.workers) pthread_kill(thread, kWakeSignal);
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
  // A request this small is always in memory, never left in a splice pipe.
  if (!(buf.flags & FUSE_BUF_IS_FD) && buf.size >= sizeof(fuse_in_header)) {
    if (inspect) inspect(buf);
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
      while (!fuse_session_exited(se)) sem_wait(&loop.ended);  // EINTR: look again
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
