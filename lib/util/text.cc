#include "strata/text.h"

#include <time.h>

#include <charconv>
#include <cstdio>
#include <ctime>
#include <iterator>

namespace strata {

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty() || dir == ".") return std::string(name);
  std::string out(dir);
  out += '/';
  out += name;
  return out;
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

std::optional<uint64_t> ParseUnsigned(std::string_view text, int base, uint64_t max) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
  if (text.empty() || ec != std::errc() || ptr != end || value > max) return std::nullopt;
  return value;
}

}  // namespace strata

namespace strata {

std::string FormatRfc3339(int64_t seconds, uint32_t nanos) {
  time_t t = static_cast<time_t>(seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (nanos != 0 && nanos < 1'000'000'000) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%09u", nanos);
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

std::optional<Timestamp> ParseRfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM), 't' and 'z' allowed as RFC 3339 does.
  auto digits = [&](size_t at, size_t count) -> std::optional<int> {
    if (at + count > text.size()) return std::nullopt;
    auto v = ParseUnsigned(text.substr(at, count));
    if (!v) return std::nullopt;
    return static_cast<int>(*v);
  };
  auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
       minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' || text[16] != ':')
    return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60)
    return std::nullopt;
  size_t at = 19;
  uint32_t nanos = 0;
  if (at < text.size() && text[at] == '.') {
    size_t end = ++at;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == at) return std::nullopt;
    for (size_t i = 0; i < 9; ++i) nanos = nanos * 10 + (at + i < end ? text[at + i] - '0' : 0);
    at = end;
  }
  int64_t offset = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    auto oh = digits(at + 1, 2), om = digits(at + 4, 2);
    if (!oh || !om || text[at + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
    offset = (text[at] == '+' ? 1 : -1) * (*oh * 3600 + *om * 60);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  struct tm tm {};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  return Timestamp{static_cast<int64_t>(timegm(&tm)) - offset, nanos};
}

}  // namespace strata
