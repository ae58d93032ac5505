// The daemon's command line: strata's own (--image, --upper, --work) and
// fuse-overlayfs's (-o lowerdir=...,upperdir=...,workdir=...), which is what
// podman's containers/storage passes to a mount_program.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "strata/overlay_fs.h"

namespace strata::fuse {

// fuse-overlayfs's uidmapping/gidmapping: "CONTAINER:HOST:COUNT[:...]". Files
// hold host ids; callers see container ids.
class IdMap {
 public:
  static std::optional<IdMap> Parse(const std::string& spec);
  uint32_t ToContainer(uint32_t host) const;
  uint32_t ToHost(uint32_t container) const;
  bool identity() const { return ranges_.empty(); }

 private:
  struct Range {
    uint32_t container, host, count;
  };
  std::vector<Range> ranges_;
};

struct IdPolicy {
  IdMap uids, gids;
  std::optional<uint32_t> squash_uid, squash_gid;  // squash_to_root / squash_to_uid / squash_to_gid

  void Present(struct stat* st) const;  // host ids -> what the caller sees
  uint32_t HostUid(uint32_t uid) const { return uids.ToHost(uid); }
  uint32_t HostGid(uint32_t gid) const { return gids.ToHost(gid); }
  // Callers see the files' own ids (no map, no squash).
  bool identity() const { return uids.identity() && gids.identity() && !squash_uid && !squash_gid; }
};

struct DaemonOptions {
  std::string root;                     // store root (with --image)
  std::string image;                    // strata image as the lower tree
  std::optional<std::string> layer;     // or a store layer and those below it ("": empty tree)
  std::vector<std::string> lower_dirs;  // or plain lower directories, top first
  OverlayOptions overlay;
  IdPolicy ids;
  std::string lock_file;  // held (flock) while mounted: one daemon per upper directory
  std::string mountpoint;
  bool foreground = false;
  bool passthrough = false;               // -o passthrough: see fusefs/passthrough.h
  bool io_uring = false;                  // -o io_uring: see fusefs/uring_channel.h
  std::vector<std::string> fuse_options;  // passed to the kernel mount
  bool show_version = false;
  bool verify = false;  // --verify: each blob checked against its digest at its first open (EIO if not)
};

// Parses argv; on a usage error returns a message (one line) instead.
std::variant<DaemonOptions, std::string> ParseCommandLine(int argc, char** argv);

}  // namespace strata::fuse
