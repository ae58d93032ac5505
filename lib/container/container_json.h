// A container's catalog record: ContainerInfo as JSON and back.
#pragma once

#include <string>

#include "strata/container.h"
#include "strata/status.h"

namespace strata {

std::string EncodeContainer(const ContainerInfo& info);
Result<ContainerInfo> DecodeContainer(const std::string& text);

}  // namespace strata
