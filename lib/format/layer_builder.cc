#include "format/layer_builder.h"

#include "format/upper_dir.h"

#include <vector>

#include "strata/text.h"
#include "util/status_macros.h"

namespace strata {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

std::string Quote(std::string_view s) {
  std::string quoted(1, '\'');  // built by appending: GCC 12 -O3 warns falsely on "'" + string
  quoted.append(s).push_back('\'');
  return quoted;
}

std::string ParentOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Entry ImplicitDir(std::string path) {
  Entry d;
  d.path = std::move(path);
  d.type = EntryType::kDirectory;
  d.mode = 0755;
  d.implicit = true;
  return d;
}

}  // namespace

Result<std::string> NormalizeTarPath(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("entry name contains a NUL byte");
  }
  if (name.size() > kMaxPathLength) {
    return Status::InvalidArgument("entry name is " + std::to_string(name.size()) +
                                   " bytes, longer than PATH_MAX");
  }
  std::string out;
  size_t i = 0;
  while (i <= name.size()) {
    size_t j = name.find('/', i);
    if (j == std::string_view::npos) j = name.size();
    std::string_view part = name.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return Status::InvalidArgument("entry " + Quote(name) + " climbs out of the layer with '..'");
    }
    if (part.size() > kMaxNameLength) {
      return Status::InvalidArgument("entry " + Quote(name) + " has a component longer than NAME_MAX");
    }
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

LayerBuilder::LayerBuilder() {
  entries_.emplace("", ImplicitDir(""));
}

bool LayerBuilder::HasChildren(const std::string& dir) const {
  if (dir.empty()) return entries_.size() > 1;
  auto it = entries_.lower_bound(dir + "/");
  return it != entries_.end() && it->first.compare(0, dir.size() + 1, dir + "/") == 0;
}

// Every ancestor must be a directory of this layer (or be implied by the
// entry): an entry reached through a symlink the tar planted is refused.
Status LayerBuilder::EnsureParents(const std::string& path, std::string_view tar_name) {
  if (path.empty()) return Status::OK();
  std::vector<std::string> missing;
  for (std::string dir = ParentOf(path);; dir = ParentOf(dir)) {
    auto it = entries_.find(dir);
    if (it == entries_.end()) {
      missing.push_back(dir);
    } else if (it->second.type != EntryType::kDirectory) {
      std::string what = it->second.type == EntryType::kSymlink    ? "a symlink"
                         : it->second.type == EntryType::kWhiteout ? "a whiteout"
                                                                   : "not a directory";
      return Status::InvalidArgument("entry " + Quote(tar_name) + " is reached through " + Quote(dir) +
                                     ", which this tar made " + what);
    } else {
      break;
    }
    if (dir.empty()) break;
  }
  for (auto& dir : missing) entries_.emplace(dir, ImplicitDir(dir));
  return Status::OK();
}

Result<Entry*> LayerBuilder::Put(Entry e, std::string_view tar_name) {
  if (e.path.empty() && e.type != EntryType::kDirectory) {
    return Status::InvalidArgument("entry " + Quote(tar_name) + " makes the layer root a non-directory");
  }
  RETURN_IF_ERROR(EnsureParents(e.path, tar_name));
  auto it = entries_.find(e.path);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxEntries) {
      return Status::InvalidArgument("tar has more than " + std::to_string(kMaxEntries) + " entries");
    }
    return &entries_.emplace(e.path, std::move(e)).first->second;
  }
  Entry& old = it->second;
  if ((old.type == EntryType::kWhiteout) != (e.type == EntryType::kWhiteout)) {
    return Status::InvalidArgument("tar has both " + Quote(e.path) + " and a whiteout for it");
  }
  if (hardlink_targets_.count(e.path)) {
    return Status::InvalidArgument("entry " + Quote(tar_name) + " replaces the target of a hardlink");
  }
  if (old.type == EntryType::kDirectory && e.type != EntryType::kDirectory && HasChildren(e.path)) {
    return Status::InvalidArgument("entry " + Quote(tar_name) + " replaces a directory that has entries");
  }
  if (old.type == EntryType::kDirectory && e.type == EntryType::kDirectory) e.opaque = old.opaque;
  old = std::move(e);  // a later entry for the same path wins, as with tar -x
  return &old;
}

Result<Entry*> LayerBuilder::Add(Entry e) {
  const std::string tar_name = e.path;
  ASSIGN_OR_RETURN(e.path, NormalizeTarPath(tar_name));
  // An overlay's own attributes (opaque, redirect, metacopy, origin...) in a
  // layer would act on every union that shows it: refused, as an image has
  // no business carrying them.
  for (const Xattr& x : e.xattrs) {
    if (upper::IsPrivateXattr(x.name)) {
      return Status::InvalidArgument("tar entry " + Quote(tar_name) + " carries the overlay attribute " +
                                     x.name + ", which an image may not set");
    }
  }
  const std::string base = BaseOf(e.path);
  const std::string parent = ParentOf(e.path);

  if (base == kOpaqueMarker) {
    RETURN_IF_ERROR(EnsureParents(e.path, tar_name));
    entries_.at(parent).opaque = true;
    return nullptr;
  }
  if (base.compare(0, kMetaPrefix.size(), kMetaPrefix) == 0) return nullptr;  // AUFS metadata
  if (base.compare(0, kWhiteoutPrefix.size(), kWhiteoutPrefix) == 0) {
    std::string hidden = base.substr(kWhiteoutPrefix.size());
    if (hidden.empty() || hidden == "." || hidden == "..") {
      return Status::InvalidArgument("whiteout " + Quote(tar_name) + " names no valid entry");
    }
    Entry w;
    w.path = JoinPath(parent, hidden);
    w.type = EntryType::kWhiteout;
    w.mode = e.mode;
    w.uid = e.uid;
    w.gid = e.gid;
    w.mtime_sec = e.mtime_sec;
    w.mtime_nsec = e.mtime_nsec;
    RETURN_IF_ERROR(Put(std::move(w), tar_name).status());
    return nullptr;
  }

  if (e.type == EntryType::kSymlink && e.link_target.size() > kMaxPathLength) {
    return Status::InvalidArgument("symlink " + Quote(tar_name) + " has a target longer than PATH_MAX");
  }
  if (e.type == EntryType::kHardlink) {
    std::string raw_target = e.link_target;
    ASSIGN_OR_RETURN(std::string target, NormalizeTarPath(raw_target));
    auto it = entries_.find(target);
    if (it == entries_.end() || target == e.path || it->second.type == EntryType::kDirectory ||
        it->second.type == EntryType::kWhiteout) {
      return Status::InvalidArgument("hardlink " + Quote(tar_name) + " points to " + Quote(raw_target) +
                                     ", which is not an earlier file of this layer");
    }
    if (it->second.type == EntryType::kHardlink) target = it->second.link_target;
    Entry link;
    link.path = e.path;
    link.type = EntryType::kHardlink;
    link.link_target = target;
    ASSIGN_OR_RETURN(Entry * stored, Put(std::move(link), tar_name));
    hardlink_targets_.insert(target);
    return stored;
  }
  return Put(std::move(e), tar_name);
}

LayerIndex LayerBuilder::Finish() && {
  // primary path -> paths linking to it
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& [path, e] : entries_) {
    if (e.type == EntryType::kHardlink) groups[e.link_target].push_back(path);
  }
  for (auto& [primary, links] : groups) {
    const std::string& first = links.front();  // links are visited in sorted order
    if (!(first < primary)) continue;
    Entry data = std::move(entries_.at(primary));
    data.path = first;
    entries_.at(first) = std::move(data);
    Entry& old_primary = entries_.at(primary);
    old_primary = Entry{};
    old_primary.path = primary;
    old_primary.type = EntryType::kHardlink;
    old_primary.link_target = first;
    for (const auto& link : links) {
      if (link != first) entries_.at(link).link_target = first;
    }
  }
  LayerIndex index;
  index.entries.reserve(entries_.size());
  for (auto& [path, e] : entries_) index.entries.push_back(std::move(e));
  return index;
}

}  // namespace strata
