// The library's contracts: no exception and no OK-status Result escapes, one
// text toolkit, the store's format version (refused when newer, migrated when
// older), and containers as a component that repairs what a crash left.
#include <sqlite3.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "container/container_json.h"
#include "format/index_codec.h"
#include "strata/container.h"
#include "strata/housekeeping.h"
#include "strata/store.h"
#include "strata/text.h"
#include "strata/union_view.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

namespace {

void Sql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  INFO(message);
  REQUIRE(rc == SQLITE_OK);
}

std::string FormatOf(const std::string& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='format'", -1, &s, nullptr) == SQLITE_OK);
  std::string out =
      sqlite3_step(s) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(s, 0)) : "";
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("text helpers: Split, JoinPath, HumanSize, ParseUnsigned") {
  CHECK(Split("a:b::c", ':') == std::vector<std::string>{"a", "b", "", "c"});
  CHECK(Split("a:", ':') == std::vector<std::string>{"a"});
  CHECK(Split(":a", ':') == std::vector<std::string>{"", "a"});
  CHECK(Split("", ':').empty());
  CHECK(JoinPath("", "x") == "x");
  CHECK(JoinPath(".", "x") == "x");
  CHECK(JoinPath("a/b", "x") == "a/b/x");
  CHECK(HumanSize(999) == "999B");
  CHECK(HumanSize(1234567) == "1.23MB");
  CHECK(ParseUnsigned("42") == 42u);
  CHECK(ParseUnsigned("755", 8) == 0755u);
  CHECK(ParseUnsigned("ff", 16) == 255u);
  CHECK_FALSE(ParseUnsigned(""));
  CHECK_FALSE(ParseUnsigned("-1"));
  CHECK_FALSE(ParseUnsigned("+1"));
  CHECK_FALSE(ParseUnsigned("1x"));
  CHECK_FALSE(ParseUnsigned(" 1"));
  CHECK_FALSE(ParseUnsigned("99999999999999999999"));  // past 64 bits: refused, never thrown
  CHECK_FALSE(ParseUnsigned("4294967296", 10, UINT32_MAX));
  CHECK(ParseUnsigned("4294967295", 10, UINT32_MAX) == 4294967295u);
  CHECK_FALSE(ParseUnsigned("8", 8));
}

TEST_CASE("RFC 3339 times print as Go's RFC3339Nano and parse with fractions and zones") {
  CHECK(FormatRfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(FormatRfc3339(1700000000) == "2023-11-14T22:13:20Z");
  CHECK(FormatRfc3339(1700000000, 120000000) == "2023-11-14T22:13:20.12Z");
  CHECK(FormatRfc3339(1700000000, 1) == "2023-11-14T22:13:20.000000001Z");
  auto t = ParseRfc3339("2023-11-14T22:13:20.12Z");
  REQUIRE(t);
  CHECK(t->seconds == 1700000000);
  CHECK(t->nanos == 120000000);
  auto zoned = ParseRfc3339("2023-11-15T00:13:20+02:00");
  REQUIRE(zoned);
  CHECK(zoned->seconds == 1700000000);
  auto west = ParseRfc3339("2023-11-14T17:13:20.5-05:00");
  REQUIRE(west);
  CHECK(west->seconds == 1700000000);
  CHECK(west->nanos == 500000000);
  CHECK(ParseRfc3339("2023-11-14T22:13:20.1234567891Z")->nanos == 123456789);  // past 9 digits: cut
  CHECK_FALSE(ParseRfc3339(""));
  CHECK_FALSE(ParseRfc3339("2023-11-14"));
  CHECK_FALSE(ParseRfc3339("2023-11-14T22:13:20"));    // no zone
  CHECK_FALSE(ParseRfc3339("2023-11-14T22:13:20.Z"));  // an empty fraction
  CHECK_FALSE(ParseRfc3339("2023-13-14T22:13:20Z"));   // month 13
  CHECK_FALSE(ParseRfc3339("2023-11-14T22:13:20Zjunk"));
  CHECK_FALSE(ParseRfc3339("2023-11-14T22:13:20+0200"));
  CHECK_FALSE(ParseRfc3339("+023-11-14T22:13:20Z"));
}

TEST_CASE("a Result made from an OK status is an internal error, never a value-less success") {
  Result<int> r = Status::OK();
  CHECK_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInternal);
  CHECK(r.status().ToErrno() == EIO);
  Result<int> fine = 7;
  CHECK(fine.ok());
  CHECK(*fine == 7);
}

TEST_CASE("bytes that are not UTF-8 are written as U+FFFD, never thrown") {
  ContainerInfo c;
  c.id = "0123456789abcdef0123456789abcdef";
  c.name = "bytes";
  c.args = {"echo", "a\xff\xfe"};  // as a shell passes $'a\xff\xfe'
  std::string record = EncodeContainer(c);
  auto back = DecodeContainer(record);
  REQUIRE(back.ok());
  CHECK(back->args[1] == "a\xEF\xBF\xBD\xEF\xBF\xBD");
  std::vector<VolumeInfo> volumes(1);
  volumes[0].labels = {{"k", "\xc3"}};  // a cut two-byte sequence
  CHECK_THAT(ToJson(volumes), Catch::Contains("\\ufffd") || Catch::Contains("\xEF\xBF\xBD"));
}

TEST_CASE("a store of a newer format is refused, and the refusal changes nothing") {
  TempDir tmp;
  { OpenTestStore(tmp); }
  const std::string db = tmp / "store/catalog.db";
  CHECK(FormatOf(db) == "5");
  Sql(db, "UPDATE meta SET value='6' WHERE key='format'");
  auto reopened = Store::Open(tmp / "store");
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.status().code() == Code::kUnsupported);
  CHECK_THAT(reopened.status().message(), Catch::Contains("format 6") && Catch::Contains("up to 5"));
  CHECK(FormatOf(db) == "6");
}

TEST_CASE("a format 1 store (containers and volumes in the catalog) is migrated when opened") {
  TempDir tmp;
  std::string image_id;
  {
    auto store = OpenTestStore(tmp);
    image_id = ImportShellImage(*store, tmp).id;
  }
  // What format 1 kept: the container's record, the volume and its user, in the catalog.
  ContainerInfo c;
  c.id = "0123456789abcdef0123456789abcdef";
  c.name = "old";
  c.image_id = image_id;
  c.args = {"/bin/sh"};
  c.mounts = {{MountRequest::Type::kVolume, "data", "/data", false}};
  c.created = 1600000000;
  fs::create_directories(tmp / ("store/containers/" + c.id + "/upper"));
  fs::create_directories(tmp / "store/volumes/data/_data");
  const std::string db = tmp / "store/catalog.db";
  std::string record = EncodeContainer(c);
  for (auto& ch : record)
    if (ch == '\'') ch = '"';
  Sql(db,
      "CREATE TABLE containers(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image_id TEXT NOT NULL,"
      " record TEXT NOT NULL);"
      "CREATE TABLE volumes(name TEXT PRIMARY KEY, driver TEXT NOT NULL, labels TEXT NOT NULL,"
      " options TEXT NOT NULL, anonymous INTEGER NOT NULL, created INTEGER NOT NULL);"
      "CREATE TABLE volume_users(volume TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY(volume, user));"
      "INSERT INTO containers VALUES('" +
          c.id + "', 'old', '" + image_id + "', '" + record +
          "');"
          "INSERT INTO volumes VALUES('data', 'local', '{\"team\":\"db\"}', '{}', 0, 1600000000);"
          "INSERT INTO volume_users VALUES('data', '" +
          c.id +
          "');"
          "UPDATE meta SET value='1' WHERE key='format';"
          "INSERT INTO tags VALUES('docker.io/library/busybox:1', '" +
          image_id + "');");

  auto store = OpenTestStore(tmp);
  CHECK(FormatOf(db) == "5");
  auto volumes = OpenTestVolumes(*store);
  auto containers = OpenTestContainers(*store, *volumes);
  auto migrated = containers->Get("old");
  REQUIRE(migrated.ok());
  CHECK(migrated->id == c.id);
  CHECK(migrated->args == c.args);
  auto data = volumes->Get("data");
  REQUIRE(data.ok());
  CHECK(data->users == std::vector<std::string>{c.id});
  CHECK(data->labels == std::map<std::string, std::string>{{"team", "db"}});
  CHECK(store->GetImage("busybox:1")->names == std::vector<std::string>{"base:latest", "busybox:1"});
  // The container still holds it.
  CHECK(store->RemoveImage(image_id, {.force = true}).status().code() == Code::kInUse);
  auto check = containers->Check({});
  REQUIRE(check.ok());
  CHECK(check->problems.empty());
  REQUIRE(containers->Remove("old", {}).ok());
  CHECK(store->RemoveImage(image_id, {.force = true}).ok());
}

TEST_CASE("a format 2 store (blobs fanned out by hex) gets short blob names when opened", "[root]") {
  TempDir tmp;
  Image image;
  {
    auto store = OpenTestStore(tmp);
    image = ImportShellImage(*store, tmp);
    REQUIRE(store->MetaTree(image.layers.back()).ok());
  }
  // Format 2's layout: blobs/<two hex>/<32 hex>, and a metadata tree naming blobs by path.
  const fs::path blobs = tmp / "store/blobs";
  size_t moved = 0;
  auto store_for_names = OpenTestStore(tmp);
  for (const auto& layer : image.layers) {
    auto index = store_for_names->ReadLayerIndex(layer);
    REQUIRE(index.ok());
    for (const auto& e : index->entries) {
      if (e.type != EntryType::kRegular || e.size == 0) continue;
      const fs::path now = store_for_names->BlobPath(e.content);
      if (!fs::exists(now)) continue;
      const std::string hex = e.content.Hex();
      fs::create_directories(blobs / hex.substr(0, 2));
      fs::rename(now, blobs / hex.substr(0, 2) / hex);
      ++moved;
    }
  }
  store_for_names.reset();
  REQUIRE(moved > 0);
  fs::create_directories(blobs / "ab/.tmp-old");  // an old layout's temporary
  const std::string db = tmp / "store/catalog.db";
  Sql(db, "UPDATE meta SET value='2' WHERE key='format'");

  auto store = OpenTestStore(tmp);
  CHECK(FormatOf(db) == "5");
  for (const auto& entry : fs::directory_iterator(blobs)) {
    CHECK(entry.is_regular_file());
    CHECK(entry.path().filename().string().size() == 22);
  }
  CHECK_FALSE(fs::exists(tmp / "store/meta"));  // derived: made again when needed
  auto report = store->Fsck({});
  REQUIRE(report.ok());
  CHECK(report->problems.empty());
  auto meta = store->MetaTree(image.layers.back());
  REQUIRE(meta.ok());
}

TEST_CASE("what a crashed create or remove leaves is found and repaired") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  auto volumes = OpenTestVolumes(*store);
  auto containers = OpenTestContainers(*store, *volumes);
  const Image image = ImportShellImage(*store, tmp);
  REQUIRE(volumes->Create("data", {}).ok());
  // A create that died after it held the image and mounted the volume.
  REQUIRE(store->HoldImage({image.id, "container:feedfacefeedface", "container ghost"}).ok());
  REQUIRE(volumes->Mount("data", "feedfacefeedface").ok());
  CHECK(store->RemoveImage("base").status().code() == Code::kInUse);

  auto found = containers->Check({});
  REQUIRE(found.ok());
  CHECK(found->problems.size() == 2);
  CHECK(found->repaired.empty());
  auto repaired = containers->Check({.repair = true});
  REQUIRE(repaired.ok());
  CHECK(repaired->repaired.size() == 2);
  auto after = containers->Check({});
  REQUIRE(after.ok());
  CHECK(after->problems.empty());
  CHECK(volumes->Get("data")->users.empty());
  CHECK(store->RemoveImage("base").ok());
}

TEST_CASE("layers an interrupted load left are shown by fsck and df and removed by prune") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  auto volumes = OpenTestVolumes(*store);
  auto containers = OpenTestContainers(*store, *volumes);
  const Image kept = ImportShellImage(*store, tmp);
  // What a load killed before it made its image leaves: a layer, no image.
  WriteTar(tmp / "orphan.tar", {File("data", std::string(5000, 'o'))});
  auto orphan = store->ImportLayerTar(kept.layers.back(), tmp / "orphan.tar");
  REQUIRE(orphan.ok());
  auto unused = store->UnusedLayers();
  REQUIRE(unused.ok());
  REQUIRE(unused->size() == 1);
  CHECK(unused->front().id == orphan->id);
  auto fsck = store->Fsck({});
  REQUIRE(fsck.ok());
  REQUIRE(fsck->problems.size() == 1);
  CHECK_THAT(fsck->problems[0], Catch::Contains(orphan->id) && Catch::Contains("no image"));
  auto du = ComputeDiskUsage(*containers);
  REQUIRE(du.ok());
  CHECK(du->unused_layers.count == 1);
  CHECK(du->unused_layers.size == orphan->size);
  auto pruned = SystemPrune(*containers, {});
  REQUIRE(pruned.ok());
  CHECK(pruned->layers == std::vector<std::string>{orphan->id});
  CHECK(store->GetLayer(orphan->id).status().code() == Code::kNotFound);
  CHECK(store->GetImage(kept.id).ok());  // what an image uses stays
  CHECK(store->Fsck({})->problems.empty());
}

TEST_CASE("a format 4 store (compressed layer indexes) gets uncompressed ones when opened") {
  TempDir tmp;
  std::vector<std::string> layer;  // three layers: migrated, half-migrated by a crash, damaged
  std::vector<std::string> raw;
  {
    auto store = OpenTestStore(tmp);
    for (const char* name : {"a", "b", "c"}) {
      WriteTar(tmp / "x.tar", {File(name, std::string("bytes of ") + name)});
      auto image = store->ImportTar(tmp / "x.tar", {.ref = name});
      REQUIRE(image.ok());
      layer.push_back(image->layers.back());
      raw.push_back(ReadBytes(store->root() + "/layers/" + layer.back() + "/index"));
    }
  }
  const fs::path layers = tmp / "store/layers";
  WriteBytes(layers / layer[0] / "index.zst", Compress(raw[0]));
  fs::remove(layers / layer[0] / "index");
  WriteBytes(layers / layer[1] / "index.zst", Compress(raw[1]));  // its index already written
  WriteBytes(layers / layer[2] / "index.zst", "not zstd at all");
  fs::remove(layers / layer[2] / "index");
  const std::string db = tmp / "store/catalog.db";
  Sql(db, "UPDATE meta SET value='4' WHERE key='format'");

  auto store = OpenTestStore(tmp);
  CHECK(FormatOf(db) == "5");
  for (size_t i = 0; i < layer.size(); ++i) {
    INFO(i);
    CHECK_FALSE(fs::exists(layers / layer[i] / "index.zst"));
    CHECK(ReadBytes(layers / layer[i] / "index") == (i < 2 ? raw[i] : "not zstd at all"));
  }
  CHECK(store->ReadLayerIndex(layer[0]).ok());
  CHECK(store->ReadLayerIndex(layer[1]).ok());
  auto damaged = store->ReadLayerIndex(layer[2]);  // kept as it was: its digest check finds it
  CHECK(damaged.status().code() == Code::kCorruption);
  CHECK_THAT(damaged.status().message(), Catch::Contains("does not match its digest"));
  auto view = UnionView::OpenImage(*store, "a");
  REQUIRE(view.ok());
}
