#include "format/reference.h"

#include <algorithm>

#include "strata/text.h"

namespace strata {

namespace {

// The distribution reference grammar (distribution/reference), checked by
// hand: std::regex took longer to compile than the rest of a mount's start.
bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A domain is dot-separated labels of letters, digits and inner hyphens, with
// an optional port.
bool IsDomain(std::string_view s) {
  if (auto colon = s.find(':'); colon != std::string_view::npos) {
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    s = s.substr(0, colon);
  }
  for (size_t start = 0;;) {
    const size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || !IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return IsAlnum(c) || c == '-'; })) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// A path component is runs of lowercase alphanumerics joined by one '.', one
// or two '_', or any number of '-'.
bool IsPathComponent(std::string_view s) {
  size_t i = 0;
  while (true) {
    const size_t run = i;
    while (i < s.size() && IsLowerAlnum(s[i])) ++i;
    if (i == run) return false;  // empty, or starting or ending with a separator
    if (i == s.size()) return true;
    const size_t sep = i;
    while (i < s.size() && !IsLowerAlnum(s[i])) ++i;
    std::string_view joint = s.substr(sep, i - sep);
    const bool dashes = std::all_of(joint.begin(), joint.end(), [](char c) { return c == '-'; });
    if (joint != "." && joint != "_" && joint != "__" && !dashes) return false;
  }
}

// A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool IsTag(std::string_view s) {
  if (s.empty() || s.size() > 128 || !(IsAlnum(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; });
}

// As distribution decides: the first of several components is a registry when
// it has a '.' or a ':', is "localhost", or has an upper-case letter.
bool LooksLikeDomain(const std::string& s) {
  if (s == "localhost" || s.find_first_of(".:") != std::string::npos) return true;
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

Status Invalid(std::string_view ref, const std::string& why) {
  return Status::InvalidArgument("invalid image reference '" + std::string(ref) + "': " + why);
}

}  // namespace

Result<std::string> NormalizeReference(std::string_view ref) {
  if (ref.empty()) return Invalid(ref, "empty");
  if (ref.size() > 255) return Invalid(ref, "longer than 255 characters");
  std::string name(ref), tag = "latest";
  const size_t slash = name.rfind('/'), colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    tag = name.substr(colon + 1);
    name.resize(colon);
    if (!IsTag(tag)) return Invalid(ref, "a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  }
  std::vector<std::string> parts = Split(name, '/');
  if (parts.empty() || name.back() == '/') return Invalid(ref, "empty path component");
  std::string domain;
  if (parts.size() > 1 && LooksLikeDomain(parts[0])) {
    domain = parts[0];
    parts.erase(parts.begin());
    if (!IsDomain(domain)) return Invalid(ref, "bad registry name '" + domain + "'");
  }
  for (const auto& p : parts) {
    if (!IsPathComponent(p)) {
      return Invalid(ref, p.empty()
                              ? "empty path component"
                              : "path component '" + p + "' is not lowercase [a-z0-9] joined by . _ __ or -");
    }
  }
  // One name for one image, as docker and podman show it: Docker Hub's
  // registry and its "library/" namespace, and podman's "localhost/" for
  // local images, are left out.
  if (domain == "docker.io" || domain == "index.docker.io" || domain == "localhost") domain.clear();
  if (domain.empty() && parts.size() == 2 && parts[0] == "library") parts.erase(parts.begin());
  std::string out = domain;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out + ":" + tag;
}

std::string QualifiedReference(const std::string& normalized) {
  const size_t slash = normalized.find('/');
  if (slash != std::string::npos && LooksLikeDomain(normalized.substr(0, slash))) return normalized;
  return (slash == std::string::npos ? "docker.io/library/" : "docker.io/") + normalized;
}

bool LooksLikeId(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status CheckObjectName(const char* what, const std::string& name) {
  const bool ok = name.size() >= 2 && name.size() <= 255 && IsAlnum(name[0]) &&
                  std::all_of(name.begin(), name.end(),
                              [](char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; });
  if (!ok) {
    return Status::InvalidArgument(std::string("invalid ") + what + " name '" + name +
                                   "': want [a-zA-Z0-9][a-zA-Z0-9_.-]+");
  }
  return Status::OK();
}

}  // namespace strata
