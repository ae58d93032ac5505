#include "registry/registry_ref.h"

#include <cctype>

#include "format/reference.h"
#include "oci/oci_config.h"

namespace strata {

namespace {

bool IsHostPart(const std::string& first) {
  return first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
         first == "localhost" || first.front() == '[';
}

bool ValidRepository(const std::string& repo) {
  // Path components of [a-z0-9]+ joined by separators (., _, -), each component
  // starting and ending with a letter or digit (the distribution grammar, loosely).
  if (repo.empty() || repo.size() > 255) return false;
  char prev = '/';
  for (char c : repo) {
    const bool alnum =
        std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
    if (!alnum) {
      if (c != '/' && c != '.' && c != '_' && c != '-') return false;
      if (prev == '/') return false;  // a component starting with a separator, or empty
      if (c == '/' && (prev == '.' || prev == '_' || prev == '-')) return false;
    }
    prev = c;
  }
  return prev != '/' && prev != '.' && prev != '_' && prev != '-';
}

bool ValidTag(const std::string& tag) {
  if (tag.empty() || tag.size() > 128) return false;
  if (!std::isalnum(static_cast<unsigned char>(tag[0])) && tag[0] != '_') return false;
  for (char c : tag) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

}  // namespace

std::string RegistryRef::LocalName() const {
  std::string name = host == "docker.io" ? repository : host + "/" + repository;
  if (host == "docker.io" && name.rfind("library/", 0) == 0) name = name.substr(8);
  return name + ":" + (tag.empty() ? "latest" : tag);
}

Result<RegistryRef> ParseRegistryRef(const std::string& ref) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("invalid reference " + ref + ": " + why);
  };
  RegistryRef r;
  std::string rest = ref;
  if (auto at = rest.find('@'); at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!IsSha256Digest(r.digest)) return bad("the digest is not sha256:<64 hex digits>");
  }
  auto slash = rest.find('/');
  if (slash != std::string::npos && IsHostPart(rest.substr(0, slash))) {
    r.host = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
  } else {
    r.host = "docker.io";
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!ValidTag(r.tag)) return bad("the tag is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  }
  if (r.host == "docker.io" && rest.find('/') == std::string::npos) rest = "library/" + rest;
  if (!ValidRepository(rest))
    return bad("the repository name must be lowercase letters, digits and separators");
  r.repository = rest;
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

bool IsLoopbackHost(const std::string& host) {
  std::string name = host;
  if (!name.empty() && name[0] == '[') {
    auto end = name.find(']');
    return end != std::string::npos && name.substr(1, end - 1) == "::1";
  }
  if (auto colon = name.rfind(':'); colon != std::string::npos) name = name.substr(0, colon);
  return name == "localhost" || name.rfind("127.", 0) == 0;
}

}  // namespace strata
