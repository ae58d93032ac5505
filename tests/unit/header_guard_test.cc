#include <catch2/catch.hpp>

#include "format/header_guard.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;

TEST_CASE("tar numbers: octal and base-256") {
  uint64_t v = 0;
  REQUIRE(ParseTarNumber("00000000017\0", &v));
  REQUIRE(v == 15);
  std::string b256(12, '\0');
  b256[0] = static_cast<char>(0x80);
  b256[11] = 0x01;
  b256[10] = 0x02;
  REQUIRE(ParseTarNumber(b256, &v));
  REQUIRE(v == 0x201);
  b256[0] = static_cast<char>(0xff);  // negative
  REQUIRE_FALSE(ParseTarNumber(b256, &v));
}

TEST_CASE("a clean header passes") {
  REQUIRE(CheckHeaderRegion(RawHeader("etc/passwd", '0', 3)).ok());
  REQUIRE(CheckHeaderRegion(PaxHeader({"path=long/name"}) + RawHeader("x", '0', 0)).ok());
}

TEST_CASE("NUL inside names is caught in every header form") {
  SECTION("ustar name") {
    auto st = CheckHeaderRegion(RawHeader(std::string("a\0b", 3), '0', 0));
    REQUIRE(st.code() == Code::kInvalidArgument);
    REQUIRE_THAT(st.message(), Catch::Contains("NUL"));
  }
  SECTION("ustar link name") {
    REQUIRE_FALSE(CheckHeaderRegion(RawHeader("l", '2', 0, std::string("t\0x", 3))).ok());
  }
  SECTION("pax path") {
    REQUIRE_FALSE(CheckHeaderRegion(PaxHeader({std::string("path=a\0b", 8)}) + RawHeader("x", '0', 0)).ok());
  }
  SECTION("GNU long name") {
    std::string name("long\0name", 9);
    REQUIRE_FALSE(
        CheckHeaderRegion(RawHeader("././@LongLink", 'L', name.size()) + Pad(name) + RawHeader("x", '0', 0))
            .ok());
  }
}

TEST_CASE("oversized or malformed extension headers are refused") {
  REQUIRE_FALSE(CheckHeaderRegion(RawHeader("PaxHeader", 'x', 2u << 20)).ok());
  REQUIRE_FALSE(
      CheckHeaderRegion(RawHeader("PaxHeader", 'x', 20) + Pad("99 path=x\n") + RawHeader("x", '0', 0)).ok());
  REQUIRE_FALSE(CheckHeaderRegion(RawHeader("x", '0', 0).substr(0, 300)).ok());
}
