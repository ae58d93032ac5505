#include "session_loop.h"

#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>

#include <cstdlib>
#include <vector>

namespace strata::fuse {

namespace {

struct Loop {
  fuse_session* se;
  sem_t finished;  // posted by a worker that stops
  int error = 0;
};

void* Work(void* arg) {
  auto* loop = static_cast<Loop*>(arg);
  fuse_buf buf{};
  while (!fuse_session_exited(loop->se)) {
    int res = fuse_session_receive_buf(loop->se, &buf);  // a cancellation point
    if (res == -EINTR) continue;
    if (res <= 0) {
      if (res < 0) loop->error = res;
      fuse_session_exit(loop->se);
      break;
    }
    int old_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old_state);  // a request is never cut short
    if (!(buf.flags & FUSE_BUF_IS_FD) && buf.size >= sizeof(fuse_in_header)) {
      auto* header = static_cast<fuse_in_header*>(buf.mem);
      if (header->opcode == FUSE_TMPFILE) header->opcode = FUSE_CREATE;
    }
    fuse_session_process_buf(loop->se, &buf);
    pthread_setcancelstate(old_state, nullptr);
  }
  std::free(buf.mem);
  sem_post(&loop->finished);
  return nullptr;
}

}  // namespace

int RunSessionLoop(fuse_session* se, int threads) {
  Loop loop{se, {}, 0};
  sem_init(&loop.finished, 0, 0);
  // Workers block signals, so SIGTERM reaches this thread and wakes the wait below.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::vector<pthread_t> workers;
  for (int i = 0; i < threads; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, Work, &loop) == 0) workers.push_back(t);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (workers.empty()) loop.error = -EAGAIN;
  while (!workers.empty() && !fuse_session_exited(se)) sem_wait(&loop.finished);
  for (pthread_t t : workers) pthread_cancel(t);  // those still waiting for a request
  for (pthread_t t : workers) pthread_join(t, nullptr);
  sem_destroy(&loop.finished);
  fuse_session_reset(se);
  return loop.error == 0 ? 0 : 1;
}

}  // namespace strata::fuse
