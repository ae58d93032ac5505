// A writable union's upper directory committed as a layer: the new image
// must show exactly what the writable union showed.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "strata/overlay_fs.h"
#include "strata/store.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

namespace {

// path -> "mode uid size content-or-target" for every entry below `node`.
void Walk(OverlayFs& ofs, uint64_t node, const std::string& path, std::map<std::string, std::string>* out) {
  auto children = ofs.ReadDir(node);
  REQUIRE(children.ok());
  for (const auto& c : **children) {
    auto e = ofs.Lookup(node, c.name);
    REQUIRE(e.ok());
    std::string p = path + "/" + c.name;
    std::string desc = std::to_string(e->attr.st_mode) + " " + std::to_string(e->attr.st_uid);
    if (S_ISREG(e->attr.st_mode)) {
      auto f = ofs.OpenNode(e->node, O_RDONLY);
      REQUIRE(f.ok());
      char buf[256] = {};
      ssize_t n = (*f)->CurrentFd() < 0 ? 0 : ::pread((*f)->CurrentFd(), buf, sizeof buf, 0);
      desc.append(" ").append(buf, static_cast<size_t>(std::max<ssize_t>(n, 0)));
    } else if (S_ISLNK(e->attr.st_mode)) {
      desc += " -> " + *ofs.ReadLink(e->node);
    }
    (*out)[p] = desc;
    if (S_ISDIR(e->attr.st_mode)) Walk(ofs, e->node, p, out);
  }
}

std::map<std::string, std::string> Tree(Store& store, const std::string& ref, const std::string& upper = "",
                                        const std::string& work = "") {
  auto view = UnionView::OpenImage(store, ref);
  REQUIRE(view.ok());
  auto ofs = OverlayFs::Open(std::move(view).value(), {upper, work, true});
  REQUIRE(ofs.ok());
  std::map<std::string, std::string> tree;
  Walk(**ofs, kRootNode, "", &tree);
  return tree;
}

}  // namespace

TEST_CASE("committing an upper directory gives the image the union showed", "[root]") {
  TempDir tmp;
  auto store = Store::Open(tmp / "store");
  REQUIRE(store.ok());
  WriteTar(tmp / "base.tar",
           {Dir("etc/"), File("etc/passwd", "root"), File("etc/hosts", "localhost"), Dir("var/"),
            Dir("var/cache/"), File("var/cache/old", "stale"), Symlink("bin", "usr/bin")});
  REQUIRE((*store)->ImportTar(tmp / "base.tar", {.ref = "base"}).ok());
  fs::create_directories(tmp / "upper");
  fs::create_directories(tmp / "work");

  std::map<std::string, std::string> live;
  {
    auto view = UnionView::OpenImage(**store, "base");
    REQUIRE(view.ok());
    auto ofs = OverlayFs::Open(std::move(view).value(), {tmp / "upper", tmp / "work", true});
    REQUIRE(ofs.ok());
    OverlayFs& o = **ofs;
    uint64_t etc = o.Lookup(kRootNode, "etc")->node;
    uint64_t var = o.Lookup(kRootNode, "var")->node;
    auto created = o.Create(etc, "motd", 0644, O_WRONLY, {});  // a new file
    REQUIRE(created.ok());
    REQUIRE(::pwrite(created->second->CurrentFd(), "welcome", 7, 0) == 7);
    auto hosts = o.OpenNode(o.Lookup(etc, "hosts")->node, O_WRONLY | O_TRUNC);  // a copy-up
    REQUIRE(hosts.ok());
    REQUIRE(::pwrite((*hosts)->CurrentFd(), "10.0.0.1 db", 11, 0) == 11);
    REQUIRE(o.Unlink(etc, "passwd").ok());  // a whiteout
    uint64_t cache = o.Lookup(var, "cache")->node;
    REQUIRE(o.Unlink(cache, "old").ok());
    REQUIRE(o.Rmdir(var, "cache").ok());
    REQUIRE(o.Mkdir(var, "cache", 0700, {}).ok());  // made again: opaque
    REQUIRE(o.Symlink(kRootNode, "sbin", "usr/sbin", {}).ok());
    Walk(o, kRootNode, "", &live);
  }
  REQUIRE(live.count("/etc/motd"));
  REQUIRE(!live.count("/etc/passwd"));

  auto committed = (*store)->ImportDirectory(tmp / "upper", {.from = "base", .ref = "base:changed"});
  REQUIRE(committed.ok());
  REQUIRE(committed->layers.size() == 2);
  REQUIRE(Tree(**store, "base:changed") == live);

  // The layer holds exactly the changes, as OCI whiteouts once exported.
  auto index = (*store)->ReadLayerIndex(committed->layers[1]);
  REQUIRE(index.ok());
  REQUIRE(index->Find("etc/passwd")->type == EntryType::kWhiteout);
  REQUIRE(index->Find("var/cache")->opaque);
  REQUIRE(index->Find("etc/hosts")->size == 11);
  REQUIRE(index->Find("")->implicit);
  REQUIRE((*store)->ExportLayer(committed->layers[1], tmp / "changes.tar", Compression::kNone).ok());
  REQUIRE(Sh("tar -tf " + tmp / "changes.tar" + " | grep -qx 'etc/.wh.passwd'") == 0);
  REQUIRE(Sh("tar -tf " + tmp / "changes.tar" + " | grep -qx 'var/cache/.wh..wh..opq'") == 0);
}

TEST_CASE("committing a missing directory fails and changes nothing") {
  TempDir tmp;
  auto store = Store::Open(tmp / "store");
  REQUIRE(store.ok());
  auto before = SnapshotStore(tmp / "store");
  auto r = (*store)->ImportDirectory(tmp / "nope", {.ref = "x"});
  REQUIRE_FALSE(r.ok());
  REQUIRE(SnapshotStore(tmp / "store") == before);
}
