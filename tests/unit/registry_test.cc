#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "registry/credentials.h"
#include "registry/registries_conf.h"
#include "registry/registry_ref.h"
#include "test_util.h"
#include "util/file_util.h"

using namespace strata;
using namespace strata::test;

TEST_CASE("references name the registry, repository, tag and digest as docker reads them") {
  auto r = ParseRegistryRef("debian");
  REQUIRE(r.ok());
  CHECK(r->host == "docker.io");
  CHECK(r->ApiHost() == "registry-1.docker.io");
  CHECK(r->repository == "library/debian");
  CHECK(r->tag == "latest");
  CHECK(r->LocalName() == "debian:latest");

  r = ParseRegistryRef("localhost:5000/team/app:1.2");
  REQUIRE(r.ok());
  CHECK(r->host == "localhost:5000");
  CHECK(r->repository == "team/app");
  CHECK(r->tag == "1.2");
  CHECK(r->LocalName() == "localhost:5000/team/app:1.2");

  const std::string digest = "sha256:" + std::string(64, 'a');
  r = ParseRegistryRef("quay.io/x/y@" + digest);
  REQUIRE(r.ok());
  CHECK(r->host == "quay.io");
  CHECK(r->tag.empty());
  CHECK(r->Reference() == digest);

  r = ParseRegistryRef("user/app:2");  // no dot or port: a Docker Hub user
  REQUIRE(r.ok());
  CHECK(r->host == "docker.io");
  CHECK(r->repository == "user/app");

  for (const char* bad : {"Upper/case", "x@sha256:short", "x:bad tag", "a//b", "x:", "-x"}) {
    INFO(bad);
    auto refused = ParseRegistryRef(bad);
    REQUIRE(!refused.ok());
    CHECK(refused.status().message().find("invalid reference") != std::string::npos);
  }
  CHECK(IsLoopbackHost("localhost:5000"));
  CHECK(IsLoopbackHost("127.0.0.1:80"));
  CHECK(IsLoopbackHost("[::1]:5000"));
  CHECK(!IsLoopbackHost("registry.example:5000"));
  CHECK(!IsLoopbackHost("127example.com"));
}

TEST_CASE("base64 as auth files spell it") {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "alice:s3cret", std::string("\0\xff:", 3)}) {
    auto back = Base64Decode(Base64Encode(s));
    REQUIRE(back.ok());
    CHECK(*back == s);
  }
  CHECK(Base64Encode("alice:s3cret") == "YWxpY2U6czNjcmV0");
  CHECK(!Base64Decode("abc").ok());
}

namespace {

// Points the auth-file variables at `dir` for one test.
struct AuthEnv {
  explicit AuthEnv(const std::string& dir) {
    ::setenv("DOCKER_CONFIG", (dir + "/docker").c_str(), 1);
    ::unsetenv("REGISTRY_AUTH_FILE");
    ::unsetenv("XDG_RUNTIME_DIR");
  }
  ~AuthEnv() { ::unsetenv("DOCKER_CONFIG"); }
};

}  // namespace

TEST_CASE("credentials go to docker's config.json, 0600, keeping its other keys") {
  TempDir tmp;
  AuthEnv env(tmp.path());
  REQUIRE(MakeDirs(tmp.path() + "/docker").ok());
  REQUIRE(WriteFileAtomic(tmp.path() + "/docker/config.json",
                          R"({"credsStore":"x","auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}}})")
              .ok());
  auto hub = FindCredentials("docker.io");
  REQUIRE(hub.ok());
  REQUIRE(hub->has_value());
  CHECK((*hub)->username == "u");
  CHECK((*hub)->password == "p");

  auto file = StoreCredentials("localhost:5000", {"alice", "pa:ss"});
  REQUIRE(file.ok());
  CHECK(*file == tmp.path() + "/docker/config.json");
  struct stat st;
  REQUIRE(::stat(file->c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto j = nlohmann::json::parse(*ReadFile(*file));
  CHECK(j["credsStore"] == "x");
  CHECK(j["auths"].contains("https://index.docker.io/v1/"));
  auto found = FindCredentials("localhost:5000");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->password == "pa:ss");  // a colon in the password survives

  REQUIRE(EraseCredentials("localhost:5000").ok());
  CHECK(!FindCredentials("localhost:5000")->has_value());
  CHECK(EraseCredentials("localhost:5000").code() == Code::kNotFound);
}

TEST_CASE("an auth file that is not JSON is named in the error") {
  TempDir tmp;
  AuthEnv env(tmp.path());
  REQUIRE(MakeDirs(tmp.path() + "/docker").ok());
  REQUIRE(WriteFileAtomic(tmp.path() + "/docker/config.json", "{not json").ok());
  auto found = FindCredentials("localhost:5000");
  REQUIRE(!found.ok());
  CHECK(found.status().message().find("docker/config.json: not a JSON object") != std::string::npos);
}

TEST_CASE("registries.conf names the registries reached over plain HTTP") {
  const std::string conf = R"(unqualified-search-registries = ["docker.io"]
[[registry]]
location = "cache.internal:5000"   # a mirror
insecure = true

[[registry]]
location = "secure.example"
insecure = false
[[registry]]
insecure=true
location="lab:80"
)";
  CHECK(ParseInsecureRegistries(conf) == std::vector<std::string>{"cache.internal:5000", "lab:80"});
  CHECK(ParseInsecureRegistries("").empty());
}
