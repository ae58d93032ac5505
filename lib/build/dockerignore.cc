#include "build/dockerignore.h"

#include "util/file_util.h"

namespace strata {

namespace {

// Matches one bracket expression at pattern[0] == '['; returns its length
// (0 when malformed) and whether `c` is in it.
size_t MatchClass(std::string_view p, char c, bool* in) {
  size_t i = 1;
  bool negate = i < p.size() && (p[i] == '^' || p[i] == '!');
  if (negate) ++i;
  bool found = false;
  bool first = true;
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    char lo = p[i];
    if (lo == '\\' && i + 1 < p.size()) lo = p[++i];
    char hi = lo;
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hi = p[i + 2];
      if (hi == '\\' && i + 3 < p.size()) hi = p[++i + 2];
      i += 2;
    }
    if (lo <= c && c <= hi) found = true;
    ++i;
  }
  if (i >= p.size()) return 0;
  *in = found != negate;
  return i + 1;
}

bool Match(std::string_view p, std::string_view s) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      std::string_view rest = p.substr(2);
      // "**/" also matches no directory at all.
      if (!rest.empty() && rest[0] == '/' && Match(rest.substr(1), s)) return true;
      for (size_t i = 0; i <= s.size(); ++i) {
        if (Match(rest, s.substr(i))) return true;
      }
      return false;
    }
    switch (p[0]) {
      case '*':
        for (size_t i = 0; i <= s.size(); ++i) {
          if (Match(p.substr(1), s.substr(i))) return true;
          if (i < s.size() && s[i] == '/') break;
        }
        return false;
      case '?':
        if (s.empty() || s[0] == '/') return false;
        break;
      case '[': {
        if (s.empty() || s[0] == '/') return false;
        bool in = false;
        size_t len = MatchClass(p, s[0], &in);
        if (len == 0) return false;
        if (!in) return false;
        p.remove_prefix(len);
        s.remove_prefix(1);
        continue;
      }
      case '\\':
        if (p.size() > 1) p.remove_prefix(1);
        [[fallthrough]];
      default:
        if (s.empty() || s[0] != p[0]) return false;
    }
    p.remove_prefix(1);
    s.remove_prefix(1);
  }
  return s.empty();
}

}  // namespace

bool MatchPathPattern(std::string_view pattern, std::string_view path) {
  return Match(pattern, path);
}

std::string CleanPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t climbs = 0;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) {
        parts.pop_back();
      } else {
        ++climbs;
      }
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (size_t i = 0; i < climbs; ++i) out += out.empty() ? ".." : "/..";
  for (auto part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  return out.empty() ? "." : out;
}

Result<DockerIgnore> DockerIgnore::Parse(std::string_view text, const std::string& name) {
  DockerIgnore ignore;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line[0] == '#') continue;
    Pattern p;
    if (line[0] == '!') {
      p.exception = true;
      line.remove_prefix(1);
      ignore.has_exceptions_ = true;
    }
    while (!line.empty() && line[0] == '/') line.remove_prefix(1);
    p.text = CleanPath(line);
    if (p.text == "." && !line.empty() && line != ".") continue;
    if (p.text.empty()) {
      return Status::InvalidArgument(name + ":" + std::to_string(line_no) + ": empty pattern");
    }
    ignore.patterns_.push_back(std::move(p));
  }
  return ignore;
}

Result<DockerIgnore> DockerIgnore::Load(const std::string& context_dir) {
  std::string path = context_dir + "/.dockerignore";
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return DockerIgnore();
    return text.status();
  }
  return Parse(*text, path);
}

bool DockerIgnore::Excluded(std::string_view path) const {
  bool matched = false;
  for (const Pattern& p : patterns_) {
    if (p.exception != matched) continue;  // cannot change the outcome
    bool match = Match(p.text, path);
    // A pattern that matches a parent directory matches everything below it.
    for (size_t slash = path.find('/'); !match && slash != std::string_view::npos;
         slash = path.find('/', slash + 1)) {
      match = Match(p.text, path.substr(0, slash));
    }
    if (match) matched = !p.exception;
  }
  return matched;
}

}  // namespace strata
