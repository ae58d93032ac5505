// .dockerignore: which files of a build context COPY and ADD never see.
// Docker's rules (moby/patternmatcher): one pattern per line, '#' comments,
// paths relative to the context root, '*' and '?' within one path element,
// '**' across any number of them, '[...]' classes, '\' escapes, '!' to
// re-include; the last matching pattern wins, and a pattern that matches a
// directory matches everything below it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "strata/status.h"

namespace strata {

class DockerIgnore {
 public:
  DockerIgnore() = default;
  // Parses the file's text; `name` is used in error messages.
  static Result<DockerIgnore> Parse(std::string_view text, const std::string& name);
  // Reads CONTEXT/.dockerignore; none is an empty matcher.
  static Result<DockerIgnore> Load(const std::string& context_dir);

  // `path` is relative to the context root, '/'-separated, cleaned.
  bool Excluded(std::string_view path) const;
  // True when some '!' pattern could re-include something below an excluded directory.
  bool has_exceptions() const { return has_exceptions_; }

 private:
  struct Pattern {
    std::string text;
    bool exception = false;
  };
  std::vector<Pattern> patterns_;
  bool has_exceptions_ = false;
};

// Docker's path pattern match ('*', '?', '**', '[...]', '\'), whole string.
bool MatchPathPattern(std::string_view pattern, std::string_view path);

// filepath.Clean for relative '/'-separated paths: no "", ".", "//" or
// trailing '/'; ".." kept only where it climbs above the start. "" -> ".".
std::string CleanPath(std::string_view path);

}  // namespace strata
