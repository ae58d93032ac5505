#include <catch2/catch.hpp>

#include "format/layer_builder.h"

using namespace strata;

static Entry Make(std::string path, EntryType type = EntryType::kRegular, std::string link = "") {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.link_target = std::move(link);
  e.mode = 0644;
  return e;
}

TEST_CASE("tar names normalise to layer paths") {
  REQUIRE(*NormalizeTarPath("./etc/passwd") == "etc/passwd");
  REQUIRE(*NormalizeTarPath("/etc//passwd") == "etc/passwd");  // absolute: relative to the layer root
  REQUIRE(*NormalizeTarPath("etc/./x/") == "etc/x");
  REQUIRE(*NormalizeTarPath("./") == "");
  REQUIRE(NormalizeTarPath("a/../../etc").status().code() == Code::kInvalidArgument);
  REQUIRE(NormalizeTarPath("..").status().code() == Code::kInvalidArgument);
  REQUIRE(NormalizeTarPath(std::string("a\0b", 3)).status().code() == Code::kInvalidArgument);
  REQUIRE(NormalizeTarPath(std::string(5000, 'a')).status().code() == Code::kInvalidArgument);
  REQUIRE(NormalizeTarPath(std::string(256, 'a')).status().code() == Code::kInvalidArgument);
  REQUIRE(NormalizeTarPath(std::string(255, 'a')).ok());
}

TEST_CASE("parents are implied, whiteouts and opaque markers translated") {
  LayerBuilder b;
  REQUIRE(b.Add(Make("a/b/file")).ok());
  REQUIRE(b.Add(Make("a/.wh.gone")).ok());
  REQUIRE(b.Add(Make("c/.wh..wh..opq")).ok());
  REQUIRE(b.Add(Make("a/.wh..wh.plnk")).ok());  // AUFS metadata is dropped
  LayerIndex index = std::move(b).Finish();
  REQUIRE(index.Find("")->implicit);
  REQUIRE(index.Find("a")->implicit);
  REQUIRE(index.Find("a/b")->type == EntryType::kDirectory);
  REQUIRE(index.Find("a/gone")->type == EntryType::kWhiteout);
  REQUIRE(index.Find("c")->opaque);
  REQUIRE(index.Find("a/.wh..wh.plnk") == nullptr);
  REQUIRE(index.entries.size() == 6);
}

TEST_CASE("a later entry replaces an earlier one; a dir keeps its opaque flag") {
  LayerBuilder b;
  REQUIRE(b.Add(Make("d/.wh..wh..opq")).ok());
  Entry dir = Make("d", EntryType::kDirectory);
  dir.mode = 0700;
  REQUIRE(b.Add(dir).ok());
  REQUIRE(b.Add(Make("f")).ok());
  Entry f2 = Make("f");
  f2.size = 9;
  REQUIRE(b.Add(f2).ok());
  LayerIndex index = std::move(b).Finish();
  REQUIRE(index.Find("d")->opaque);
  REQUIRE_FALSE(index.Find("d")->implicit);
  REQUIRE(index.Find("d")->mode == 0700);
  REQUIRE(index.Find("f")->size == 9);
}

TEST_CASE("hostile entries are refused") {
  LayerBuilder b;
  SECTION("through a planted symlink") {
    REQUIRE(b.Add(Make("evil", EntryType::kSymlink, "/etc")).ok());
    auto r = b.Add(Make("evil/passwd"));
    REQUIRE(r.status().code() == Code::kInvalidArgument);
    REQUIRE_THAT(r.status().message(), Catch::Contains("symlink"));
  }
  SECTION("through a planted file") {
    REQUIRE(b.Add(Make("f")).ok());
    REQUIRE_FALSE(b.Add(Make("f/x")).ok());
  }
  SECTION("hardlink to outside the layer") {
    REQUIRE_FALSE(b.Add(Make("h", EntryType::kHardlink, "/etc/shadow")).ok());
    REQUIRE_FALSE(b.Add(Make("h", EntryType::kHardlink, "../outside")).ok());
  }
  SECTION("hardlink to a directory or to itself") {
    REQUIRE(b.Add(Make("d", EntryType::kDirectory)).ok());
    REQUIRE_FALSE(b.Add(Make("h", EntryType::kHardlink, "d")).ok());
    REQUIRE_FALSE(b.Add(Make("h", EntryType::kHardlink, "h")).ok());
  }
  SECTION("a file replacing a non-empty directory") {
    REQUIRE(b.Add(Make("d/x")).ok());
    REQUIRE_FALSE(b.Add(Make("d")).ok());
  }
  SECTION("an entry and its whiteout together") {
    REQUIRE(b.Add(Make("x")).ok());
    REQUIRE_FALSE(b.Add(Make(".wh.x")).ok());
  }
  SECTION("a whiteout of nothing") {
    REQUIRE_FALSE(b.Add(Make("a/.wh.")).ok());
  }
  SECTION("the root as a file") {
    REQUIRE_FALSE(b.Add(Make("./")).ok());
  }
  SECTION("replacing a hardlink target") {
    REQUIRE(b.Add(Make("t")).ok());
    REQUIRE(b.Add(Make("l", EntryType::kHardlink, "t")).ok());
    REQUIRE_FALSE(b.Add(Make("t")).ok());
  }
}

TEST_CASE("hardlink groups do not depend on tar order") {
  auto build = [](std::vector<Entry> entries) {
    LayerBuilder b;
    for (auto& e : entries) REQUIRE(b.Add(e).ok());
    return std::move(b).Finish();
  };
  Entry data = Make("z/data");
  data.size = 5;
  data.content.bytes[0] = 1;
  Entry data_at_a = data;
  data_at_a.path = "a/data";
  LayerIndex one = build(
      {data, Make("a/data", EntryType::kHardlink, "z/data"), Make("m/data", EntryType::kHardlink, "z/data")});
  LayerIndex two = build({data_at_a, Make("m/data", EntryType::kHardlink, "a/data"),
                          Make("z/data", EntryType::kHardlink, "m/data")});
  REQUIRE(one.entries == two.entries);
  REQUIRE(one.Find("a/data")->type == EntryType::kRegular);
  REQUIRE(one.Find("a/data")->size == 5);
  REQUIRE(one.Find("z/data")->link_target == "a/data");
  REQUIRE(one.Find("m/data")->link_target == "a/data");
}
