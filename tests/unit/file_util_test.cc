#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "test_util.h"
#include "util/file_util.h"

using namespace strata;
using strata::test::TempDir;

static void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST_CASE("ReadFile reads a file whole, whatever its size says") {
  TempDir tmp;
  std::string big(300 * 1024 + 7, '\0');  // over the size whose pages are populated in bulk
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  WriteBytes(tmp.path() + "/big", big);
  auto read = ReadFile(tmp.path() + "/big");
  REQUIRE(read.ok());
  CHECK(*read == big);

  WriteBytes(tmp.path() + "/empty", "");
  auto empty = ReadFile(tmp.path() + "/empty");
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  // /proc's files stat as empty and are not.
  auto status = ReadFile("/proc/self/status");
  REQUIRE(status.ok());
  CHECK(status->find("\nUmask:") != std::string::npos);
  CHECK(status->back() == '\n');

  auto missing = ReadFile(tmp.path() + "/missing");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains(tmp.path() + "/missing"));
}

TEST_CASE("PrepareLargeBuffer keeps what the buffer holds") {
  std::string buffer(5 << 20, 'x');  // huge-page advice and bulk population both apply
  buffer[0] = 'a';
  buffer.back() = 'z';
  PrepareLargeBuffer(buffer.data(), buffer.size());
  CHECK(buffer[0] == 'a');
  CHECK(buffer[buffer.size() / 2] == 'x');
  CHECK(buffer.back() == 'z');
  PrepareLargeBuffer(buffer.data() + 1, 10);  // below the threshold: nothing to do
  CHECK(buffer[1] == 'x');
}
