// The image config file (images/<id>/config.json): canonical JSON whose keyed
// digest is the image id.
#pragma once

#include <string>
#include <string_view>

#include "strata/image.h"
#include "strata/status.h"

namespace strata {

// Everything but `id` and `names`; keys sorted, no whitespace.
std::string EncodeImageConfig(const Image& image);
Result<Image> DecodeImageConfig(std::string_view json);

}  // namespace strata
