// Value types for layers and images as the catalog records them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

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
  int64_t created = 0;
  std::string created_by;
  std::string comment;
  bool empty_layer = false;
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

struct Image {
  std::string id;
  std::vector<std::string> layers;  // bottom first
  ImageConfig config;
  std::vector<HistoryEntry> history;
  std::vector<std::string> names;  // "name:tag" references that point here
  int64_t created = 0;
};

// JSON forms used by `inspect --json` and `ls --json`.
std::string ToJson(const Image& image);
std::string ToJson(const LayerInfo& layer);
std::string ToJson(const std::vector<Image>& images);
std::string ToJson(const std::vector<LayerInfo>& layers);

}  // namespace strata
