// Container flags as docker parses them, the catalog record, and the store's
// container bookkeeping (no runtime needed: runs are tested end to end).
#include <catch2/catch.hpp>

#include <filesystem>

#include "container/container_json.h"
#include "strata/container.h"
#include "strata/store.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

TEST_CASE("-v and --mount parse as docker's") {
  auto named = ParseVolumeFlag("data:/var/lib/mysql");
  REQUIRE(named.ok());
  CHECK(named->type == MountRequest::Type::kVolume);
  CHECK(named->source == "data");
  CHECK(named->target == "/var/lib/mysql");
  CHECK_FALSE(named->readonly);
  auto bind = ParseVolumeFlag("/data/mysql:/var/lib/mysql:ro");
  REQUIRE(bind.ok());
  CHECK(bind->type == MountRequest::Type::kBind);
  CHECK(bind->readonly);
  auto anonymous = ParseVolumeFlag("/scratch");
  REQUIRE(anonymous.ok());
  CHECK(anonymous->source.empty());
  CHECK(anonymous->target == "/scratch");
  CHECK_FALSE(ParseVolumeFlag("a:b:c:d").ok());
  CHECK_FALSE(ParseVolumeFlag("vol:relative").ok());
  CHECK_FALSE(ParseVolumeFlag("vol:/x:bogus").ok());
  CHECK_FALSE(ParseVolumeFlag("vol:/").ok());

  auto m = ParseMountFlag("type=bind,source=/data/mysql,target=/var/lib/mysql,readonly");
  REQUIRE(m.ok());
  CHECK(m->type == MountRequest::Type::kBind);
  CHECK(m->source == "/data/mysql");
  CHECK(m->readonly);
  auto v = ParseMountFlag("src=ebs-vol,target=/var/lib/mysql");
  REQUIRE(v.ok());
  CHECK(v->type == MountRequest::Type::kVolume);
  CHECK(v->source == "ebs-vol");
  CHECK_FALSE(ParseMountFlag("type=tmpfs,target=/x").ok());
  CHECK_FALSE(ParseMountFlag("type=bind,source=rel,target=/x").ok());
  CHECK_FALSE(ParseMountFlag("type=volume,source=v,target=/x,color=red").ok());
}

TEST_CASE("a container record round-trips through JSON") {
  ContainerInfo c;
  c.id = "0123456789abcdef0123456789abcdef";
  c.name = "web";
  c.image_id = "ff";
  c.args = {"sh", "-c", "echo hi"};
  c.env = {"A=1"};
  c.mounts = {{MountRequest::Type::kBind, "/h", "/c", true}, {MountRequest::Type::kVolume, "v", "/d", false}};
  c.state = ContainerState::kExited;
  c.exit_code = 3;
  c.tty = true;
  auto back = DecodeContainer(EncodeContainer(c));
  REQUIRE(back.ok());
  CHECK(back->name == "web");
  CHECK(back->args == c.args);
  CHECK(back->mounts.size() == 2);
  CHECK(back->mounts[0].readonly);
  CHECK(back->mounts[1].type == MountRequest::Type::kVolume);
  CHECK(back->state == ContainerState::kExited);
  CHECK(back->exit_code == 3);
  CHECK(back->tty);
  CHECK_FALSE(DecodeContainer("not json").ok());
}

TEST_CASE("containers: create pins the image and uses volumes; rm keeps the volumes") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  auto volumes = OpenTestVolumes(*store);
  auto containers = OpenTestContainers(*store, *volumes);
  ImportShellImage(*store, tmp);
  ContainerConfig config;
  config.name = "c1";
  config.image = "base";
  config.cmd = {"/bin/sh"};
  config.env = {"A=1"};
  config.mounts = {*ParseVolumeFlag("data:/data")};
  auto c = containers->Create(config);
  REQUIRE(c.ok());
  CHECK(fs::is_directory(containers->Paths(c->id).upper));
  CHECK(containers->Get("c1")->id == c->id);
  CHECK(containers->Get(c->id.substr(0, 8))->name == "c1");  // an id prefix
  CHECK(volumes->Get("data")->users == std::vector<std::string>{c->id});
  CHECK(volumes->Remove("data").code() == Code::kInUse);
  CHECK(store->RemoveImage("base").status().code() == Code::kInUse);
  CHECK(containers->Create(config).status().code() == Code::kAlreadyExists);  // the name is taken
  ContainerConfig no_cmd;
  no_cmd.image = "base";
  CHECK(containers->Create(no_cmd).status().code() == Code::kInvalidArgument);

  REQUIRE(containers->Remove("c1", {}).ok());
  CHECK_FALSE(fs::exists(containers->Paths(c->id).dir));
  CHECK(volumes->Get("data")->users.empty());
  CHECK(volumes->Remove("data").ok());
  CHECK(store->RemoveImage("base").ok());
}

TEST_CASE("containers: an image for another architecture is refused at create") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  auto volumes = OpenTestVolumes(*store);
  auto containers = OpenTestContainers(*store, *volumes);
  ImportShellImage(*store, tmp);
  Image foreign = *store->GetImage("base");
  CHECK(foreign.platform.architecture == HostPlatform().architecture);  // made here
  foreign.platform = {"linux", HostPlatform().architecture == "s390x" ? "amd64" : "s390x", ""};
  REQUIRE(store->CreateImage(foreign, "foreign:1").ok());
  CHECK(PlatformString(store->GetImage("foreign:1")->platform) == PlatformString(foreign.platform));
  ContainerConfig config;
  config.image = "foreign:1";
  config.cmd = {"/bin/sh"};
  auto refused = containers->Create(config);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("image foreign:1 is made for " + PlatformString(foreign.platform)) ==
        0);
  CHECK(containers->List()->empty());
}
