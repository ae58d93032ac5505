#include "build/build_source.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "format/dir_layer.h"
#include "strata/text.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

bool HasGlob(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

std::string BaseName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The xattrs a source carries into the image: security labels belong to the host.
std::vector<Xattr> HostXattrs(const std::string& path) {
  std::vector<Xattr> out = ReadXattrs(path);
  std::erase_if(out, [](const Xattr& x) { return x.name.rfind("security.selinux", 0) == 0; });
  return out;
}

// Walks a host tree into entries. `ctx_rel` is the path relative to the
// context (for .dockerignore); `ignore` may be null.
class HostWalker {
 public:
  HostWalker(const DockerIgnore* ignore, bool zero_owners) : ignore_(ignore), zero_owners_(zero_owners) {}

  Status Walk(const std::string& path, const std::string& ctx_rel, const std::string& rel,
              std::vector<SourceEntry>* out) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path);
    SourceEntry e;
    e.rel = rel;
    e.mode = st.st_mode;
    e.uid = zero_owners_ ? 0 : st.st_uid;
    e.gid = zero_owners_ ? 0 : st.st_gid;
    e.mtime_sec = st.st_mtim.tv_sec;
    e.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) {
      e.size = static_cast<uint64_t>(st.st_size);
      if (e.size > 0) e.content_path = path;
    } else if (S_ISLNK(st.st_mode)) {
      char buf[PATH_MAX];
      ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
      if (n < 0) return ErrnoStatus("readlink", path);
      e.link_target.assign(buf, static_cast<size_t>(n));
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      e.rdev_major = major(st.st_rdev);
      e.rdev_minor = minor(st.st_rdev);
    }
    e.xattrs = HostXattrs(path);
    out->push_back(std::move(e));
    if (!S_ISDIR(st.st_mode)) return Status::OK();
    ASSIGN_OR_RETURN(auto names, ListDir(path));
    for (const std::string& name : names) {
      std::string child_ctx = JoinPath(ctx_rel, name);
      std::string child_path = path + "/" + name;
      std::string child_rel = JoinPath(rel, name);
      if (ignore_ && ignore_->Excluded(child_ctx)) {
        if (!ignore_->has_exceptions()) continue;
        // Something below may be re-included ("!dir/keep"): keep the
        // directory only if it is.
        struct stat cst;
        if (::lstat(child_path.c_str(), &cst) != 0 || !S_ISDIR(cst.st_mode)) continue;
        std::vector<SourceEntry> below;
        RETURN_IF_ERROR(Walk(child_path, child_ctx, child_rel, &below));
        if (below.size() > 1) out->insert(out->end(), below.begin(), below.end());
        continue;
      }
      RETURN_IF_ERROR(Walk(child_path, child_ctx, child_rel, out));
    }
    return Status::OK();
  }

 private:
  const DockerIgnore* ignore_;
  bool zero_owners_;
};

// A source's parent directories must not leave the context through a
// symlink (the source itself, when a symlink, is copied as one).
Status CheckInsideContext(const std::string& context_dir, const std::string& path, const std::string& raw) {
  char root[PATH_MAX], parent[PATH_MAX];
  std::string parent_path = path.substr(0, path.rfind('/'));
  if (!::realpath(context_dir.c_str(), root)) return ErrnoStatus("realpath", context_dir);
  if (!::realpath(parent_path.c_str(), parent)) return Status::OK();  // missing: reported as not found
  std::string r = root, p = parent;
  if (p != r && p.rfind(r + "/", 0) != 0) {
    return Status::InvalidArgument("source " + raw + " is outside the build context (through a symlink)");
  }
  return Status::OK();
}

// Every path of the context that .dockerignore lets through.
Status ListContext(const std::string& dir, const std::string& rel, const DockerIgnore& ignore,
                   std::vector<std::string>* out) {
  ASSIGN_OR_RETURN(auto names, ListDir(dir));
  for (const std::string& name : names) {
    std::string child = JoinPath(rel, name);
    bool excluded = ignore.Excluded(child);
    if (!excluded) out->push_back(child);
    struct stat st;
    if ((!excluded || ignore.has_exceptions()) && ::lstat((dir + "/" + name).c_str(), &st) == 0 &&
        S_ISDIR(st.st_mode)) {
      RETURN_IF_ERROR(ListContext(dir + "/" + name, child, ignore, out));
    }
  }
  return Status::OK();
}

Status WalkView(const UnionView& view, NodeId node, const std::string& rel, std::vector<SourceEntry>* out) {
  ASSIGN_OR_RETURN(NodeAttr a, view.GetAttr(node));
  SourceEntry e;
  e.rel = rel;
  e.mode = a.mode;
  e.uid = a.uid;
  e.gid = a.gid;
  e.mtime_sec = a.mtime_sec;
  e.mtime_nsec = a.mtime_nsec;
  e.rdev_major = a.rdev_major;
  e.rdev_minor = a.rdev_minor;
  if (S_ISREG(a.mode)) {
    e.size = a.size;
    ASSIGN_OR_RETURN(e.content_path, view.ContentPath(node));
  } else if (S_ISLNK(a.mode)) {
    ASSIGN_OR_RETURN(e.link_target, view.ReadLink(node));
  }
  ASSIGN_OR_RETURN(const std::vector<Xattr>* xattrs, view.Xattrs(node));
  e.xattrs = *xattrs;
  out->push_back(std::move(e));
  if (!S_ISDIR(a.mode)) return Status::OK();
  ASSIGN_OR_RETURN(const std::vector<DirEntry>* children, view.Children(node));
  for (const DirEntry& child : *children)
    RETURN_IF_ERROR(WalkView(view, child.node, JoinPath(rel, child.name), out));
  return Status::OK();
}

void ListView(const UnionView& view, NodeId node, const std::string& rel, std::vector<std::string>* out) {
  auto children = view.Children(node);
  if (!children.ok()) return;
  for (const DirEntry& child : **children) {
    std::string path = JoinPath(rel, child.name);
    out->push_back(path);
    ListView(view, child.node, path, out);
  }
}

}  // namespace

Result<std::vector<SourceTree>> CollectContextSources(const std::string& context_dir,
                                                      const DockerIgnore& ignore,
                                                      const std::vector<std::string>& patterns) {
  std::vector<std::string> all;  // listed once, on the first glob
  bool listed = false;
  HostWalker walker(&ignore, /*zero_owners=*/true);
  std::vector<SourceTree> out;
  for (const std::string& raw : patterns) {
    std::string pattern = CleanPath(raw);
    if (pattern == ".." || pattern.rfind("../", 0) == 0) {
      return Status::InvalidArgument("source " + raw + " is outside the build context");
    }
    std::vector<std::string> matches;
    if (HasGlob(pattern)) {
      if (!listed) {
        RETURN_IF_ERROR(ListContext(context_dir, "", ignore, &all));
        listed = true;
      }
      for (const std::string& path : all) {
        if (MatchPathPattern(pattern, path)) matches.push_back(path);
      }
      if (matches.empty()) return Status::NotFound("no source files were specified: nothing matches " + raw);
    } else {
      struct stat st;
      std::string path = pattern == "." ? context_dir : context_dir + "/" + pattern;
      if (pattern != ".") RETURN_IF_ERROR(CheckInsideContext(context_dir, path, raw));
      bool found = ::lstat(path.c_str(), &st) == 0;
      if (found && pattern != "." && ignore.Excluded(pattern)) {
        // An excluded directory still counts when a '!' pattern keeps something in it.
        std::vector<SourceEntry> below;
        found = S_ISDIR(st.st_mode) && ignore.has_exceptions() &&
                walker.Walk(path, pattern, "", &below).ok() && below.size() > 1;
      }
      if (!found)
        return Status::NotFound("file not found in build context or excluded by .dockerignore: " + raw);
      matches.push_back(pattern);
    }
    for (const std::string& match : matches) {
      SourceTree tree;
      tree.name = match == "." ? "" : BaseName(match);
      std::string path = match == "." ? context_dir : context_dir + "/" + match;
      RETURN_IF_ERROR(walker.Walk(path, match == "." ? "" : match, "", &tree.entries));
      out.push_back(std::move(tree));
    }
  }
  return out;
}

Result<std::vector<SourceTree>> CollectViewSources(const UnionView& view,
                                                   const std::vector<std::string>& patterns) {
  std::vector<SourceTree> out;
  std::vector<std::string> all;
  bool listed = false;
  for (const std::string& raw : patterns) {
    std::string pattern = CleanPath(raw);
    while (pattern.rfind("../", 0) == 0) pattern = pattern.substr(3);  // ".." at "/" stays at "/"
    if (pattern == "..") pattern = ".";
    std::vector<std::string> matches;
    if (HasGlob(pattern)) {
      if (!listed) {
        ListView(view, kRootNode, "", &all);
        listed = true;
      }
      for (const std::string& path : all) {
        if (MatchPathPattern(pattern, path)) matches.push_back(path);
      }
      if (matches.empty()) return Status::NotFound("no source files were specified: nothing matches " + raw);
    } else {
      matches.push_back(pattern);
    }
    for (const std::string& match : matches) {
      auto node = view.Resolve(match == "." ? "" : match);
      if (!node.ok()) return Status::NotFound("no such file in the source stage: " + raw);
      SourceTree tree;
      tree.name = match == "." ? "" : BaseName(match);
      RETURN_IF_ERROR(WalkView(view, *node, "", &tree.entries));
      out.push_back(std::move(tree));
    }
  }
  return out;
}

Result<SourceTree> CollectHostTree(const std::string& dir) {
  SourceTree tree;
  HostWalker walker(nullptr, /*zero_owners=*/false);
  RETURN_IF_ERROR(walker.Walk(dir, "", "", &tree.entries));
  return tree;
}

Result<std::string> DescribeSources(const std::vector<SourceTree>& sources, const Store& store) {
  std::string out;
  for (const SourceTree& tree : sources) {
    out += "source " + tree.name + "\n";
    for (const SourceEntry& e : tree.entries) {
      out += e.rel;
      out += '\0' + std::to_string(e.mode) + '\0' + std::to_string(e.uid) + ':' + std::to_string(e.gid);
      out += '\0' + e.link_target + '\0' + std::to_string(e.rdev_major) + ',' + std::to_string(e.rdev_minor);
      for (const Xattr& x : e.xattrs) out += '\0' + x.name + '=' + x.value;
      if (!e.content_path.empty()) {
        ASSIGN_OR_RETURN(Digest d, store.HashFile(e.content_path));
        out += '\0' + d.Hex();
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace strata
