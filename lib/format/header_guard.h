// HeaderGuard: checks the raw bytes of a tar entry's headers (the pax and GNU
// long-name extensions plus the ustar block) for what libarchive accepts
// silently: a NUL inside a name (libarchive cuts the name there) and
// extension headers too large to be honest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "strata/status.h"

namespace strata {

inline constexpr uint64_t kMaxExtensionHeader = 1 << 20;

// `region` starts at an entry's first header block and holds at least all of
// its header blocks (it may run on into the entry's data).
Status CheckHeaderRegion(std::string_view region);

// Parses a ustar numeric field (octal, or GNU base-256 when the top bit is set).
bool ParseTarNumber(std::string_view field, uint64_t* out);

}  // namespace strata
