#include "format/reference.h"

#include <regex>

#include <regex>

namespace strata {

Result<std::string> NormalizeReference(std::string_view ref) {
  // [host[:port]/]component[/component...][:tag]
  static const std::regex kRef(
      R"(^(([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*)*)(:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$)");
  std::string s(ref);
  std::smatch m;
  if (s.size() > 255 || !std::regex_match(s, m, kRef)) {
    return Status::InvalidArgument("invalid image reference '" + s +
                                   "': want name[:tag], lowercase name, tag of [A-Za-z0-9_.-]");
  }
  std::string tag = m[8].matched ? m[8].str() : "latest";
  return m[1].str() + ":" + tag;
}

bool LooksLikeId(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status CheckObjectName(const char* what, const std::string& name) {
  static const std::regex kName("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
  if (name.size() > 255 || !std::regex_match(name, kName)) {
    return Status::InvalidArgument(std::string("invalid ") + what + " name '" + name +
                                   "': want [a-zA-Z0-9][a-zA-Z0-9_.-]+");
  }
  return Status::OK();
}

}  // namespace strata
