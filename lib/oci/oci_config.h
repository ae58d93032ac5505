// The OCI image config (image-spec config.json) of a strata image, and back.
#pragma once

#include <string>
#include <vector>

#include "strata/image.h"
#include "strata/status.h"

namespace strata {

// `diff_ids` are "sha256:<hex>", one per layer, bottom first.
std::string OciConfigJson(const Image& image, const std::vector<std::string>& diff_ids);

struct OciImageConfig {
  Image image;  // config, history and created (no layers, no id)
  std::vector<std::string> diff_ids;
};
Result<OciImageConfig> ParseOciConfig(const std::string& text);

// "sha256:<64 hex>" and nothing else (archive paths are made from it).
bool IsSha256Digest(const std::string& digest);

}  // namespace strata
