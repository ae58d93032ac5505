#include "format/dir_layer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "format/upper_dir.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

EntryType TypeOf(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return EntryType::kDirectory;
  if (S_ISLNK(st.st_mode)) return EntryType::kSymlink;
  if (S_ISCHR(st.st_mode)) return upper::IsWhiteout(st) ? EntryType::kWhiteout : EntryType::kCharDevice;
  if (S_ISBLK(st.st_mode)) return EntryType::kBlockDevice;
  if (S_ISFIFO(st.st_mode)) return EntryType::kFifo;
  if (S_ISSOCK(st.st_mode)) return EntryType::kSocket;
  return EntryType::kRegular;
}

struct Scanner {
  std::string root;
  uint64_t* next_id;
  std::unordered_map<Digest, std::string>* content_paths;
  std::vector<Entry> entries;
  std::map<std::pair<dev_t, ino_t>, std::vector<size_t>> links;  // inode -> entries sharing it

  Entry FromStat(std::string rel, const struct stat& st, const std::string& abs) {
    Entry e;
    e.path = std::move(rel);
    e.type = TypeOf(st);
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime_sec = st.st_mtim.tv_sec;
    e.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
    if (e.type == EntryType::kRegular) {
      e.size = static_cast<uint64_t>(st.st_size);
      if (e.size > 0) {
        uint64_t id = ++*next_id;
        std::memcpy(e.content.bytes.data(), &id, sizeof id);
        (*content_paths)[e.content] = abs;
      }
    } else if (e.type == EntryType::kSymlink) {
      char buf[4096];
      ssize_t n = ::readlink(abs.c_str(), buf, sizeof buf);
      if (n > 0) e.link_target.assign(buf, static_cast<size_t>(n));
    } else if (e.type == EntryType::kCharDevice || e.type == EntryType::kBlockDevice) {
      e.dev_major = major(st.st_rdev);
      e.dev_minor = minor(st.st_rdev);
    }
    bool metacopy = false;  // seen in the same listing: no call of its own
    if (e.type != EntryType::kWhiteout) e.xattrs = ReadXattrs(abs, &metacopy);
    if (e.type == EntryType::kDirectory) {
      e.opaque = upper::IsOpaque(abs);
      if (!e.opaque) e.redirect = upper::ReadRedirect(abs);
    } else if (e.type == EntryType::kRegular && e.size > 0 && metacopy) {
      e.metacopy = true;
      e.redirect = upper::ReadRedirect(abs);
    }
    return e;
  }

  Status Walk(const std::string& rel) {
    std::string abs = rel.empty() ? root : root + "/" + rel;
    auto names = ListDir(abs);
    if (!names.ok()) return names.status().WithContext("read lower directory");
    for (const std::string& name : *names) {
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      std::string child_abs = abs + "/" + name;
      if (name == upper::kOpaqueMarker) continue;  // IsOpaque saw it on the directory
      if (name.starts_with(upper::kWhiteoutPrefix)) {
        Entry w;
        w.path = rel.empty() ? name.substr(4) : rel + "/" + name.substr(4);
        w.type = EntryType::kWhiteout;
        entries.push_back(std::move(w));
        continue;
      }
      struct stat st;
      if (::lstat(child_abs.c_str(), &st) != 0) return ErrnoStatus("stat", child_abs);
      Entry e = FromStat(child_rel, st, child_abs);
      if ((e.type == EntryType::kRegular || e.type == EntryType::kSymlink) && st.st_nlink > 1)
        links[{st.st_dev, st.st_ino}].push_back(entries.size());
      bool dir = e.type == EntryType::kDirectory;
      entries.push_back(std::move(e));
      if (dir) RETURN_IF_ERROR(Walk(child_rel));
    }
    return Status::OK();
  }
};

}  // namespace

std::vector<Xattr> ReadXattrs(const std::string& path, bool* metacopy) {
  std::vector<Xattr> out;
  ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
  if (len <= 0) return out;
  std::string names(static_cast<size_t>(len), '\0');
  len = ::llistxattr(path.c_str(), names.data(), names.size());
  for (size_t i = 0; len > 0 && i < static_cast<size_t>(len);) {
    std::string name(names.data() + i);
    i += name.size() + 1;
    if (upper::IsPrivateXattr(name)) {
      if (metacopy && (name == "trusted.overlay.metacopy" || name == "user.overlay.metacopy"))
        *metacopy = true;
      continue;
    }
    ssize_t vlen = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (vlen < 0) continue;
    std::string value(static_cast<size_t>(vlen), '\0');
    vlen = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (vlen < 0) continue;
    value.resize(static_cast<size_t>(vlen));
    out.push_back({std::move(name), std::move(value)});
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<LayerIndex> ScanDirectoryLayer(const std::string& dir, uint64_t* next_content_id,
                                      std::unordered_map<Digest, std::string>* content_paths) {
  Scanner s{dir, next_content_id, content_paths, {}, {}};
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus("lower directory", dir);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("lower " + dir + " is not a directory");
  s.entries.push_back(s.FromStat("", st, dir));
  RETURN_IF_ERROR(s.Walk(""));
  // Paths sharing an inode become hardlinks to the first of them in sort order.
  for (auto& [inode, members] : s.links) {
    if (members.size() < 2) continue;
    std::sort(members.begin(), members.end(),
              [&](size_t a, size_t b) { return s.entries[a].path < s.entries[b].path; });
    const std::string& primary = s.entries[members[0]].path;
    for (size_t i = 1; i < members.size(); ++i) {
      Entry& link = s.entries[members[i]];
      std::string path = std::move(link.path);
      link = Entry{};
      link.path = std::move(path);
      link.type = EntryType::kHardlink;
      link.link_target = primary;
    }
  }
  // A `.wh.` file and the entry it names cannot both stand: the whiteout sorts first and stays.
  std::sort(s.entries.begin(), s.entries.end(), [](const Entry& a, const Entry& b) {
    return std::pair(std::string_view(a.path), a.type != EntryType::kWhiteout) <
           std::pair(std::string_view(b.path), b.type != EntryType::kWhiteout);
  });
  s.entries.erase(std::unique(s.entries.begin(), s.entries.end(),
                              [](const Entry& a, const Entry& b) { return a.path == b.path; }),
                  s.entries.end());
  return LayerIndex{std::move(s.entries)};
}

}  // namespace strata
