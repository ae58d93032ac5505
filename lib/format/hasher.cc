#include "format/hasher.h"

#define XXH_STATIC_LINKING_ONLY  // for XXH3_state_t by value
#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace strata {

struct Hasher::State {
  XXH3_state_t xxh;
};

Hasher::Hasher(const Secret& secret) : state_(std::make_unique<State>()) {
  XXH3_128bits_reset_withSecret(&state_->xxh, secret.data(), secret.size());
}

Hasher::~Hasher() = default;

void Hasher::Update(const void* data, size_t len) {
  XXH3_128bits_update(&state_->xxh, data, len);
}

void Hasher::UpdateZeros(uint64_t count) {
  static const uint8_t kZeros[64 * 1024] = {};
  while (count > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(count, sizeof kZeros));
    Update(kZeros, n);
    count -= n;
  }
}

static Digest FromCanonical(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  Digest d;
  std::memcpy(d.bytes.data(), c.digest, 16);
  return d;
}

Digest Hasher::Finish() const {
  return FromCanonical(XXH3_128bits_digest(&state_->xxh));
}

Digest HashBytes(const Secret& secret, const void* data, size_t len) {
  return FromCanonical(XXH3_128bits_withSecret(data, len, secret.data(), secret.size()));
}

}  // namespace strata
