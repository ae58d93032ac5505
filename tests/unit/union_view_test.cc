#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>

#include "strata/union_view.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;

namespace {

Entry E(std::string path, EntryType type = EntryType::kRegular, uint32_t mode = 0644) {
  return MakeEntry(std::move(path), type, mode);
}
Entry D(std::string path, uint32_t mode = 0755) {
  return E(std::move(path), EntryType::kDirectory, mode);
}

LayerIndex Layer(std::vector<Entry> entries) {
  entries.push_back(D(""));
  entries.back().implicit = true;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return LayerIndex{std::move(entries)};
}

std::unique_ptr<UnionView> View(std::vector<LayerIndex> layers) {
  auto view = UnionView::FromLayers(std::move(layers), [](const Digest& d) { return "/blobs/" + d.Hex(); });
  REQUIRE(view.ok());
  return std::move(view).value();
}

std::vector<std::string> Names(const UnionView& v, std::string_view dir) {
  auto node = v.Resolve(dir);
  REQUIRE(node.ok());
  auto children = v.Children(*node);
  REQUIRE(children.ok());
  std::vector<std::string> out;
  for (const auto& c : **children) out.push_back(c.name);
  return out;
}

}  // namespace

TEST_CASE("upper entries hide lower ones and directories merge") {
  Entry lower_file = E("etc/hostname");
  lower_file.size = 5;
  Entry upper_file = E("etc/hostname", EntryType::kRegular, 0600);
  upper_file.size = 9;
  auto v = View({Layer({D("etc"), lower_file, E("etc/passwd"), D("bin"), E("bin/sh")}),
                 Layer({D("etc", 0700), upper_file, E("etc/motd")})});
  REQUIRE(Names(*v, "etc") == std::vector<std::string>{"hostname", "motd", "passwd"});
  REQUIRE(Names(*v, "") == std::vector<std::string>{"bin", "etc"});
  auto attr = v->GetAttr(*v->Resolve("etc/hostname"));
  REQUIRE(attr->size == 9);
  REQUIRE(attr->mode == (S_IFREG | 0600));
  REQUIRE(v->GetAttr(*v->Resolve("etc"))->mode == (S_IFDIR | 0700));
  REQUIRE(v->GetAttr(*v->Resolve("etc"))->nlink == 2);
  REQUIRE(v->GetAttr(kRootNode)->nlink == 4);
}

TEST_CASE("whiteouts delete, opaque directories hide what is below") {
  auto v = View({Layer({D("a"), E("a/x"), E("a/y"), D("b"), E("b/old"), D("c"), E("c/deep")}),
                 Layer({E("a/x", EntryType::kWhiteout),
                        [] {
                          Entry b = D("b");
                          b.opaque = true;
                          return b;
                        }(),
                        E("b/new"), E("c", EntryType::kWhiteout)})});
  REQUIRE(Names(*v, "a") == std::vector<std::string>{"y"});
  REQUIRE(Names(*v, "b") == std::vector<std::string>{"new"});
  REQUIRE(Names(*v, "") == std::vector<std::string>{"a", "b"});
  REQUIRE(v->Resolve("c/deep").status().ToErrno() == ENOENT);
  REQUIRE(v->Resolve("a/x").status().ToErrno() == ENOENT);
}

TEST_CASE("an implied directory keeps the lower directory's metadata") {
  Entry implied = D("srv");
  implied.implicit = true;
  auto v = View({Layer({D("srv", 0700)}), Layer({implied, E("srv/new")})});
  REQUIRE(v->GetAttr(*v->Resolve("srv"))->mode == (S_IFDIR | 0700));
  REQUIRE(Names(*v, "srv") == std::vector<std::string>{"new"});
}

TEST_CASE("a file replacing a directory drops the directory's children, and back") {
  auto v = View({Layer({D("d"), E("d/child"), E("f")}), Layer({E("d"), D("f"), E("f/inner")})});
  REQUIRE(v->GetAttr(*v->Resolve("d"))->mode == (S_IFREG | 0644));
  REQUIRE(v->Resolve("d/child").status().ToErrno() == ENOTDIR);
  REQUIRE(Names(*v, "f") == std::vector<std::string>{"inner"});
}

TEST_CASE("hardlinks share a node; equal content does not") {
  Entry a = E("a");
  a.size = 3;
  a.content.bytes[0] = 7;
  Entry same_bytes = a;
  same_bytes.path = "c";
  Entry link = E("b", EntryType::kHardlink);
  link.link_target = "a";
  auto v = View({Layer({a, link, same_bytes})});
  NodeId na = *v->Resolve("a"), nb = *v->Resolve("b"), nc = *v->Resolve("c");
  REQUIRE(na == nb);
  REQUIRE(v->GetAttr(na)->nlink == 2);
  REQUIRE(nc != na);  // deduplicated content, yet a separate file
  REQUIRE(v->GetAttr(nc)->nlink == 1);
  REQUIRE(*v->ContentPath(na) == *v->ContentPath(nc));
}

TEST_CASE("a hardlink whose target a later layer deleted still has its data") {
  Entry a = E("a");
  a.size = 3;
  Entry link = E("b", EntryType::kHardlink);
  link.link_target = "a";
  auto v = View({Layer({a, link}), Layer({E("a", EntryType::kWhiteout)})});
  REQUIRE(v->Resolve("a").status().ToErrno() == ENOENT);
  auto attr = v->GetAttr(*v->Resolve("b"));
  REQUIRE(attr->size == 3);
  REQUIRE(attr->nlink == 1);
}

TEST_CASE("wrong requests get the errno overlayfs gives") {
  Entry link = E("l", EntryType::kSymlink, 0777);
  link.link_target = "target";
  auto v = View({Layer({E("f"), link, D("d")})});
  REQUIRE(v->Lookup(*v->Resolve("f"), "x").status().ToErrno() == ENOTDIR);
  REQUIRE(v->ReadLink(*v->Resolve("f")).status().ToErrno() == EINVAL);
  REQUIRE(*v->ReadLink(*v->Resolve("l")) == "target");
  REQUIRE(v->GetAttr(*v->Resolve("l"))->size == 6);
  REQUIRE(v->ContentPath(*v->Resolve("d")).status().ToErrno() == EISDIR);
  REQUIRE(v->GetAttr(999).status().ToErrno() == ESTALE);
  REQUIRE(*v->ContentPath(*v->Resolve("f")) == "");  // empty file: no blob
}

TEST_CASE("an index that does not hold together is refused with the entry named") {
  auto open = [](std::vector<LayerIndex> layers) {
    return UnionView::FromLayers(std::move(layers), [](const Digest& d) { return "/blobs/" + d.Hex(); });
  };
  Entry link = E("b", EntryType::kHardlink);
  link.link_target = "gone";
  auto dangling = open({Layer({link})});
  REQUIRE(dangling.status().code() == Code::kCorruption);
  REQUIRE(dangling.status().message().find("hardlink /b points to a missing entry") != std::string::npos);
  auto orphan = open({Layer({D("a")}), Layer({E("x/y")})});  // y in an upper layer, x nowhere
  REQUIRE(orphan.status().code() == Code::kCorruption);
  REQUIRE(orphan.status().message().find("merged entry /x/y has no parent directory") != std::string::npos);
}
