#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <latch>
#include <map>
#include <set>
#include <thread>

#include "format/layer_merge.h"
#include "format/upper_dir.h"
#include "overlay_fixture.h"
#include "strata/overlay_fs.h"
#include "test_util.h"
#include "union/overlay_fd_cache.h"
#include "util/file_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

TEST_CASE("copy-up keeps owner, mode, times and xattrs, and st_ino", "[root]") {
  Fixture f;
  uint64_t dir = f.Node(kRootNode, "dir"), data = f.Node(dir, "data");
  auto before = f.fs->GetAttr(data);
  REQUIRE(before.ok());
  REQUIRE(f.fs->SetXattr(data, "user.added", "1", 0).ok());  // copies up
  REQUIRE(fs::exists(f.tmp / "upper/dir/data"));
  auto after = f.fs->GetAttr(data);
  REQUIRE(after->st_ino == before->st_ino);
  REQUIRE(after->st_mode == before->st_mode);
  REQUIRE(after->st_uid == 1000);
  REQUIRE(after->st_gid == 100);
  REQUIRE(after->st_mtim.tv_sec == 1600000000);
  REQUIRE(*f.fs->GetXattr(data, "user.k") == "v");
  REQUIRE(f.Read(data) == "lower");
  auto dir_attr = f.fs->GetAttr(dir);
  REQUIRE((dir_attr->st_mode & 07777) == 0750);  // the parent was copied up with its metadata
  REQUIRE(f.fs->GetXattr(data, "trusted.overlay.opaque").status().ToErrno() == ENODATA);
}

TEST_CASE("copy-up keeps a sparse file's holes", "[root]") {
  TempDir tmp;
  fs::create_directories(tmp / "upper");
  fs::create_directories(tmp / "work");
  constexpr off_t kSize = 64 << 20, kMiddle = 32 << 20;
  const std::string blob = tmp / "sparse";
  {
    UniqueFd fd(::open(blob.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(fd.valid());
    REQUIRE(::pwrite(fd.get(), "head", 4, 0) == 4);
    REQUIRE(::pwrite(fd.get(), "middle", 6, kMiddle) == 6);
    REQUIRE(::ftruncate(fd.get(), kSize) == 0);
  }
  Entry big = E("big");
  big.size = kSize;
  big.content.bytes[0] = 1;
  auto view = UnionView::FromLayers({LayerIndex{{E("", EntryType::kDirectory, 0755), big}}},
                                    [blob](const Digest&) { return blob; });
  REQUIRE(view.ok());
  auto opened = OverlayFs::Open(std::move(view).value(), {tmp / "upper", tmp / "work", true});
  REQUIRE(opened.ok());
  auto& ofs = *opened;
  auto e = ofs->Lookup(kRootNode, "big");
  REQUIRE(e.ok());
  REQUIRE(ofs->OpenData(e->node, /*write=*/true).ok());  // copies up

  struct stat st;
  REQUIRE(::stat((tmp / "upper/big").c_str(), &st) == 0);
  CHECK(st.st_size == kSize);
  CHECK(st.st_blocks * 512 < (4 << 20));  // 64 MiB dense before
  UniqueFd fd(::open((tmp / "upper/big").c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  char buf[8] = {};
  REQUIRE(::pread(fd.get(), buf, 4, 0) == 4);
  CHECK(std::string(buf, 4) == "head");
  REQUIRE(::pread(fd.get(), buf, 6, kMiddle) == 6);
  CHECK(std::string(buf, 6) == "middle");
  REQUIRE(::pread(fd.get(), buf, 8, kMiddle / 2) == 8);
  CHECK(std::string(buf, 8) == std::string(8, '\0'));
  REQUIRE(::pread(fd.get(), buf, 8, kSize - 8) == 8);
  CHECK(std::string(buf, 8) == std::string(8, '\0'));
}

TEST_CASE("copy-up leaves the times of the directories above it as they were", "[root]") {
  // As overlayfs: only a change the caller made shows in a directory's mtime.
  Fixture f;
  struct stat root_before, st;
  REQUIRE(::stat((f.tmp / "upper").c_str(), &root_before) == 0);
  const uint64_t dir = f.Node(kRootNode, "dir"), data = f.Node(dir, "data");
  AttrChange mode;
  mode.mask = AttrChange::kMode;
  mode.mode = 0600;
  REQUIRE(f.fs->SetAttr(data, mode, -1).ok());  // copies dir, then data, up
  REQUIRE(::stat((f.tmp / "upper/dir").c_str(), &st) == 0);
  CHECK(st.st_mtim.tv_sec == 1600000000);  // the lower directory's
  REQUIRE(::stat((f.tmp / "upper").c_str(), &st) == 0);
  CHECK(st.st_mtim.tv_sec == root_before.st_mtim.tv_sec);
  CHECK(st.st_mtim.tv_nsec == root_before.st_mtim.tv_nsec);

  // A new entry two levels down: the directory it lands in changes, the one above does not.
  const uint64_t deep = f.Node(kRootNode, "deep"), x = f.Node(deep, "x");
  REQUIRE(f.fs->Mknod(x, "new", S_IFREG | 0644, 0, {}).ok());
  REQUIRE(::stat((f.tmp / "upper/deep").c_str(), &st) == 0);
  CHECK(st.st_mtim.tv_sec == 1600000000);
  REQUIRE(::stat((f.tmp / "upper/deep/x").c_str(), &st) == 0);
  CHECK(st.st_mtim.tv_sec != 1600000000);
}

TEST_CASE("a lower directory looks like one block, as it will once copied up") {
  Fixture f;
  const uint64_t dir = f.Node(kRootNode, "dir");
  auto below = f.fs->GetAttr(dir);
  REQUIRE(below.ok());
  CHECK(below->st_size == 4096);
  CHECK(below->st_blocks == 8);
}

TEST_CASE("a reader opened below sees writes made after a copy-up", "[root]") {
  Fixture f;
  uint64_t data = f.Node(f.Node(kRootNode, "dir"), "data");
  auto reader = f.fs->OpenNode(data, O_RDONLY);
  REQUIRE(reader.ok());
  REQUIRE((*reader)->from_lower());
  auto writer = f.fs->OpenNode(data, O_WRONLY);
  REQUIRE(writer.ok());
  REQUIRE(::pwrite((*writer)->CurrentFd(), "UPPER", 5, 0) == 5);
  char buf[6] = {};
  REQUIRE(::pread((*reader)->CurrentFd(), buf, 5, 0) == 5);
  REQUIRE(std::string(buf) == "UPPER");
}

TEST_CASE("rename: NOREPLACE, EXCHANGE and the overlayfs refusals", "[root]") {
  Fixture f;
  uint64_t dir = f.Node(kRootNode, "dir");
  SECTION("noreplace refuses an existing target") {
    REQUIRE(f.fs->Rename(dir, "data", dir, "other", RENAME_NOREPLACE).ToErrno() == EEXIST);
    REQUIRE(f.fs->Rename(dir, "data", dir, "fresh", RENAME_NOREPLACE).ok());
    REQUIRE(f.fs->Lookup(dir, "data").status().ToErrno() == ENOENT);
    REQUIRE(f.Read(f.Node(dir, "fresh")) == "lower");
  }
  SECTION("exchange swaps two lower files") {
    uint64_t data = f.Node(dir, "data"), other = f.Node(dir, "other");
    REQUIRE(f.fs->Rename(dir, "data", dir, "other", RENAME_EXCHANGE).ok());
    REQUIRE(f.Node(dir, "other") == data);
    REQUIRE(f.Node(dir, "data") == other);
    REQUIRE(f.Read(data) == "lower");
    REQUIRE(f.fs->GetAttr(f.Node(dir, "data"))->st_size == 0);
  }
  SECTION("exchange needs both") {
    REQUIRE(f.fs->Rename(dir, "data", dir, "none", RENAME_EXCHANGE).ToErrno() == ENOENT);
  }
  SECTION("a directory with lower contents moves with a redirect; one made above moves plainly") {
    REQUIRE(f.fs->Rename(kRootNode, "sub", kRootNode, "sub2", 0).ok());
    REQUIRE(upper::ReadRedirect(f.tmp / "upper/sub2") == "sub");     // in its directory: the old name
    REQUIRE(f.fs->Lookup(f.Node(kRootNode, "sub2"), "inner").ok());  // the lower contents follow it
    REQUIRE(f.fs->Lookup(kRootNode, "sub").status().ToErrno() == ENOENT);
    REQUIRE(f.fs->Rename(kRootNode, "sub2", dir, "sub3", 0).ok());
    REQUIRE(upper::ReadRedirect(f.tmp / "upper/dir/sub3") == "/sub");  // elsewhere: the origin's path
    REQUIRE(f.fs->Mkdir(kRootNode, "made", 0755, {}).ok());
    REQUIRE(f.fs->Rename(kRootNode, "made", kRootNode, "moved", 0).ok());
    REQUIRE(f.fs->Rename(kRootNode, "moved", f.Node(kRootNode, "moved"), "x", 0).ToErrno() == EINVAL);
  }
  SECTION("type mismatches") {
    REQUIRE(f.fs->Rename(kRootNode, "sub", dir, "data", 0).ToErrno() == ENOTDIR);
    REQUIRE(f.fs->Mkdir(kRootNode, "d", 0755, {}).ok());
    REQUIRE(f.fs->Rename(kRootNode, "d", dir, "data", 0).ToErrno() == ENOTDIR);
    REQUIRE(f.fs->Rename(dir, "data", kRootNode, "d", 0).ToErrno() == EISDIR);
    REQUIRE(f.fs->Rename(dir, "data", kRootNode, "sub", 0).ToErrno() == EISDIR);
  }
}

TEST_CASE("names linked through the union are one node whichever of them goes first", "[root]") {
  // One node means one kernel inode: one set of attributes and one page cache
  // for every name, so a write or an unlink through one name shows in the others.
  Fixture f;
  const uint64_t dir = f.Node(kRootNode, "dir"), sub = f.Node(kRootNode, "sub");
  auto made = f.fs->Create(dir, "a", 0644, O_RDWR, {});
  REQUIRE(made.ok());
  const uint64_t a = made->first.node;
  auto b = f.fs->Link(a, dir, "b");
  auto c = f.fs->Link(a, sub, "c");
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(b->node == a);
  CHECK(c->node == a);
  CHECK(c->attr.st_nlink == 3);
  auto looked = f.fs->Lookup(sub, "c");
  REQUIRE(looked.ok());
  CHECK(looked->node == a);

  // The node's own name goes first: another takes its place.
  REQUIRE(f.fs->Unlink(dir, "a").ok());
  auto st = f.fs->GetAttr(a);
  REQUIRE(st.ok());
  CHECK(st->st_nlink == 2);
  CHECK(f.fs->Lookup(dir, "a").status().ToErrno() == ENOENT);
  // Renames of either kind of name, and an exchange with another file.
  REQUIRE(f.fs->Rename(sub, "c", dir, "c2", 0).ok());
  REQUIRE(f.fs->Rename(dir, "b", sub, "b2", 0).ok());
  REQUIRE(f.fs->Rename(sub, "b2", sub, "inner", RENAME_EXCHANGE).ok());
  auto moved = f.fs->Lookup(sub, "inner");
  REQUIRE(moved.ok());
  CHECK(moved->node == a);
  auto swapped = f.fs->Lookup(sub, "b2");
  REQUIRE(swapped.ok());
  CHECK(swapped->node != a);
  CHECK(fs::is_regular_file(f.tmp / "upper/dir/c2"));
  CHECK(fs::is_regular_file(f.tmp / "upper/sub/inner"));
  // Renaming one name over another of the same node does nothing.
  REQUIRE(f.fs->Rename(dir, "c2", sub, "inner", 0).ok());
  CHECK(fs::is_regular_file(f.tmp / "upper/dir/c2"));

  // The last names go; the node lives while the kernel holds it, then goes.
  REQUIRE(f.fs->Unlink(sub, "inner").ok());
  REQUIRE(f.fs->Unlink(dir, "c2").ok());
  st = f.fs->GetAttr(a);
  REQUIRE(st.ok());  // still open, say: kept as an orphan
  CHECK(st->st_nlink == 0);
  f.fs->Forget(a, 1 + 2 + 1 + 1);  // create, two links, two lookups... all the kernel had
  CHECK(f.fs->GetAttr(a).status().ToErrno() == ESTALE);
  CHECK(fs::is_empty(f.tmp / "work"));
}

TEST_CASE("names of one upper file found by lookup are one node too") {
  // An upper directory that already holds hardlinks (a container started again).
  Fixture f;
  fs::create_directories(f.tmp / "upper/sub");
  WriteBytes(f.tmp / "upper/sub/one", "data");
  REQUIRE(::link((f.tmp / "upper/sub/one").c_str(), (f.tmp / "upper/sub/two").c_str()) == 0);
  REQUIRE(::link((f.tmp / "upper/sub/one").c_str(), (f.tmp / "upper/three").c_str()) == 0);
  const uint64_t sub = f.Node(kRootNode, "sub");
  const uint64_t one = f.Node(sub, "one");
  CHECK(f.Node(sub, "two") == one);
  CHECK(f.Node(kRootNode, "three") == one);
  REQUIRE(f.fs->Unlink(sub, "one").ok());
  auto st = f.fs->GetAttr(one);
  REQUIRE(st.ok());
  CHECK(st->st_nlink == 2);
  CHECK(f.Read(one) == "data");
  // Once every name is gone, a new file with the same upper inode number is a new node.
  REQUIRE(f.fs->Unlink(sub, "two").ok());
  REQUIRE(f.fs->Unlink(kRootNode, "three").ok());
  f.fs->Forget(one, 3);
  WriteBytes(f.tmp / "upper/sub/again", "new");
  REQUIRE(::link((f.tmp / "upper/sub/again").c_str(), (f.tmp / "upper/sub/again2").c_str()) == 0);
  const uint64_t again = f.Node(sub, "again");
  CHECK(again != one);
  CHECK(f.Read(again) == "new");
}

TEST_CASE("new entries and renames take a whiteout's place, leaving nothing in the work directory",
          "[root]") {
  Fixture f;
  const uint64_t dir = f.Node(kRootNode, "dir");
  auto is_whiteout = [&](const std::string& rel) {
    struct stat st;
    return ::lstat((f.tmp / rel).c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0;
  };
  REQUIRE(f.fs->Unlink(dir, "data").ok());
  REQUIRE(f.fs->Unlink(dir, "other").ok());
  REQUIRE(is_whiteout("upper/dir/data"));
  auto made = f.fs->Mkdir(dir, "data", 0755, {});  // swapped with the whiteout, opaque
  REQUIRE(made.ok());
  CHECK(fs::is_directory(f.tmp / "upper/dir/data"));
  CHECK((*f.fs->ReadDir(made->node))->empty());
  // A rename onto a whited-out name: the whiteout moves to the old name, which
  // needs one (sub/inner is a lower file).
  const uint64_t sub = f.Node(kRootNode, "sub");
  REQUIRE(f.fs->Rename(sub, "inner", dir, "other", 0).ok());
  CHECK(fs::is_regular_file(f.tmp / "upper/dir/other"));
  CHECK(is_whiteout("upper/sub/inner"));
  // An upper-only file renamed onto a whiteout leaves nothing at its old name.
  REQUIRE(f.fs->Rmdir(dir, "data").ok());
  REQUIRE(is_whiteout("upper/dir/data"));
  auto fresh = f.fs->Create(sub, "fresh", 0644, O_RDWR, {});
  REQUIRE(fresh.ok());
  REQUIRE(f.fs->Rename(sub, "fresh", dir, "data", 0).ok());
  CHECK(fs::is_regular_file(f.tmp / "upper/dir/data"));
  CHECK(!fs::exists(fs::symlink_status(f.tmp / "upper/sub/fresh")));
  CHECK(fs::is_empty(f.tmp / "work"));
}

TEST_CASE("renaming one name of a file over another of the same file leaves both", "[root]") {
  // POSIX: rename(2) does nothing then. The old name here is also a lower
  // entry, which a real rename would whiteout.
  Fixture f;
  const uint64_t dir = f.Node(kRootNode, "dir"), data = f.Node(dir, "data");
  REQUIRE(f.fs->Link(data, dir, "again").ok());  // copies data up first
  REQUIRE(f.fs->Rename(dir, "data", dir, "again", 0).ok());
  struct stat st;
  REQUIRE(::lstat((f.tmp / "upper/dir/data").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));  // not a whiteout
  CHECK(st.st_nlink == 2);
  auto old_name = f.fs->Lookup(dir, "data");
  REQUIRE(old_name.ok());
  CHECK(f.Read(old_name->node) == "lower");
  auto listing = f.fs->ReadDir(dir);
  REQUIRE(listing.ok());
  std::set<std::string> names;
  for (const auto& c : **listing) names.insert(c.name);
  CHECK(names == std::set<std::string>{"again", "data", "other"});
}

TEST_CASE("removing leaves whiteouts; a directory made again is opaque", "[root]") {
  Fixture f;
  REQUIRE(f.fs->Rmdir(kRootNode, "sub").ToErrno() == ENOTEMPTY);
  uint64_t sub = f.Node(kRootNode, "sub");
  REQUIRE(f.fs->Unlink(sub, "inner").ok());
  REQUIRE(f.fs->Rmdir(kRootNode, "sub").ok());
  struct stat st;
  REQUIRE(::lstat((f.tmp / "upper/sub").c_str(), &st) == 0);
  REQUIRE((S_ISCHR(st.st_mode) && st.st_rdev == 0));
  REQUIRE(f.fs->Lookup(kRootNode, "sub").status().ToErrno() == ENOENT);
  REQUIRE(f.fs->Mkdir(kRootNode, "sub", 0700, {}).ok());
  char v[2] = {};
  REQUIRE(::lgetxattr((f.tmp / "upper/sub").c_str(), "trusted.overlay.opaque", v, 1) == 1);
  REQUIRE(v[0] == 'y');
  REQUIRE((*f.fs->ReadDir(f.Node(kRootNode, "sub")))->empty());
}

// Found by the concurrent fuzzer: without the mark the new directory merged
// with the lower `sub` once remounted, and kernel overlayfs, finding two
// upper directories for one lower one, answered ESTALE.
TEST_CASE("a new directory exchanged onto a lower directory's name hides it, as a move does", "[root]") {
  Fixture f;
  uint64_t dir = f.Node(kRootNode, "dir");
  REQUIRE(f.fs->Mkdir(dir, "fresh", 0755, {}).ok());
  REQUIRE(f.fs->Rename(kRootNode, "sub", dir, "fresh", RENAME_EXCHANGE).ok());
  char v[2] = {};
  REQUIRE(::lgetxattr((f.tmp / "upper/sub").c_str(), "trusted.overlay.opaque", v, 1) == 1);
  CHECK(v[0] == 'y');
  CHECK(::lgetxattr((f.tmp / "upper/dir/fresh").c_str(), "trusted.overlay.opaque", v, 1) < 0);
  CHECK((*f.fs->ReadDir(f.Node(kRootNode, "sub")))->empty());
  auto moved = f.fs->ReadDir(f.Node(dir, "fresh"));
  REQUIRE(moved.ok());
  REQUIRE((*moved)->size() == 1);
  CHECK((*moved)->front().name == "inner");
}

TEST_CASE("a read-only union refuses every change with EROFS") {
  Fixture f(/*writable=*/false);
  uint64_t dir = f.Node(kRootNode, "dir"), data = f.Node(dir, "data");
  REQUIRE(f.fs->OpenNode(data, O_WRONLY).status().ToErrno() == EROFS);
  REQUIRE(f.fs->Mkdir(kRootNode, "x", 0755, {}).status().ToErrno() == EROFS);
  REQUIRE(f.fs->Unlink(dir, "data").ToErrno() == EROFS);
  REQUIRE(f.fs->Rename(dir, "data", dir, "y", 0).ToErrno() == EROFS);
  REQUIRE(f.fs->SetXattr(data, "user.x", "1", 0).ToErrno() == EROFS);
  REQUIRE(f.Read(data) == "lower");
}

namespace {

std::vector<std::string> WorkFiles(const Fixture& f) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(f.tmp / "work")) names.push_back(e.path().filename());
  return names;
}

}  // namespace

TEST_CASE("OpenData reads below, copies up on write, and gives -1 for an empty lower file", "[root]") {
  Fixture f;
  uint64_t dir = f.Node(kRootNode, "dir"), data = f.Node(dir, "data");
  REQUIRE(ReadData(*f.fs, data) == "lower");
  REQUIRE_FALSE(fs::exists(f.tmp / "upper/dir/data"));
  auto empty = f.fs->OpenData(f.Node(dir, "other"), false);
  REQUIRE(empty.ok());
  REQUIRE((*empty)->get() == -1);
  WriteData(*f.fs, data, "UP", 0);
  REQUIRE(fs::exists(f.tmp / "upper/dir/data"));
  REQUIRE(ReadData(*f.fs, data) == "UPwer");
  REQUIRE(f.fs->OpenData(dir, false).status().ToErrno() == EISDIR);
  Fixture ro(/*writable=*/false);
  uint64_t ro_data = ro.Node(ro.Node(kRootNode, "dir"), "data");
  REQUIRE(ro.fs->OpenData(ro_data, true).status().ToErrno() == EROFS);
}

TEST_CASE("a file removed while referenced keeps its data until forgotten", "[root]") {
  Fixture f;
  uint64_t dir = f.Node(kRootNode, "dir");
  SECTION("an upper file: its data moves to the work directory, then goes") {
    auto made = f.fs->Create(dir, "tmp", 0600, O_RDWR, {});
    REQUIRE(made.ok());
    uint64_t node = made->first.node;
    WriteData(*f.fs, node, "kept", 0);
    REQUIRE(f.fs->Unlink(dir, "tmp").ok());
    REQUIRE_FALSE(fs::exists(f.tmp / "upper/dir/tmp"));
    REQUIRE(ReadData(*f.fs, node) == "kept");
    WriteData(*f.fs, node, "KE", 0);
    REQUIRE(ReadData(*f.fs, node) == "KEpt");
    auto st = f.fs->GetAttr(node);
    REQUIRE(st.ok());
    REQUIRE(st->st_nlink == 0);
    REQUIRE(st->st_size == 4);
    REQUIRE(f.fs->Fsync(node, false).ok());
    REQUIRE(WorkFiles(f).size() == 1);
    f.fs->Forget(node, 1);
    REQUIRE(WorkFiles(f).empty());
  }
  SECTION("a lower file: a first write after the unlink copies it aside") {
    uint64_t data = f.Node(dir, "data");
    REQUIRE(f.fs->Unlink(dir, "data").ok());
    REQUIRE(ReadData(*f.fs, data) == "lower");
    REQUIRE(f.fs->GetAttr(data)->st_nlink == 0);
    WriteData(*f.fs, data, "L", 0);
    REQUIRE(ReadData(*f.fs, data) == "Lower");
    REQUIRE(f.fs->Lookup(dir, "data").status().ToErrno() == ENOENT);
    f.fs->Forget(data, 1);
    REQUIRE(WorkFiles(f).empty());
  }
  SECTION("a file replaced by a rename") {
    auto made = f.fs->Create(dir, "old", 0600, O_RDWR, {});
    REQUIRE(made.ok());
    WriteData(*f.fs, made->first.node, "old data", 0);
    REQUIRE(f.fs->Create(dir, "new", 0600, O_RDWR, {}).ok());
    REQUIRE(f.fs->Rename(dir, "new", dir, "old", 0).ok());
    REQUIRE(ReadData(*f.fs, made->first.node) == "old data");
    REQUIRE(ReadData(*f.fs, f.Node(dir, "old")).empty());
  }
  SECTION("leftovers of a crash are cleared when the union opens again") {
    REQUIRE(f.fs->Create(dir, "tmp", 0600, O_RDWR, {}).ok());
    REQUIRE(f.fs->Unlink(dir, "tmp").ok());
    REQUIRE(WorkFiles(f).size() == 1);
    OverlayOptions options{f.tmp / "upper", f.tmp / "work", true};
    auto view = UnionView::FromDirectories({f.tmp / "blobs"});
    REQUIRE(view.ok());
    auto again = OverlayFs::Open(std::move(view).value(), options);
    REQUIRE(again.ok());
    REQUIRE(WorkFiles(f).empty());
  }
}

TEST_CASE("a listing is shared until its directory changes, and cookies resume in place", "[root]") {
  Fixture f;
  uint64_t dir = f.Node(kRootNode, "dir");
  for (int i = 0; i < 50; ++i) {
    std::string name = std::to_string(i);
    name.insert(name.begin(), 'f');
    REQUIRE(f.fs->Create(dir, name, 0644, O_RDWR, {}).ok());
  }
  auto first = f.fs->ReadDir(dir);
  REQUIRE(first.ok());
  REQUIRE((*first)->size() == 52);
  REQUIRE(f.fs->ReadDir(dir)->get() == first->get());  // unchanged: the same listing
  std::set<uint64_t> cookies;
  for (const auto& c : **first) {
    REQUIRE(c.cookie >= 3);
    REQUIRE(c.cookie <= static_cast<uint64_t>(INT64_MAX));
    cookies.insert(c.cookie);
  }
  REQUIRE(cookies.size() == 52);
  REQUIRE(std::is_sorted((*first)->begin(), (*first)->end(),
                         [](const auto& a, const auto& b) { return a.cookie < b.cookie; }));
  // Read half, remove what was read and add a name: the rest follows the last cookie sent.
  const auto& all = **first;
  uint64_t resume = all[25].cookie;
  for (size_t i = 0; i <= 25; ++i) {
    if (all[i].name.starts_with("f")) REQUIRE(f.fs->Unlink(dir, all[i].name).ok());
  }
  REQUIRE(f.fs->Create(dir, "late", 0644, O_RDWR, {}).ok());
  auto second = f.fs->ReadDir(dir);
  REQUIRE(second->get() != first->get());
  std::set<std::string> rest_before, rest_after;
  for (size_t i = 26; i < all.size(); ++i) rest_before.insert(all[i].name);
  for (const auto& c : **second) {
    if (c.cookie > resume && c.name != "late") rest_after.insert(c.name);
  }
  REQUIRE(rest_after == rest_before);  // none skipped, none repeated
}

TEST_CASE("FdCache keeps recent descriptors, drops stale sides and the least recent") {
  FdCache cache(2);
  auto a = std::make_shared<const DataFd>(-1), b = std::make_shared<const DataFd>(-1);
  cache.Put(1, /*above=*/false, /*writable=*/false, a);
  REQUIRE(cache.Find(1, false, false) == a);
  REQUIRE(cache.Find(1, true, false) == nullptr);  // copied up since: stale
  REQUIRE(cache.Find(1, false, true) == nullptr);  // not writable
  cache.Put(2, true, true, b);
  REQUIRE(cache.Find(2, true, false) == b);   // a writable one serves reads too
  REQUIRE(cache.Find(1, false, false) == a);  // 1 is now the most recent
  cache.Put(3, true, true, std::make_shared<const DataFd>(-1));
  REQUIRE(cache.Find(2, true, false) == nullptr);  // the least recent went
  REQUIRE(cache.Find(1, false, false) == a);
  cache.Erase(1);
  REQUIRE(cache.Find(1, false, false) == nullptr);
}

TEST_CASE("requests on one file share its descriptor until it is copied up", "[root]") {
  Fixture f;
  uint64_t data = f.Node(f.Node(kRootNode, "dir"), "data");
  auto first = f.fs->OpenData(data, false);
  auto second = f.fs->OpenData(data, false);
  REQUIRE(first->get() == second->get());
  auto writer = f.fs->OpenData(data, true);
  REQUIRE(writer->get() != first->get());
  REQUIRE(f.fs->OpenData(data, false)->get() == writer->get());
}

TEST_CASE("an unnamed file (O_TMPFILE) lives in the work directory until Link names it", "[root]") {
  Fixture f;
  uint64_t dir = f.Node(kRootNode, "dir");
  auto made = f.fs->CreateUnnamed(dir, 0640, {1000, 100});
  REQUIRE(made.ok());
  REQUIRE(made->attr.st_nlink == 1);  // the kernel takes it to 0 itself
  REQUIRE(made->attr.st_uid == 1000);
  WriteData(*f.fs, made->node, "tmp", 0);
  REQUIRE(WorkFiles(f).size() == 1);
  REQUIRE(f.fs->GetAttr(made->node)->st_nlink == 0);
  auto named = f.fs->Link(made->node, dir, "named");
  REQUIRE(named.ok());
  REQUIRE(named->node == made->node);  // the same inode for the kernel
  REQUIRE(named->attr.st_nlink == 1);
  REQUIRE(WorkFiles(f).empty());
  REQUIRE(ReadData(*f.fs, f.Node(dir, "named")) == "tmp");
  Fixture ro(/*writable=*/false);
  REQUIRE(ro.fs->CreateUnnamed(kRootNode, 0600, {}).status().ToErrno() == EROFS);
}

TEST_CASE("kKillSuidgid clears set-id bits as a write by an unprivileged caller does", "[root]") {
  Fixture f;
  auto kill_from = [&](const char* name, mode_t mode, uint32_t also, bool in_group = true) {
    auto made = f.fs->Create(kRootNode, name, mode, O_RDWR, {});
    REQUIRE(made.ok());
    AttrChange change;
    change.mask = AttrChange::kKillSuidgid | also;
    change.mode = mode;  // with kMode: the mode asked for wins
    change.caller_in_group = [in_group](uint32_t gid) { return gid == 0 && in_group; };
    REQUIRE(f.fs->SetAttr(made->first.node, change, -1).ok());
    struct stat st;
    REQUIRE(::lstat((f.tmp / "upper/" + name).c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  CHECK(kill_from("suid", 04755, 0) == 0755);
  CHECK(kill_from("both-gx", 06775, 0) == 0775);
  CHECK(kill_from("sgid-no-gx", 02745, 0) == 02745);  // the caller is in the file's group
  CHECK(kill_from("sgid-no-gx-other", 02745, 0, /*in_group=*/false) == 0745);
  CHECK(kill_from("plain", 0640, 0) == 0640);
  CHECK(kill_from("with-mode", 04755, AttrChange::kMode) == 04755);
  // A caller with CAP_FSETID keeps them; one asked only of a set-id file.
  int asked = 0;
  auto kill_as = [&](const char* name, mode_t mode, bool has_fsetid) {
    auto made = f.fs->Create(kRootNode, name, mode, O_RDWR, {});
    REQUIRE(made.ok());
    AttrChange change;
    change.mask = AttrChange::kKillSuidgid;
    change.caller_has_fsetid = [&asked, has_fsetid] { return ++asked, has_fsetid; };
    auto st = f.fs->SetAttr(made->first.node, change, -1);
    REQUIRE(st.ok());
    return st->st_mode & 07777;
  };
  CHECK(kill_as("fsetid", 06755, true) == 06755);
  CHECK(kill_as("no-fsetid", 06755, false) == 0755);
  CHECK(asked == 2);
  CHECK(kill_as("plain-fsetid", 0755, false) == 0755);
  CHECK(asked == 2);
  // A lower file is copied up first, its data kept.
  const uint64_t data = f.Node(f.Node(kRootNode, "dir"), "data");
  AttrChange suid;
  suid.mask = AttrChange::kMode;
  suid.mode = 04711;
  REQUIRE(f.fs->SetAttr(data, suid, -1).ok());
  AttrChange kill;
  kill.mask = AttrChange::kKillSuidgid;
  auto st = f.fs->SetAttr(data, kill, -1);
  REQUIRE(st.ok());
  CHECK((st->st_mode & 07777) == 0711);
  CHECK(ReadData(*f.fs, data) == "lower");
}

TEST_CASE("new entries get the mode asked for: not this process's umask, setuid kept", "[root]") {
  struct UmaskFor {  // the daemon's umask must not matter
    mode_t saved = ::umask(077);
    ~UmaskFor() { ::umask(saved); }
  } umask_077;
  Fixture f;  // opened under it
  auto mode_of = [&](const char* rel) {
    struct stat st;
    REQUIRE(::lstat((f.tmp / "upper" + "/" + rel).c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  REQUIRE(f.fs->Mkdir(kRootNode, "open", 0777, {}).ok());
  CHECK(mode_of("open") == 0777);
  REQUIRE(f.fs->Create(kRootNode, "f", 0620, O_RDWR, {}).ok());
  CHECK(mode_of("f") == 0620);
  REQUIRE(f.fs->Create(kRootNode, "suid", 04777, O_RDWR, {1000, 100}).ok());
  CHECK(mode_of("suid") == 04777);  // the chown to the caller did not take it
  REQUIRE(f.fs->Mkdir(kRootNode, "sticky", 01777, {}).ok());
  CHECK(mode_of("sticky") == 01777);
  REQUIRE(f.fs->Mknod(kRootNode, "fifo", S_IFIFO | 0666, 0, {}).ok());
  CHECK(mode_of("fifo") == 0666);
  // A setgid directory hands on its group, and its setgid bit to new directories.
  auto shared = f.fs->Mkdir(kRootNode, "shared", 02775, {0, 1234});
  REQUIRE(shared.ok());
  CHECK(mode_of("shared") == 02775);
  REQUIRE(f.fs->Mkdir(shared->node, "sub", 0755, {1000, 100}).ok());
  REQUIRE(f.fs->Create(shared->node, "file", 0644, O_RDWR, {1000, 100}).ok());
  struct stat sub, file;
  REQUIRE(::lstat((f.tmp / "upper/shared/sub").c_str(), &sub) == 0);
  REQUIRE(::lstat((f.tmp / "upper/shared/file").c_str(), &file) == 0);
  CHECK(sub.st_gid == 1234);
  CHECK((sub.st_mode & 07777) == 02755);
  CHECK(file.st_gid == 1234);
  CHECK((file.st_mode & 07777) == 0644);
}

TEST_CASE("layers with moved directories merge as overlayfs follows redirects") {
  // Layer 0: a/f, a/s/g, b/. Layer 1 moved a to b/c (absolute redirect), and
  // a/s to b/c/t (relative, inside the moved one), and deleted a/f there.
  auto dir = [](std::string path, std::string redirect = "") {
    Entry e = E(std::move(path), EntryType::kDirectory, 0755);
    e.redirect = std::move(redirect);
    return e;
  };
  Entry whiteout = E("a");
  whiteout.type = EntryType::kWhiteout;
  Entry gone = E("b/c/f"), moved_out = E("b/c/s");
  gone.type = moved_out.type = EntryType::kWhiteout;
  LayerIndex bottom{{dir(""), dir("a"), E("a/f"), dir("a/s"), E("a/s/g"), dir("b")}};
  LayerIndex top{
      {dir(""), whiteout, dir("b"), dir("b/c", "/a"), gone, E("b/c/new"), moved_out, dir("b/c/t", "s")}};
  MergedTree tree;
  tree.Apply(0, bottom);
  tree.Apply(1, top);
  std::vector<std::string> paths;
  for (const auto& [path, ref] : tree.entries()) paths.emplace_back(path);
  CHECK(paths == std::vector<std::string>{"", "b", "b/c", "b/c/new", "b/c/t", "b/c/t/g"});

  // Flattened for the store: the moved directory whole and opaque, no redirects left.
  LayerIndex flat = FlattenRedirects({bottom}, top);
  std::vector<std::string> flat_paths;
  for (const Entry& e : flat.entries) {
    flat_paths.push_back(e.path);
    CHECK(e.redirect.empty());
  }
  CHECK(flat_paths == std::vector<std::string>{"", "a", "b", "b/c", "b/c/new", "b/c/t", "b/c/t/g"});
  CHECK(flat.Find("b/c")->opaque);
  CHECK(flat.Find("a")->type == EntryType::kWhiteout);
}
