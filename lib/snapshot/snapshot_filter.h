// containerd's filter syntax for List, the part snapshots are filtered by:
// `field==value`, `field!=value`, `field~=regexp`, and `field` alone for
// presence, joined by ',' (all must hold); fields are name, parent, kind and
// labels.KEY (a KEY with dots or other characters quoted: labels."a.b").
// Values may be quoted ("..." with \" and \\ escapes).
#pragma once

#include <string>
#include <vector>

#include "strata/snapshotter.h"
#include "strata/status.h"

namespace strata {

class SnapshotFilter {
 public:
  static Result<SnapshotFilter> Parse(const std::string& text);
  bool Matches(const SnapshotInfo& info) const;

 private:
  struct Condition {
    std::vector<std::string> field;  // {"name"} or {"labels", "KEY"}
    std::string op;                  // "==", "!=", "~=", or "" (presence)
    std::string value;
  };
  std::vector<Condition> conditions_;
};

}  // namespace strata
