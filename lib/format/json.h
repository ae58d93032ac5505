// JSON out, as strata writes it everywhere: nlohmann::json's dump() throws on
// a string that is not UTF-8 (a file name, an argument, an ENV value from a
// Dockerfile); this one writes U+FFFD for the bad bytes instead, as Go's
// encoding/json (and so docker) does. It never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace strata {

inline std::string DumpJson(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace strata
