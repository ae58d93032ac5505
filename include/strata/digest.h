// Digest: a 128-bit content digest (XXH3-128 keyed with the store's secret).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace strata {

struct Digest {
  std::array<uint8_t, 16> bytes{};

  // 32 lowercase hex characters.
  std::string Hex() const;
  static std::optional<Digest> FromHex(std::string_view hex);
  bool IsZero() const;

  auto operator<=>(const Digest&) const = default;
};

}  // namespace strata

template <>
struct std::hash<strata::Digest> {
  size_t operator()(const strata::Digest& d) const noexcept {
    size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof h);  // already uniformly distributed
    return h;
  }
};
