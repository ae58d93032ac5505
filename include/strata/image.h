// Value types for layers and images as the catalog records them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "strata/status.h"

namespace strata {

struct LayerInfo {
  std::string id;           // chain id: digest of (parent id, diff digest)
  std::string parent;       // "" for a bottom layer
  std::string diff_digest;  // digest of the canonical index: the layer's own content
  uint64_t size = 0;        // bytes of regular-file content
  uint64_t entry_count = 0;
  int64_t created = 0;  // unix seconds
};

struct HistoryEntry {
  int64_t created = 0;  // seconds since the epoch
  std::string created_by;
  std::string comment;
  bool empty_layer = false;
  uint32_t created_nanos = 0;  // and nanoseconds (an OCI config's time keeps them)
};

// What a container made from the image runs with (the OCI image config's "config").
struct ImageConfig {
  std::vector<std::string> env;
  std::vector<std::string> cmd;
  std::vector<std::string> entrypoint;
  std::string working_dir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;
  std::vector<std::string> volumes;
  std::vector<std::string> shell;
};

// What an image's binaries run on, spelled as OCI image configs and index
// descriptors spell it (GOOS/GOARCH names: "linux", "amd64", "arm64", "arm").
struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;  // "v7" for arm, "" when the architecture has none

  bool empty() const { return architecture.empty(); }
};

// The platform of this machine (from uname), e.g. linux/amd64 or linux/arm/v7.
Platform HostPlatform();
// "linux/arm64", "linux/arm/v7", or an architecture alone ("arm64": os linux).
Result<Platform> ParsePlatform(const std::string& text);
// "os/architecture[/variant]".
std::string PlatformString(const Platform& platform);
// Whether an image made for `have` runs where `want` is asked for: os and
// architecture equal, and the variant too when both name one (arm64's "v8"
// is its only variant, so "" and "v8" are one).
bool PlatformMatches(const Platform& want, const Platform& have);
// OK when this machine runs binaries made for `platform`; otherwise an error
// naming `what` ("image busybox") and both platforms.
Status CheckHostCanRun(const Platform& platform, const std::string& what);

struct Image {
  std::string id;
  std::vector<std::string> layers;  // bottom first
  ImageConfig config;
  std::vector<HistoryEntry> history;
  std::vector<std::string> names;  // "name:tag" references that point here
  // "name@sha256:..." for each registry manifest this image was pulled from or pushed as.
  std::vector<std::string> repo_digests;
  int64_t created = 0;         // seconds since the epoch
  uint32_t created_nanos = 0;  // and nanoseconds (an OCI config's time keeps them)
  Platform platform;           // the store fills in the host's for an image that names none
};

// JSON forms used by `inspect --json` and `ls --json`. An image is shaped
// as `docker image inspect` prints one (Id, RepoTags, RepoDigests, Created
// in RFC 3339, Config with ExposedPorts and Volumes as objects, Os,
// Architecture, History), its strata layers under GraphDriver.Data.Layers.
std::string ToJson(const Image& image);
std::string ToJson(const LayerInfo& layer);
std::string ToJson(const std::vector<Image>& images);
std::string ToJson(const std::vector<LayerInfo>& layers);

}  // namespace strata
