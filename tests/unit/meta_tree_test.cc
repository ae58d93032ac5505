#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "strata/store.h"
#include "test_util.h"
#include "util/file_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

namespace {

std::string XattrOf(const std::string& path, const char* name) {
  char value[512];
  ssize_t n = ::lgetxattr(path.c_str(), name, value, sizeof value);
  return n < 0 ? "<none>" : std::string(value, static_cast<size_t>(n));
}

}  // namespace

TEST_CASE("a chain's metadata tree: the merged entries with their metadata, files pointing at blobs",
          "[root]") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  TarSpec tool = File("bin/tool", "tool bytes", 04755);
  tool.uid = 1000;
  tool.gid = 1001;
  tool.mtime = 1600000000;
  tool.mtime_nsec = 123456789;
  tool.xattrs = {{"user.note", "hello"}};
  TarSpec mail = Dir("var/mail/", 02775);
  mail.gid = 8;
  TarSpec chr = Device("dev/null", Kind::kChar, 1, 3);
  WriteTar(tmp / "base.tar", {Dir("bin/"), tool, Hardlink("bin/tool2", "bin/tool"), Symlink("bin/sh", "tool"),
                              File("etc/gone", "old"), File("etc/empty", ""), Dir("var/"), mail,
                              File("var/mail/box", "mail"), Dir("dev/"), chr});
  REQUIRE(store->ImportTar(tmp / "base.tar", {.ref = "base"}).ok());
  WriteTar(tmp / "top.tar", {Dir("etc/"), File("etc/.wh.gone", ""), File("etc/new", "tool bytes")});
  auto imported = store->ImportTar(tmp / "top.tar", {.from = "base", .ref = "top"});
  REQUIRE(imported.ok());
  const Image top = *imported;

  auto made = store->MetaTree(top.layers.back());
  REQUIRE(made.ok());
  const std::string meta = *made;
  CHECK(meta == store->MetaTreePath(top.layers.back()));
  CHECK_FALSE(fs::exists(meta + "/etc/gone"));  // the whiteout applied

  struct stat st;
  REQUIRE(::lstat((meta + "/bin/tool").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 04755);
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 1001);
  CHECK(st.st_size == 10);
  {  // no data: it is in the blob (a hole all along)
    UniqueFd fd(::open((meta + "/bin/tool").c_str(), O_RDONLY | O_CLOEXEC));
    CHECK((::lseek(fd.get(), 0, SEEK_DATA) < 0 && errno == ENXIO));
  }
  CHECK(st.st_nlink == 2);  // bin/tool2 is the same inode
  CHECK(st.st_mtim.tv_sec == 1600000000);
  CHECK(st.st_mtim.tv_nsec == 123456789);
  CHECK(XattrOf(meta + "/bin/tool", "user.note") == "hello");
  CHECK(XattrOf(meta + "/bin/tool", "trusted.overlay.metacopy").empty());
  // The redirect names the blob, below the blob directory (the data-only layer).
  const std::string redirect = XattrOf(meta + "/bin/tool", "trusted.overlay.redirect");
  REQUIRE(redirect.size() > 1);
  CHECK(ReadBytes(store->BlobDir() + redirect) == "tool bytes");
  // The same bytes in another layer: the same blob.
  CHECK(XattrOf(meta + "/etc/new", "trusted.overlay.redirect") == redirect);
  // The marks fit in the inode (ext4's 256-byte inodes here): no block at all.
  CHECK(redirect.size() == 23);
  REQUIRE(::lstat((meta + "/etc/new").c_str(), &st) == 0);
  CHECK(st.st_blocks == 0);
  // An empty file has nothing to point at.
  CHECK(XattrOf(meta + "/etc/empty", "trusted.overlay.metacopy") == "<none>");
  REQUIRE(::lstat((meta + "/bin/sh").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  REQUIRE(::lstat((meta + "/dev/null").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(st.st_rdev == makedev(1, 3));
  CHECK((st.st_mode & 07777) == 0666);
  // A setgid directory: its bits, and its files keep their own group.
  REQUIRE(::lstat((meta + "/var/mail").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 02775);
  CHECK(st.st_gid == 8);
  REQUIRE(::lstat((meta + "/var/mail/box").c_str(), &st) == 0);
  CHECK(st.st_gid == 0);

  // Written once: a second call returns it as it is.
  REQUIRE(::lstat(meta.c_str(), &st) == 0);
  const ino_t ino = st.st_ino;
  auto again = store->MetaTree(top.layers.back());
  REQUIRE(again.ok());
  CHECK(*again == meta);
  REQUIRE(::lstat(meta.c_str(), &st) == 0);
  CHECK(st.st_ino == ino);
  // Gone with its layer; nothing left for prune.
  REQUIRE(store->RemoveImage("top").ok());
  CHECK_FALSE(fs::exists(meta));
  auto leftovers = store->FindLeftovers();
  REQUIRE(leftovers.ok());
  CHECK(leftovers->paths.empty());
}

TEST_CASE("a small image's tree gets a data directory of its own blobs; a big one's reads blobs/", "[root]") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  std::vector<TarSpec> many;
  for (int i = 0; i < 1500; ++i) many.push_back(File("f" + std::to_string(i), "bytes " + std::to_string(i)));
  WriteTar(tmp / "big.tar", many);
  auto big = store->ImportTar(tmp / "big.tar", {.ref = "big"});
  REQUIRE(big.ok());
  WriteTar(tmp / "small.tar", {File("own", "only here"), File("shared", "bytes 7")});
  auto small = store->ImportTar(tmp / "small.tar", {.ref = "small"});
  REQUIRE(small.ok());
  const std::string big_top = big->layers.back(), small_top = small->layers.back();

  REQUIRE(store->MetaTree(big_top).ok());
  CHECK(store->MetaTreeDataDir(big_top) == store->BlobDir());  // 1,500 names: blobs/ is no bigger

  // A leftover of a crash between the two renames is replaced.
  const std::string own = store->MetaTreePath(small_top) + ".data";
  fs::create_directories(own + "/stale");
  auto meta = store->MetaTree(small_top);
  REQUIRE(meta.ok());
  struct statfs sfs;
  REQUIRE(::statfs(tmp.path().c_str(), &sfs) == 0);
  if (sfs.f_type == TMPFS_MAGIC) {  // nothing is read cold on tmpfs: never worth it
    CHECK(store->MetaTreeDataDir(small_top) == store->BlobDir());
    return;
  }
  REQUIRE(store->MetaTreeDataDir(small_top) == own);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(own)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  std::vector<std::string> want;
  for (const char* file : {"/own", "/shared"}) {
    const std::string redirect = XattrOf(*meta + file, "trusted.overlay.redirect");
    want.push_back(redirect.substr(1));
    struct stat in_own, in_blobs;  // the same inode: one copy, one page cache
    REQUIRE(::stat((own + redirect).c_str(), &in_own) == 0);
    REQUIRE(::stat((store->BlobDir() + redirect).c_str(), &in_blobs) == 0);
    CHECK(in_own.st_ino == in_blobs.st_ino);
    CHECK(ReadBytes(own + redirect) == ReadBytes(store->BlobDir() + redirect));
  }
  std::sort(want.begin(), want.end());
  CHECK(names == want);  // its two blobs, nothing else (the stale entry is gone)
  auto leftovers = store->FindLeftovers();
  REQUIRE(leftovers.ok());
  CHECK(leftovers->paths.empty());
  REQUIRE(store->RemoveImage("small").ok());
  CHECK_FALSE(fs::exists(own));
  CHECK_FALSE(fs::exists(*meta));

  // One whose layer is gone, or a dead writer's temporary, is a leftover, and removing it
  // frees no bytes (its files are links of blobs).
  const std::string blob = store->BlobPath(store->Hash("bytes 7"));
  for (const std::string stray : {"meta/00112233445566778899aabbccddeeff.data", "meta/.tmp-0123abcd.data"}) {
    const fs::path stray_dir = fs::path(tmp / "store") / stray;
    fs::create_directories(stray_dir);
    fs::create_hard_link(blob, stray_dir / "b");
    leftovers = store->FindLeftovers();
    REQUIRE(leftovers.ok());
    CHECK(leftovers->paths == std::vector<std::string>{stray});
    CHECK(leftovers->bytes == 0);
    REQUIRE(store->RemoveLeftovers().ok());
    CHECK_FALSE(fs::exists(stray_dir));
    CHECK(ReadBytes(blob) == "bytes 7");
  }

  // A blob gone from the store (damage): a clear error, and nothing left in meta/.
  WriteTar(tmp / "lost.tar", {File("lost", "lost bytes")});
  auto lost = store->ImportTar(tmp / "lost.tar", {.ref = "lost"});
  REQUIRE(lost.ok());
  REQUIRE(::unlink(store->BlobPath(store->Hash("lost bytes")).c_str()) == 0);
  auto failed = store->MetaTree(lost->layers.back());
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.status().message(), Catch::Contains("is missing"));
  std::vector<std::string> in_meta;
  for (const auto& e : fs::directory_iterator(fs::path(tmp / "store") / "meta"))
    in_meta.push_back(e.path().filename());
  std::sort(in_meta.begin(), in_meta.end());
  CHECK(in_meta == std::vector<std::string>{big_top});
}
