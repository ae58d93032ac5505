#include <catch2/catch.hpp>

#include <cstring>

#include "format/hasher.h"
#include "strata/digest.h"

using namespace strata;

static Secret MakeSecret(uint8_t fill) {
  Secret s;
  s.fill(fill);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(s[i] + i * 7);
  return s;
}

TEST_CASE("digest hex round-trips and rejects bad input") {
  Digest d;
  for (size_t i = 0; i < 16; ++i) d.bytes[i] = static_cast<uint8_t>(i * 17);
  std::string hex = d.Hex();
  REQUIRE(hex == "00112233445566778899aabbccddeeff");
  auto back = Digest::FromHex(hex);
  REQUIRE(back);
  REQUIRE(*back == d);
  REQUIRE_FALSE(Digest::FromHex("00112233"));
  REQUIRE_FALSE(Digest::FromHex("00112233445566778899aabbccddeefg"));
  REQUIRE_FALSE(Digest::FromHex("00112233445566778899AABBCCDDEEFF"));
  REQUIRE(Digest{}.IsZero());
  REQUIRE_FALSE(d.IsZero());
}

TEST_CASE("streaming hash equals one-shot hash, zeros included") {
  Secret secret = MakeSecret(3);
  std::string data = "hello, layered world";
  std::string with_zeros = data + std::string(100000, '\0') + "tail";
  Hasher h(secret);
  h.Update(data);
  h.UpdateZeros(100000);
  h.Update("tail");
  REQUIRE(h.Finish() == HashBytes(secret, with_zeros.data(), with_zeros.size()));
}

TEST_CASE("digests depend on the store secret") {
  std::string data = "same bytes";
  Secret a = MakeSecret(1), b = MakeSecret(2);
  REQUIRE(HashBytes(a, data.data(), data.size()) != HashBytes(b, data.data(), data.size()));
  REQUIRE(HashBytes(a, data.data(), data.size()) == HashBytes(a, data.data(), data.size()));
}
