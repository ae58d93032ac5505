#include <catch2/catch.hpp>

#include <filesystem>

#include "strata/store.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

TEST_CASE("a volume is a directory under volumes/ that outlives its users") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  auto volumes = OpenTestVolumes(*store);
  VolumeCreateOptions options;
  options.labels = {{"team", "db"}};
  auto v = volumes->Create("data_volume", options);
  REQUIRE(v.ok());
  REQUIRE(v->mountpoint == store->root() + "/volumes/data_volume/_data");
  REQUIRE(fs::is_directory(v->mountpoint));
  REQUIRE(volumes->Create("data_volume", {})->name == "data_volume");  // as Docker: idempotent

  // The seeds' example at the storage level: two users append, a third reads both.
  for (const char* user : {"c1", "c2"}) {
    auto path = volumes->Mount("data_volume", user);
    REQUIRE(path.ok());
    REQUIRE(Sh("echo " + std::string(user) + " >> " + *path + "/number.out") == 0);
    REQUIRE(volumes->Unmount("data_volume", user).ok());
  }
  REQUIRE(ReadBytes(*volumes->Mount("data_volume", "c3") + "/number.out") == "c1\nc2\n");

  auto in_use = volumes->Remove("data_volume");
  REQUIRE(in_use.code() == Code::kInUse);
  REQUIRE_THAT(in_use.message(), Catch::Contains("c3"));
  REQUIRE(volumes->Get("data_volume")->users == std::vector<std::string>{"c3"});
  REQUIRE(volumes->Unmount("data_volume", "c3").ok());
  REQUIRE(volumes->Remove("data_volume").ok());
  REQUIRE_FALSE(fs::exists(store->root() + "/volumes/data_volume"));
  REQUIRE(volumes->Get("data_volume").status().code() == Code::kNotFound);
}

TEST_CASE("bad volume requests are refused and change nothing") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  auto volumes = OpenTestVolumes(*store);
  auto before = SnapshotStore(store->root());
  REQUIRE(volumes->Create("bad name", {}).status().code() == Code::kInvalidArgument);
  REQUIRE(volumes->Create("../escape", {}).status().code() == Code::kInvalidArgument);
  VolumeCreateOptions with_opt;
  with_opt.options = {{"type", "tmpfs"}};
  auto opt = volumes->Create("vol", with_opt);
  REQUIRE(opt.status().code() == Code::kInvalidArgument);
  REQUIRE_THAT(opt.status().message(), Catch::Contains("'type'"));
  VolumeCreateOptions other_driver;
  other_driver.driver = "nfs";
  REQUIRE(volumes->Create("vol", other_driver).status().code() == Code::kNotFound);
  REQUIRE(volumes->Remove("ghost").code() == Code::kNotFound);
  REQUIRE(SnapshotStore(store->root()) == before);
}

TEST_CASE("prune removes unused anonymous volumes, or all unused with all") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  auto volumes = OpenTestVolumes(*store);
  VolumeCreateOptions anonymous;
  anonymous.anonymous = true;
  REQUIRE(volumes->Create("named", {}).ok());
  REQUIRE(volumes->Create("anon1", anonymous).ok());
  REQUIRE(volumes->Create("anon2", anonymous).ok());
  REQUIRE(volumes->Mount("anon2", "c1").ok());
  REQUIRE(*volumes->Prune({}) == std::vector<std::string>{"anon1"});
  REQUIRE(*volumes->Prune({.all = true}) == std::vector<std::string>{"named"});
  REQUIRE(volumes->List()->size() == 1);  // anon2 is in use
}

// Another driver plugs in without touching the rest.
TEST_CASE("a registered driver serves the volumes made with it") {
  struct MemoryDriver final : VolumeDriver {
    std::string base;
    explicit MemoryDriver(std::string b) : base(std::move(b)) {}
    std::string name() const override { return "test"; }
    Capabilities capabilities() const override { return {"global"}; }
    Status Create(const std::string& v, const std::map<std::string, std::string>&) override {
      fs::create_directories(base + "/" + v);
      return Status::OK();
    }
    Status Remove(const std::string& v) override {
      fs::remove_all(base + "/" + v);
      return Status::OK();
    }
    Result<std::string> Path(const std::string& v) override { return base + "/" + v; }
    Result<std::string> Mount(const std::string& v, const std::string&) override { return Path(v); }
    Status Unmount(const std::string&, const std::string&) override { return Status::OK(); }
    Result<std::vector<std::string>> List() override { return std::vector<std::string>{}; }
  };
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  auto volumes = OpenTestVolumes(*store);
  REQUIRE(volumes->RegisterDriver(std::make_unique<MemoryDriver>(tmp / "elsewhere")).ok());
  VolumeCreateOptions options;
  options.driver = "test";
  auto v = volumes->Create("remote", options);
  REQUIRE(v.ok());
  REQUIRE(v->mountpoint == tmp / "elsewhere/remote");
  REQUIRE(volumes->RegisterDriver(std::make_unique<MemoryDriver>("x")).code() == Code::kAlreadyExists);
  REQUIRE(volumes->Remove("remote").ok());
  REQUIRE_FALSE(fs::exists(tmp / "elsewhere/remote"));
}
