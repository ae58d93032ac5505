// Small text helpers shared by the library, the CLI and the FUSE daemon: one
// Split, one path Join, one HumanSize, and number parsing that never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

// "a:b::c" split on ':' gives {"a", "b", "", "c"}; "" gives {} (as getline does).
std::vector<std::string> Split(std::string_view text, char sep);
// "dir/name", or just `name` when `dir` is "" or ".".
std::string JoinPath(std::string_view dir, std::string_view name);
// 1234567 -> "1.23MB": decimal units, as docker prints sizes.
std::string HumanSize(uint64_t bytes);
// The whole of `text` as an unsigned number in `base` no larger than `max`;
// nothing for "", a sign, any other character, or a value out of range.
std::optional<uint64_t> ParseUnsigned(std::string_view text, int base = 10, uint64_t max = UINT64_MAX);

// A time as RFC 3339 in UTC the way Go's RFC3339Nano prints it (docker,
// podman and the OCI image spec): "2024-05-01T12:00:00.5Z", no fraction
// when `nanos` is 0.
std::string FormatRfc3339(int64_t seconds, uint32_t nanos = 0);
struct Timestamp {
  int64_t seconds = 0;
  uint32_t nanos = 0;
};
// "2024-05-01T14:00:00.123456789+02:00" or "...Z"; nothing for anything else.
std::optional<Timestamp> ParseRfc3339(std::string_view text);

}  // namespace strata
