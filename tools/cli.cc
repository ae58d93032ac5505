#include "cli.h"

#include <cstdio>
#include <ctime>

namespace strata::cli {

Store& Context::OpenStore() {
  if (!store) store = Check(Store::Open(root));
  return *store;
}

void Fail(const std::string& message, int exit_code) {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "strata: error: %s\n", line.c_str());
  throw CLI::RuntimeError(exit_code);
}

void Fail(const Status& status) {
  Fail(status.message());
}

std::string HumanSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1000 && u + 1 < std::size(kUnits)) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.3g%s", v, kUnits[u]);
  return buf;
}

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string ShortId(const std::string& id) {
  return id.substr(0, 12);
}

}  // namespace strata::cli
