#include "format/reference.h"

#include <regex>

#include "strata/text.h"

namespace strata {

namespace {

// The distribution reference grammar (distribution/reference): a domain is
// dot-separated components of letters, digits and inner hyphens, with an
// optional port; a path component is lowercase alphanumerics joined by one
// '.', one or two '_', or any number of '-'.
bool IsDomain(const std::string& s) {
  static const std::regex kDomain(
      R"(^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(:[0-9]+)?$)");
  return std::regex_match(s, kDomain);
}

bool IsPathComponent(const std::string& s) {
  static const std::regex kComponent(R"(^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$)");
  return std::regex_match(s, kComponent);
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
    static const std::regex kTag(R"(^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$)");
    if (!std::regex_match(tag, kTag)) return Invalid(ref, "a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
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
  static const std::regex kName("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
  if (name.size() > 255 || !std::regex_match(name, kName)) {
    return Status::InvalidArgument(std::string("invalid ") + what + " name '" + name +
                                   "': want [a-zA-Z0-9][a-zA-Z0-9_.-]+");
  }
  return Status::OK();
}

}  // namespace strata
