// OverlayFs under concurrent requests: what the FUSE daemon's worker threads
// do to one union at once. A lock regression hangs here rather than fails
// (ctest's timeout ends it).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <map>
#include <thread>

#include "overlay_fixture.h"
#include "strata/overlay_fs.h"
#include "test_util.h"
#include "util/file_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

TEST_CASE("lookups racing with changes in one directory find what is there in the end", "[root]") {
  // Lookups look on disk without the lock; a change meanwhile must make them
  // look again, or a removed lower file (data) could come back in the table.
  Fixture f;
  uint64_t dir = f.Node(kRootNode, "dir");
  const std::vector<std::string> names = {"data", "n0", "n1", "n2", "n3"};
  std::map<std::string, off_t> expected = {{"data", 5}};  // the writer's view: name -> size
  std::atomic<bool> done = false;
  auto look = [&] {
    for (size_t i = 0; !done; ++i) {
      auto e = f.fs->Lookup(dir, names[i % names.size()]);
      if (e.ok()) f.fs->Forget(e->node, 1);
    }
  };
  std::thread a(look), b(look);
  for (int k = 0; k < 5000; ++k) {
    const std::string& name = names[static_cast<size_t>(k * 7 + k / 5) % names.size()];
    if (expected.count(name)) {
      REQUIRE(f.fs->Unlink(dir, name).ok());
      expected.erase(name);
    } else {
      auto made = f.fs->Create(dir, name, 0644, O_RDWR, {});
      REQUIRE(made.ok());
      const off_t size = 1 + k % 4;
      WriteData(*f.fs, made->first.node, std::string(static_cast<size_t>(size), 'x'), 0);
      f.fs->Forget(made->first.node, 1);
      expected[name] = size;
    }
  }
  done = true;
  a.join();
  b.join();
  for (const auto& name : names) {
    auto e = f.fs->Lookup(dir, name);
    if (!expected.count(name)) {
      CHECK(e.status().ToErrno() == ENOENT);
      continue;
    }
    REQUIRE(e.ok());
    CHECK(e->attr.st_size == expected[name]);
  }
}

TEST_CASE("creates in several directories at once, below lower directories not yet copied up", "[root]") {
  // Rounds on fresh unions: each round's first creates in x and y race to copy deep up.
  for (int round = 0; round < 20; ++round) {
    Fixture f;
    const uint64_t dir = f.Node(kRootNode, "dir"), deep = f.Node(kRootNode, "deep");
    const uint64_t x = f.Node(deep, "x"), y = f.Node(deep, "y");
    std::atomic<int> failures = 0;
    std::latch start(4);
    auto create = [&](uint64_t parent, std::string prefix) {
      start.arrive_and_wait();
      for (int i = 0; i < 60; ++i) {
        const std::string name = prefix + std::to_string(i);
        auto made = i % 3 == 0   ? f.fs->Mkdir(parent, name, 0755, {})
                    : i % 3 == 1 ? f.fs->Symlink(parent, name, "target", {})
                                 : f.fs->Mknod(parent, name, S_IFREG | 0644, 0, {});
        if (!made.ok()) {
          ++failures;
          continue;
        }
        f.fs->Forget(made->node, 1);
      }
    };
    std::atomic<bool> done = false;
    std::thread look([&] {
      start.arrive_and_wait();
      for (int i = 0; !done; ++i) {
        std::string name = "a";  // appended: GCC 12 -O3 warns (falsely) on "a" + std::string
        name += std::to_string(i % 60);
        auto e = f.fs->Lookup(i % 2 ? x : y, name);
        if (e.ok()) f.fs->Forget(e->node, 1);
      }
    });
    std::thread a(create, x, "a"), b(create, y, "a"), c(create, dir, "b");
    a.join();
    b.join();
    c.join();
    done = true;
    look.join();
    REQUIRE(failures == 0);
    REQUIRE((*f.fs->ReadDir(dir))->size() == 2 + 60);  // data, other and the new ones
    REQUIRE((*f.fs->ReadDir(x))->size() == 60);
    REQUIRE((*f.fs->ReadDir(y))->size() == 60);
    REQUIRE(fs::is_directory(f.tmp / "upper/deep/x/a0"));
    REQUIRE(fs::is_symlink(f.tmp / "upper/deep/y/a1"));
    REQUIRE(fs::is_regular_file(f.tmp / "upper/dir/b2"));
    auto entry = f.fs->Lookup(y, "a3");
    REQUIRE(entry.ok());
    REQUIRE(S_ISDIR(entry->attr.st_mode));
  }
}

TEST_CASE("requests below a directory being renamed never miss", "[root]") {
  // What a request reads from the upper directory must be read where the node
  // is, not where it was a moment ago: a rename of an ancestor in between
  // must not turn a stat into ENOENT or a lookup into a (cached) negative entry.
  Fixture f;
  auto made = f.fs->Mkdir(kRootNode, "a", 0755, {});
  REQUIRE(made.ok());
  const uint64_t a = made->node;
  // Files the union has not seen yet: each lookup below reads the disk.
  constexpr int kFiles = 1500;
  for (int i = 0; i < kFiles; ++i) WriteBytes(f.tmp / ("upper/a/f" + std::to_string(i)), "");
  const uint64_t f0 = f.Node(a, "f0");
  REQUIRE(f.fs->SetXattr(f0, "user.t", "v", 0).ok());
  auto link = f.fs->Symlink(a, "l", "target", {});
  REQUIRE(link.ok());
  auto g = f.fs->Mknod(a, "g", S_IFREG | 0644, 0, {});
  REQUIRE(g.ok());
  const size_t listed = kFiles + 2;  // the files, l and g

  std::atomic<bool> done = false;
  std::atomic<int> stat_misses = 0, lookup_misses = 0, list_misses = 0, change_misses = 0;
  std::latch start(5);
  std::thread stat([&] {
    start.arrive_and_wait();
    while (!done) {
      auto st = f.fs->GetAttr(f0);
      if (!st.ok() || !S_ISREG(st->st_mode)) ++stat_misses;
      auto target = f.fs->ReadLink(link->node);
      if (!target.ok() || *target != "target") ++stat_misses;
      auto value = f.fs->GetXattr(f0, "user.t");
      if (!value.ok() || *value != "v") ++stat_misses;
      auto names = f.fs->ListXattr(f0);
      if (!names.ok() || names->size() != 1) ++stat_misses;
    }
  });
  std::thread look([&] {
    start.arrive_and_wait();
    for (int i = 1; i < kFiles && !done; ++i) {
      std::string name = "f";
      name += std::to_string(i);
      auto e = f.fs->Lookup(a, name);
      if (!e.ok()) {
        ++lookup_misses;
        continue;
      }
      f.fs->Forget(e->node, 1);
    }
  });
  std::thread list([&] {
    start.arrive_and_wait();
    for (int i = 0; !done; ++i) {
      // Each change drops the cached listing, so the next ReadDir reads the disk.
      const bool add = i % 2 == 0;
      if (add) {
        auto t = f.fs->Mknod(a, "t", S_IFREG | 0644, 0, {});
        if (!t.ok()) ++list_misses;
        if (t.ok()) f.fs->Forget(t->node, 1);
      } else if (!f.fs->Unlink(a, "t").ok()) {
        ++list_misses;
      }
      auto listing = f.fs->ReadDir(a);
      if (!listing.ok() || (*listing)->size() != listed + (add ? 1 : 0)) ++list_misses;
    }
  });
  std::thread change([&] {  // changes that add no name to a and move none
    start.arrive_and_wait();
    for (uint32_t i = 0; !done; ++i) {
      AttrChange mode;
      mode.mask = AttrChange::kMode;
      mode.mode = i % 2 ? 0600 : 0644;
      auto st = f.fs->SetAttr(g->node, mode, -1);
      if (!st.ok() || (st->st_mode & 07777) != mode.mode) ++change_misses;
      if (!f.fs->SetXattr(g->node, "user.c", std::to_string(i), 0).ok()) ++change_misses;
      auto named = f.fs->Link(g->node, kRootNode, "h");
      if (!named.ok() || named->attr.st_nlink != 2) ++change_misses;
      if (named.ok()) f.fs->Forget(named->node, 1);
      if (!f.fs->Unlink(kRootNode, "h").ok()) ++change_misses;
    }
  });
  start.arrive_and_wait();
  for (int k = 0; k < 3000; ++k) {
    REQUIRE(f.fs->Rename(kRootNode, "a", kRootNode, "b", 0).ok());
    REQUIRE(f.fs->Rename(kRootNode, "b", kRootNode, "a", 0).ok());
  }
  done = true;
  stat.join();
  look.join();
  list.join();
  change.join();
  CHECK(stat_misses == 0);
  CHECK(lookup_misses == 0);
  CHECK(list_misses == 0);
  CHECK(change_misses == 0);
  // Every file is still there, once.
  if (auto t = f.fs->Unlink(a, "t"); !t.ok()) REQUIRE(t.ToErrno() == ENOENT);
  auto listing = f.fs->ReadDir(a);
  REQUIRE(listing.ok());
  CHECK((*listing)->size() == listed);
}

namespace {

// The system call `tid` (a thread of this process) is blocked in, or -1.
long BlockedSyscall(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long number = -1;
  in >> number;  // "running" when it is not blocked: no number
  return in ? number : -1;
}

}  // namespace

TEST_CASE("other requests go on while a copy-up waits for its data", "[root]") {
  Fixture f;
  const uint64_t dir = f.Node(kRootNode, "dir"), data = f.Node(dir, "data");
  const uint64_t other = f.Node(dir, "other"), sub = f.Node(kRootNode, "sub");
  // The lower data becomes a FIFO: copying it up blocks in open(2), after the
  // copy-up has let go of the lock, until a writer opens the other end.
  const fs::path blob = f.tmp / "blobs/data";
  fs::remove(blob);
  REQUIRE(::mkfifo(blob.c_str(), 0600) == 0);
  std::atomic<pid_t> copier = 0;
  auto copy_up = std::async(std::launch::async, [&] {
    copier = static_cast<pid_t>(::syscall(SYS_gettid));
    return f.fs->OpenData(data, /*write=*/true).status();
  });
  while (copier == 0 || BlockedSyscall(copier) != SYS_openat)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));

  auto others = std::async(std::launch::async, [&] {
    int done = 0;
    done += f.fs->GetAttr(data).ok();  // the very node being copied
    auto e = f.fs->Lookup(dir, "other");
    done += e.ok();
    if (e.ok()) f.fs->Forget(e->node, 1);
    done += f.fs->ReadDir(dir).ok();
    auto made = f.fs->Mknod(dir, "new", S_IFREG | 0644, 0, {});  // beside it
    done += made.ok();
    if (made.ok()) f.fs->Forget(made->node, 1);
    done += f.fs->OpenData(other, /*write=*/true).ok();  // another copy-up
    done += f.fs->Unlink(sub, "inner").ok();
    done += f.fs->Rename(dir, "new", kRootNode, "moved", 0).ok();
    return done;
  });
  // Not a timing check: a copy-up holding the lock would stop them for good.
  const bool went_on = others.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  { UniqueFd writer(::open(blob.c_str(), O_WRONLY | O_CLOEXEC)); }  // lets the copy-up end
  if (!went_on) {
    // Threads stuck on the lock cannot be joined: report and end here.
    std::fprintf(stderr, "FAIL: requests waited for a copy-up in progress (it held the lock)\n");
    std::_Exit(1);
  }
  CHECK(others.get() == 7);
  REQUIRE(copy_up.get().ok());
  CHECK(fs::is_regular_file(f.tmp / "upper/dir/data"));
  CHECK(fs::is_regular_file(f.tmp / "upper/dir/other"));
  CHECK(fs::is_regular_file(f.tmp / "upper/moved"));
}
