// User and group names as an image's /etc/passwd and /etc/group define them:
// what USER, and COPY/ADD --chown, name.
#pragma once

#include <cstdint>
#include <string>

#include "strata/status.h"
#include "strata/union_view.h"

namespace strata {

struct UserIds {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

enum class MissingGroup {
  kPrimary,   // USER: the user's primary group from passwd (0 when unknown)
  kSameAsUid  // --chown: docker uses the uid's number
};

// "user", "user:group", "uid", "uid:gid" (names and numbers mixed freely).
// An unknown name is an error naming it.
Result<UserIds> ResolveUser(const std::string& spec, const std::string& passwd, const std::string& group,
                            MissingGroup missing_group);

// Reads a regular file of the tree ("" when it does not exist).
std::string ReadTreeFile(const UnionView& view, const std::string& path);

}  // namespace strata
