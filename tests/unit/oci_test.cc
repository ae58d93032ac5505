// OCI pieces that need no archive: SHA-256, digests, the image config both ways.
#include <catch2/catch.hpp>

#include "format/sha256.h"
#include "oci/oci_config.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;

TEST_CASE("sha256 matches the known vectors") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  TempDir tmp;
  WriteBytes(tmp / "f", "abc");
  CHECK(*Sha256File(tmp / "f") == Sha256Hex("abc"));
  WriteTar(tmp / "t.tar.gz", {File("a", "x")}, TarCompression::kGzip);
  WriteTar(tmp / "t.tar", {File("a", "x")});
  CHECK(Sha256Uncompressed(tmp / "t.tar.gz")->hex == *Sha256File(tmp / "t.tar"));  // a DiffID
  CHECK(Sha256Uncompressed(tmp / "t.tar.gz")->compression == BlobCompression::kGzip);
  CHECK(Sha256Uncompressed(tmp / "t.tar")->compression == BlobCompression::kNone);
}

TEST_CASE("digests are sha256 and hex only (archive paths are made of them)") {
  CHECK(IsSha256Digest("sha256:" + std::string(64, 'a')));
  CHECK_FALSE(IsSha256Digest("sha256:" + std::string(63, 'a')));
  CHECK_FALSE(IsSha256Digest("sha256:../../../../etc/passwd" + std::string(38, 'a')));
  CHECK_FALSE(IsSha256Digest("sha512:" + std::string(64, 'a')));
  CHECK_FALSE(IsSha256Digest("sha256:" + std::string(64, 'A')));
}

TEST_CASE("an image config goes to OCI and back") {
  Image image;
  image.created = 1700000000;
  image.config.env = {"PATH=/bin", "A=1"};
  image.config.cmd = {"sh"};
  image.config.entrypoint = {"/init"};
  image.config.working_dir = "/app";
  image.config.user = "app";
  image.config.labels = {{"k", "v"}};
  image.config.exposed_ports = {"80/tcp"};
  image.config.volumes = {"/data"};
  image.history = {{1700000000, "RUN x", "", false}, {1700000001, "ENV A=1", "", true}};
  std::string diff = "sha256:" + std::string(64, 'b');
  auto back = ParseOciConfig(OciConfigJson(image, {diff}));
  REQUIRE(back.ok());
  CHECK(back->diff_ids == std::vector<std::string>{diff});
  const ImageConfig& c = back->image.config;
  CHECK(c.env == image.config.env);
  CHECK(c.cmd == image.config.cmd);
  CHECK(c.entrypoint == image.config.entrypoint);
  CHECK(c.working_dir == "/app");
  CHECK(c.user == "app");
  CHECK(c.labels == image.config.labels);
  CHECK(c.exposed_ports == image.config.exposed_ports);
  CHECK(c.volumes == image.config.volumes);
  CHECK(back->image.created == 1700000000);
  REQUIRE(back->image.history.size() == 2);
  CHECK(back->image.history[1].empty_layer);
  CHECK(back->image.history[1].created == 1700000001);
  CHECK(back->image.platform.os == "linux");
  CHECK(back->image.platform.architecture == HostPlatform().architecture);  // none given: the host's
  image.platform = {"linux", "arm", "v7"};
  auto arm = ParseOciConfig(OciConfigJson(image, {diff}));
  REQUIRE(arm.ok());
  CHECK(PlatformString(arm->image.platform) == "linux/arm/v7");
  CHECK_FALSE(ParseOciConfig(R"({"architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}})").ok());
  CHECK_FALSE(ParseOciConfig("{}").ok());
  CHECK_FALSE(ParseOciConfig(R"({"rootfs":{"type":"layers","diff_ids":["md5:x"]}})").ok());
}

TEST_CASE("an OCI config's times keep their nanoseconds and their zone") {
  const std::string rootfs = R"("rootfs":{"type":"layers","diff_ids":[]})";
  auto parsed = ParseOciConfig(R"({"created":"2023-06-13T21:47:54.373286052+02:00",)" + rootfs +
                               R"(,"history":[{"created":"2023-06-13T19:47:54.5Z","created_by":"x"}]})");
  REQUIRE(parsed.ok());
  CHECK(parsed->image.created == 1686685674);  // 19:47:54 UTC
  CHECK(parsed->image.created_nanos == 373286052);
  REQUIRE(parsed->image.history.size() == 1);
  CHECK(parsed->image.history[0].created_nanos == 500000000);
  // Written again as docker writes it: UTC, the fraction without trailing zeros.
  const std::string again = OciConfigJson(parsed->image, {});
  CHECK_THAT(again, Catch::Contains(R"("created":"2023-06-13T19:47:54.373286052Z")"));
  CHECK_THAT(again, Catch::Contains(R"("created":"2023-06-13T19:47:54.5Z")"));
  // A time that does not parse is the epoch, never a throw.
  auto odd = ParseOciConfig(R"({"created":"yesterday",)" + rootfs + "}");
  REQUIRE(odd.ok());
  CHECK(odd->image.created == 0);
}

TEST_CASE("platforms parse, print and match as containerd's do") {
  CHECK(PlatformString(*ParsePlatform("linux/arm64")) == "linux/arm64");
  CHECK(PlatformString(*ParsePlatform("arm/v7")) == "linux/arm/v7");  // "arm/v7": os defaults to linux
  CHECK(PlatformString(*ParsePlatform("x86_64")) == "linux/amd64");
  CHECK_FALSE(ParsePlatform("").ok());
  CHECK_FALSE(ParsePlatform("linux/../x").ok());
  CHECK_FALSE(ParsePlatform("linux/amd64/v2/extra").ok());
  CHECK_FALSE(ParsePlatform("Linux/AMD64").ok());
  Platform arm64{"linux", "arm64", ""}, arm64v8{"linux", "arm64", "v8"};
  CHECK(PlatformMatches(arm64, arm64v8));  // v8 is arm64's only variant
  CHECK(PlatformMatches({"linux", "arm", "v7"}, {"linux", "arm", ""}));
  CHECK_FALSE(PlatformMatches({"linux", "arm", "v7"}, {"linux", "arm", "v6"}));
  CHECK_FALSE(PlatformMatches({"linux", "amd64", ""}, arm64));
  CHECK_FALSE(PlatformMatches({"windows", "amd64", ""}, {"linux", "amd64", ""}));
  Platform host = HostPlatform();
  CHECK(host.os == "linux");
  CHECK_FALSE(host.architecture.empty());
  CHECK(CheckHostCanRun(host, "x").ok());
  Platform other{"linux", host.architecture == "s390x" ? "amd64" : "s390x", ""};
  Status refused = CheckHostCanRun(other, "image foo");
  CHECK(refused.message() == "image foo is made for " + PlatformString(other) + " and this machine is " +
                                 PlatformString(host) + ": it cannot run here");
}
