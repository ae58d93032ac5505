#include "util/process.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "strata/text.h"
#include "util/file_util.h"

namespace strata {

std::string HelperProgram(const std::string& name, const char* env) {
  if (const char* value = std::getenv(env); value && *value) return value;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = self.parent_path() / name;
    if (::access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  return std::string(STRATA_INSTALL_BINDIR) + "/" + name;
}

namespace {

// /proc/PID/stat's fields after "pid (comm)": comm may hold spaces and
// parentheses, so they are counted from the last ')'. Field 3 of the whole
// line is [0] here.
std::vector<std::string> StatFields(int pid) {
  if (pid <= 0) return {};
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return {};
  size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 > stat->size()) return {};
  return Split(std::string_view(*stat).substr(close + 2), ' ');
}

}  // namespace

uint64_t ProcessStartTime(int pid) {
  std::vector<std::string> fields = StatFields(pid);
  if (fields.size() < 20) return 0;
  return ParseUnsigned(fields[19]).value_or(0);  // field 22 of the whole line
}

bool ProcessIsAlive(int pid, uint64_t start_time) {
  if (pid <= 0 || start_time == 0) return false;
  std::vector<std::string> fields = StatFields(pid);
  // A zombie has ended: only its parent has not asked how.
  return fields.size() >= 20 && fields[0] != "Z" && fields[0] != "X" &&
         ParseUnsigned(fields[19]).value_or(0) == start_time;
}

namespace {

// Pids of the children Spawn is waiting for; slots, so that a signal handler
// can read them without a lock.
constexpr int kSlots = 16;
std::atomic<int> g_children[kSlots];

int TakeSlot(int pid) {
  for (int i = 0; i < kSlots; ++i) {
    int free_slot = 0;
    if (g_children[i].compare_exchange_strong(free_slot, pid)) return i;
  }
  return -1;
}

}  // namespace

void SignalSpawnedChildren(int signal) {
  for (auto& child : g_children) {
    int pid = child.load();
    if (pid > 0) ::kill(pid, signal);
  }
}

Result<int> Spawn(const std::vector<std::string>& args, int out_fd, int err_fd, int in_fd) {
  if (args.empty()) return Status::InvalidArgument("nothing to run");
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork", "");
  if (pid == 0) {
    int in = in_fd >= 0 ? in_fd : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in != 0) ::dup2(in, 0);  // dup2 makes fd 0 inheritable
    if (out_fd != 1) ::dup2(out_fd, 1);
    if (err_fd != 2) ::dup2(err_fd, 2);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  const int slot = TakeSlot(pid);
  int status = 0;
  int rc;
  while ((rc = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (slot >= 0) g_children[slot].store(0);
  if (rc < 0) return ErrnoStatus("waitpid", "");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace strata
