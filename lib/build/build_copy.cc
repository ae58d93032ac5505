#include "build/build_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <deque>
#include <map>

#include "util/file_util.h"
#include "util/progress_meter.h"
#include "util/status_macros.h"

namespace strata {

namespace {

constexpr int kMaxSymlinks = 40;

std::deque<std::string> Components(std::string_view path) {
  std::deque<std::string> out;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (!part.empty() && part != ".") out.emplace_back(part);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return out;
}

// Walks `path` from the root of the union, following symlinks without ever
// leaving the root; makes missing directories when `create`.
Result<uint64_t> ResolveDir(OverlayFs& fs, std::string_view path, bool create) {
  std::vector<uint64_t> stack = {kRootNode};
  std::deque<std::string> todo = Components(path);
  int links = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == "..") {
      if (stack.size() > 1) stack.pop_back();
      continue;
    }
    auto entry = fs.Lookup(stack.back(), name);
    if (!entry.ok() && entry.status().ToErrno() == ENOENT && create) {
      ASSIGN_OR_RETURN(entry, fs.Mkdir(stack.back(), name, 0755, Caller{}));
      AttrChange mode;  // the process umask must not decide the mode
      mode.mask = AttrChange::kMode;
      mode.mode = 0755;
      RETURN_IF_ERROR(fs.SetAttr(entry->node, mode, -1).status());
    }
    if (!entry.ok()) return Status::NotFound(std::string(path) + ": " + entry.status().message());
    if (S_ISLNK(entry->attr.st_mode)) {
      if (++links > kMaxSymlinks) return Status::InvalidArgument(std::string(path) + ": too many symlinks");
      ASSIGN_OR_RETURN(std::string target, fs.ReadLink(entry->node));
      if (!target.empty() && target[0] == '/') stack.resize(1);
      auto parts = Components(target);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    if (!S_ISDIR(entry->attr.st_mode))
      return Status::InvalidArgument(std::string(path) + ": not a directory");
    stack.push_back(entry->node);
  }
  return stack.back();
}

Status CopyBytes(const std::string& from, int to_fd, ProgressMeter* progress) {
  return ReadChunks(from, [&](const char* data, size_t len) {
    if (progress) progress->Add(len);
    return WriteAll(to_fd, data, len, from);
  });
}

// Puts one entry at parent/name, replacing a non-directory there. Returns its node.
Result<uint64_t> PutEntry(OverlayFs& fs, uint64_t parent, const std::string& name, const SourceEntry& e,
                          const CopyOptions& options, const std::string& shown_path) {
  Caller owner{options.uid.value_or(e.uid), options.gid.value_or(e.gid)};
  uint32_t perms = options.mode.value_or(e.mode & 07777);
  auto existing = fs.Lookup(parent, name);
  if (existing.ok()) {
    if (S_ISDIR(existing->attr.st_mode)) {
      if (S_ISDIR(e.mode)) return existing->node;  // merge into it, as docker does
      return Status::InvalidArgument("cannot replace directory " + shown_path + " with a file");
    }
    RETURN_IF_ERROR(fs.Unlink(parent, name));
  }
  NodeEntry made;
  std::unique_ptr<OpenFile> file;
  switch (e.mode & S_IFMT) {
    case S_IFDIR: {
      ASSIGN_OR_RETURN(made, fs.Mkdir(parent, name, perms, owner));
      break;
    }
    case S_IFLNK: {
      ASSIGN_OR_RETURN(made, fs.Symlink(parent, name, e.link_target, owner));
      break;
    }
    case S_IFREG: {
      ASSIGN_OR_RETURN(auto created, fs.Create(parent, name, perms, O_WRONLY | O_CREAT | O_EXCL, owner));
      made = created.first;
      file = std::move(created.second);
      if (!e.content_path.empty())
        RETURN_IF_ERROR(CopyBytes(e.content_path, file->CurrentFd(), options.progress));
      break;
    }
    default: {
      ASSIGN_OR_RETURN(made, fs.Mknod(parent, name, (e.mode & S_IFMT) | perms,
                                      makedev(e.rdev_major, e.rdev_minor), owner));
    }
  }
  for (const Xattr& x : e.xattrs) RETURN_IF_ERROR(fs.SetXattr(made.node, x.name, x.value, 0));
  AttrChange change;
  change.mask = AttrChange::kMtime | AttrChange::kAtime;
  if (!S_ISLNK(e.mode)) {
    change.mask |= AttrChange::kMode;  // after the owner: chown clears set-id bits
    change.mode = perms;
  }
  change.mtime = change.atime = {e.mtime_sec, static_cast<long>(e.mtime_nsec)};
  RETURN_IF_ERROR(fs.SetAttr(made.node, change, file ? file->CurrentFd() : -1).status());
  return made.node;
}

// Copies a tree's entries below `dir` (the top entry itself is skipped when
// `contents_only`: a directory source copies what it holds).
Status PutTree(OverlayFs& fs, uint64_t dir, const std::string& dir_path, const std::string& top_name,
               const SourceTree& tree, const CopyOptions& options) {
  std::map<std::string, uint64_t> dirs;  // rel -> node
  for (const SourceEntry& e : tree.entries) {
    uint64_t parent = dir;
    std::string name = top_name;
    if (e.rel.empty()) {
      if (tree.is_dir()) {
        dirs[""] = dir;
        continue;
      }
    } else {
      auto slash = e.rel.rfind('/');
      parent = dirs.at(slash == std::string::npos ? "" : e.rel.substr(0, slash));
      name = slash == std::string::npos ? e.rel : e.rel.substr(slash + 1);
    }
    ASSIGN_OR_RETURN(uint64_t node, PutEntry(fs, parent, name, e, options, dir_path + "/" + e.rel));
    if (S_ISDIR(e.mode)) dirs[e.rel] = node;
  }
  return Status::OK();
}

}  // namespace

uint64_t TreeContentBytes(const SourceTree& tree) {
  uint64_t total = 0;
  for (const SourceEntry& e : tree.entries) total += S_ISREG(e.mode) ? e.size : 0;
  return total;
}

Status CopyIntoUnion(OverlayFs& fs, const std::string& dest, bool dest_is_dir,
                     const std::vector<SourceTree>& sources, const CopyOptions& options) {
  for (const SourceTree& tree : sources) {
    if (tree.is_dir() || dest_is_dir) {
      ASSIGN_OR_RETURN(uint64_t dir, ResolveDir(fs, dest, /*create=*/true));
      if (tree.is_dir()) {
        RETURN_IF_ERROR(PutTree(fs, dir, dest, "", tree, options));
      } else {
        RETURN_IF_ERROR(PutTree(fs, dir, dest, tree.name, tree, options));
      }
      continue;
    }
    auto slash = dest.rfind('/');
    std::string parent_path = dest.substr(0, slash);
    std::string name = dest.substr(slash + 1);
    ASSIGN_OR_RETURN(uint64_t parent, ResolveDir(fs, parent_path, /*create=*/true));
    if (name.empty() || name == "." || name == "..") {
      ASSIGN_OR_RETURN(parent, ResolveDir(fs, dest, true));
      name = tree.name;
    } else if (auto existing = ResolveDir(fs, dest, false); existing.ok()) {
      parent = *existing;  // an existing directory: the file goes inside
      name = tree.name;
    }
    RETURN_IF_ERROR(PutTree(fs, parent, parent_path, name, tree, options));
  }
  return Status::OK();
}

Status MakeDirsInUnion(OverlayFs& fs, const std::string& path) {
  return ResolveDir(fs, path, /*create=*/true).status();
}

bool DirExistsInUnion(OverlayFs& fs, const std::string& path) {
  return ResolveDir(fs, path, /*create=*/false).ok();
}

}  // namespace strata
