// --format for the commands that print JSON (image inspect, history, ps,
// volume inspect): a JSON pointer ("/Config/Env") or the common Go-template
// cases docker's --format is used for ("{{.Id}}", "{{.Config.Env}}",
// "{{json .Config}}", text around them). Anything else is refused by name.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "strata/status.h"

namespace strata::cli {

// `format` applied to `item`: one line of output, without its newline.
Result<std::string> ApplyFormat(const nlohmann::json& item, const std::string& format);

// Prints each element of `items` by `format` (one line each), or, with no
// format, the whole array as indented JSON. Exits with an error line when the
// format is bad.
void PrintItems(const nlohmann::json& items, const std::string& format);

}  // namespace strata::cli
