#include "runtime/passwd.h"

#include <cstdlib>
#include <optional>
#include <sstream>
#include <vector>

#include "strata/text.h"
#include "util/file_util.h"

namespace strata {

namespace {

std::optional<uint32_t> Number(const std::string& s) {
  auto v = ParseUnsigned(s, 10, UINT32_MAX);
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

// Finds the line whose first field is `name` (or, with by_id, whose third
// field is it) in a passwd/group file; returns its fields.
std::optional<std::vector<std::string>> FindLine(const std::string& text, const std::string& key,
                                                 bool by_id) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::istringstream fs(line);
    std::string f;
    while (std::getline(fs, f, ':')) fields.push_back(f);
    if (fields.size() < 3) continue;
    if ((by_id ? fields[2] : fields[0]) == key) return fields;
  }
  return std::nullopt;
}

}  // namespace

Result<UserIds> ResolveUser(const std::string& spec, const std::string& passwd, const std::string& group,
                            MissingGroup missing_group) {
  if (spec.empty()) return UserIds{};
  auto colon = spec.find(':');
  std::string user = spec.substr(0, colon);
  std::string grp = colon == std::string::npos ? "" : spec.substr(colon + 1);
  UserIds ids;
  std::optional<std::vector<std::string>> pw;
  if (auto n = Number(user)) {
    ids.uid = *n;
    pw = FindLine(passwd, user, /*by_id=*/true);
  } else {
    pw = FindLine(passwd, user, false);
    if (!pw) return Status::NotFound("unable to find user " + user + ": no matching entries in passwd file");
    auto uid = Number((*pw)[2]);
    if (!uid) return Status::InvalidArgument("bad uid for user " + user + " in /etc/passwd");
    ids.uid = *uid;
  }
  if (!grp.empty()) {
    if (auto n = Number(grp)) {
      ids.gid = *n;
    } else {
      auto gr = FindLine(group, grp, false);
      if (!gr) return Status::NotFound("unable to find group " + grp + ": no matching entries in group file");
      auto gid = Number((*gr)[2]);
      if (!gid) return Status::InvalidArgument("bad gid for group " + grp + " in /etc/group");
      ids.gid = *gid;
    }
  } else if (missing_group == MissingGroup::kSameAsUid) {
    ids.gid = ids.uid;
    if (!Number(user) && pw && pw->size() > 3) {
      // A name: docker uses the group of that name, else the primary group.
      if (auto gr = FindLine(group, user, false); gr && Number((*gr)[2])) {
        ids.gid = *Number((*gr)[2]);
      } else if (auto gid = Number((*pw)[3])) {
        ids.gid = *gid;
      }
    }
  } else if (pw && pw->size() > 3) {
    if (auto gid = Number((*pw)[3])) ids.gid = *gid;
  }
  return ids;
}

std::string ReadTreeFile(const UnionView& view, const std::string& path) {
  auto node = view.Resolve(path);
  if (!node.ok()) return "";
  auto content = view.ContentPath(*node);
  if (!content.ok() || content->empty()) return "";
  auto text = ReadFile(*content);
  return text.ok() ? *text : "";
}

}  // namespace strata
