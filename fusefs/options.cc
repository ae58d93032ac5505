#include "options.h"
#include "strata/text.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

namespace strata::fuse {

namespace {

constexpr uint32_t kOverflowId = 65534;

std::optional<uint32_t> ParseId(const std::string& s) {
  auto v = ParseUnsigned(s, 10, UINT32_MAX);
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

}  // namespace

std::optional<IdMap> IdMap::Parse(const std::string& spec) {
  auto parts = Split(spec, ':');
  if (parts.empty() || parts.size() % 3 != 0) return std::nullopt;
  IdMap map;
  for (size_t i = 0; i < parts.size(); i += 3) {
    auto c = ParseId(parts[i]), h = ParseId(parts[i + 1]), n = ParseId(parts[i + 2]);
    if (!c || !h || !n) return std::nullopt;
    map.ranges_.push_back({*c, *h, *n});
  }
  return map;
}

uint32_t IdMap::ToContainer(uint32_t host) const {
  if (ranges_.empty()) return host;
  for (const Range& r : ranges_) {
    if (host >= r.host && host - r.host < r.count) return r.container + (host - r.host);
  }
  return kOverflowId;
}

uint32_t IdMap::ToHost(uint32_t container) const {
  if (ranges_.empty()) return container;
  for (const Range& r : ranges_) {
    if (container >= r.container && container - r.container < r.count)
      return r.host + (container - r.container);
  }
  return kOverflowId;
}

void IdPolicy::Present(struct stat* st) const {
  st->st_uid = squash_uid ? *squash_uid : uids.ToContainer(st->st_uid);
  st->st_gid = squash_gid ? *squash_gid : gids.ToContainer(st->st_gid);
}

namespace {

// One "-o" option (fuse-overlayfs's names); a message when its value is bad.
std::optional<std::string> ApplyMountOption(const std::string& opt, DaemonOptions& o) {
  auto eq = opt.find('=');
  std::string key = opt.substr(0, eq), val = eq == std::string::npos ? "" : opt.substr(eq + 1);
  if (key == "lowerdir") {
    for (auto& d : Split(val, ':')) {
      if (!d.empty()) o.lower_dirs.push_back(d);
    }
  } else if (key == "image" || key == "root" || key == "layer" || key == "lock") {
    // strata's own flags as mount options, for mount(8) and fstab (which pass only -o).
    if (val.empty()) return key + "= needs a value";
    if (key == "image") o.image = val;
    if (key == "root") o.root = val;
    if (key == "layer") o.layer = val;
    if (key == "lock") o.lock_file = val;
  } else if (key == "upperdir") {
    o.overlay.upper_dir = val;
  } else if (key == "workdir") {
    o.overlay.work_dir = val;
  } else if (key == "volatile") {
    o.overlay.fsync = false;
  } else if (key == "fsync") {
    o.overlay.fsync = val != "0";
  } else if (key == "passthrough") {
    o.passthrough = true;
  } else if (key == "io_uring") {
    o.io_uring = true;
  } else if (key == "squash_to_root") {
    o.ids.squash_uid = o.ids.squash_gid = 0;
  } else if (key == "squash_to_uid" || key == "squash_to_gid") {
    auto id = ParseId(val);
    if (!id) return "bad value in " + opt;
    (key == "squash_to_uid" ? o.ids.squash_uid : o.ids.squash_gid) = *id;
  } else if (key == "uidmapping" || key == "gidmapping") {
    auto map = IdMap::Parse(val);
    if (!map) return "bad mapping in " + opt + " (want CONTAINER:HOST:COUNT[:...])";
    (key == "uidmapping" ? o.ids.uids : o.ids.gids) = *map;
  } else if (key == "allow_other" || key == "allow_root" || key == "default_permissions" || key == "debug") {
    if (key != "default_permissions") o.fuse_options.push_back(key);  // always on
  } else if (key == "ro" || key == "rw" || key == "suid" || key == "nosuid" || key == "dev" ||
             key == "nodev" || key == "exec" || key == "noexec" || key == "sync" || key == "async" ||
             key == "dirsync" || key == "atime" || key == "noatime") {
    o.fuse_options.push_back(key);  // the kernel's mount flags, as libfuse passes them on
  } else if (key == "private" || key == "relatime" || key == "defaults" || key == "auto" || key == "noauto" ||
             key == "nofail" || key == "_netdev" || key == "user" || key == "users" ||
             key.rfind("x-", 0) == 0) {
    // fstab's and mount(8)'s own, or meaning nothing here.
  } else {
    std::fprintf(stderr, "strata-fuse: warning: ignoring unknown option '%s'\n", opt.c_str());
  }
  return std::nullopt;
}

}  // namespace

std::variant<DaemonOptions, std::string> ParseCommandLine(int argc, char** argv) {
  DaemonOptions o;
  o.root =
      std::getenv("STRATA_ROOT") && *std::getenv("STRATA_ROOT") ? std::getenv("STRATA_ROOT") : kDefaultRoot;
  std::vector<std::string> positional;
  auto value_of = [&](int& i) -> std::optional<std::string> {
    if (i + 1 >= argc) return std::nullopt;
    return std::string(argv[++i]);
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::optional<std::string> v;
    if (a == "--version" || a == "-V") {
      o.show_version = true;
    } else if (a == "-f" || a == "-d" || a == "--foreground") {
      o.foreground = true;
    } else if (a == "--verify") {
      o.verify = true;
    } else if (a == "-n" || a == "-s" || a == "-v") {
      // mount(8)'s flags to a mount.TYPE helper (no mtab, sloppy, verbose): nothing to do.
    } else if (a == "-t") {  // the type mount(8) names a helper with
      if (!value_of(i)) return "option -t needs a value";
    } else if (a == "--allow-other") {
      o.fuse_options.push_back("allow_other");
    } else if (a == "--root" || a == "--image" || a == "--layer" || a == "--upper" || a == "--work" ||
               a == "--lock" || a == "-o") {
      if (!(v = value_of(i))) return "option " + a + " needs a value";
      if (a == "--root") o.root = *v;
      if (a == "--image") o.image = *v;
      if (a == "--layer") o.layer = *v;
      if (a == "--lock") o.lock_file = *v;
      if (a == "--upper") o.overlay.upper_dir = *v;
      if (a == "--work") o.overlay.work_dir = *v;
      if (a == "-o") {
        for (const std::string& opt : Split(*v, ',')) {
          if (auto error = ApplyMountOption(opt, o)) return *error;
        }
      }
    } else if (!a.empty() && a[0] == '-') {
      return "unknown argument " + a;
    } else {
      positional.push_back(a);
    }
  }
  if (o.show_version) return o;
  // mount(8) runs "strata-fuse SOURCE DIR -o OPTS" (type fuse3.strata-fuse): SOURCE
  // names the image unless the options name the lower tree already.
  if (positional.size() == 2) {
    if (o.image.empty() && !o.layer && o.lower_dirs.empty()) o.image = positional[0];
    positional.erase(positional.begin());
  }
  if (positional.size() != 1)
    return "want a mount point (or SOURCE and a mount point, as mount(8) passes them)";
  o.mountpoint = positional[0];
  if (int(!o.image.empty()) + int(o.layer.has_value()) + int(!o.lower_dirs.empty()) != 1)
    return "name one of --image IMAGE, --layer LAYER or -o lowerdir=DIR[:DIR...]";
  if (o.overlay.upper_dir.empty() != o.overlay.work_dir.empty()) return "upperdir and workdir go together";
  return o;
}

}  // namespace strata::fuse
