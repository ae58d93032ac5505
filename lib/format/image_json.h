// The image config file (images/<id>/config.json): canonical JSON whose keyed
// digest is the image id.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "strata/image.h"
#include "strata/status.h"

namespace strata {

// Everything but `id` and `names`; keys sorted, no whitespace.
std::string EncodeImageConfig(const Image& image);
Result<Image> DecodeImageConfig(std::string_view json);

// As OCI image configs (and docker's inspect) write them: history with RFC 3339
// times, comment and empty_layer only when set; a list of keys as an object
// of empty objects (ExposedPorts, Volumes).
nlohmann::json OciHistoryJson(const std::vector<HistoryEntry>& history);
nlohmann::json JsonSet(const std::vector<std::string>& keys);

}  // namespace strata
