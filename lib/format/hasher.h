// Keyed XXH3-128. The key is the store's random secret, so digests of one
// store cannot be predicted (or collided on purpose) from outside it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "strata/digest.h"

namespace strata {

inline constexpr size_t kSecretSize = 192;  // >= XXH3_SECRET_SIZE_MIN
using Secret = std::array<uint8_t, kSecretSize>;

class Hasher {
 public:
  explicit Hasher(const Secret& secret);  // `secret` must outlive the Hasher
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  void UpdateZeros(uint64_t count);
  Digest Finish() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

Digest HashBytes(const Secret& secret, const void* data, size_t len);

}  // namespace strata
