#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "format/reference.h"
#include "format/sha256.h"
#include "strata/store.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

namespace {

size_t CountBlobs(const std::string& root) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root + "/blobs")) n += e.is_regular_file();
  return n;
}

std::vector<TarSpec> EveryEntryType() {
  TarSpec cap = File("bin/ping", std::string(3000, 'p'), 04755);
  cap.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8)},
                {"user.note", "hello"}};
  cap.mtime_nsec = 987654321;
  cap.uid = 1000;
  cap.gid = 1001;
  TarSpec chr = Device("dev/null", Kind::kChar, 1, 3);
  TarSpec blk = Device("dev/sda", Kind::kBlock, 8, 0);
  TarSpec fifo;
  fifo.name = "run/fifo";
  fifo.kind = Kind::kFifo;
  return {Dir("./"),
          Dir("bin/"),
          cap,
          Symlink("bin/sh", "busybox"),
          File("bin/busybox", "#!/bin/true\n", 0755),
          Hardlink("bin/ls", "bin/busybox"),
          Dir("dev/"),
          chr,
          blk,
          Dir("run/", 01777),
          fifo,
          File("etc/.wh.removed", ""),
          File("var/cache/.wh..wh..opq", ""),
          File("empty", ""),
          File(std::string(200, 'n') + "/" + std::string(120, 'x'), "long name")};
}

}  // namespace

TEST_CASE("an every-entry-type tar round-trips to the same layer id") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "all.tar", EveryEntryType());
  auto image = store->ImportTar(tmp / "all.tar", {.ref = "all:1"});
  REQUIRE(image.ok());
  const std::string layer_id = image->layers.back();

  auto index = store->ReadLayerIndex(layer_id);
  REQUIRE(index.ok());
  const Entry* ping = index->Find("bin/ping");
  REQUIRE(ping);
  REQUIRE(ping->mode == 04755);
  REQUIRE(ping->uid == 1000);
  REQUIRE(ping->mtime_nsec == 987654321);
  REQUIRE(ping->xattrs.size() == 2);
  REQUIRE(index->Find("bin/ls")->type == EntryType::kHardlink);
  REQUIRE(index->Find("bin/ls")->link_target == "bin/busybox");
  REQUIRE(index->Find("dev/null")->dev_minor == 3);
  REQUIRE(index->Find("dev/sda")->type == EntryType::kBlockDevice);
  REQUIRE(index->Find("run/fifo")->type == EntryType::kFifo);
  REQUIRE(index->Find("etc/removed")->type == EntryType::kWhiteout);
  REQUIRE(index->Find("var/cache")->opaque);
  REQUIRE(index->Find("run")->mode == 01777);

  std::string plain_sha;
  for (auto compression : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    std::string out = tmp / "export.tar";
    REQUIRE(store->ExportLayer(layer_id, out, compression).ok());
    std::string first = ReadBytes(out);
    std::string diff_id;  // hashed on the way: the sha256 of the plain tar, whatever the compression
    REQUIRE(store->ExportLayer(layer_id, out, compression, &diff_id).ok());
    REQUIRE(ReadBytes(out) == first);  // reproducible, and the same with the hash taken
    if (compression == Compression::kNone) plain_sha = "sha256:" + *Sha256File(out);
    CHECK(diff_id == plain_sha);
    CHECK("sha256:" + Sha256Uncompressed(out)->hex == plain_sha);
    auto again = store->ImportTar(out, {});
    REQUIRE(again.ok());
    REQUIRE(again->layers.back() == layer_id);
  }
}

TEST_CASE("common tar dialects import: GNU long names, ustar, pax, sparse, compressed") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  std::string src = tmp / "src";
  std::string deep = src + "/" + std::string(150, 'd');
  fs::create_directories(deep);
  WriteBytes(deep + "/" + std::string(120, 'f'), "deep");
  fs::create_symlink(std::string(180, 't'), src + "/longlink");
  WriteBytes(src + "/plain", "plain");
  fs::create_hard_link(src + "/plain", src + "/plain.hard");
  REQUIRE(Sh("truncate -s 50M " + src + "/sparse && printf end >> " + src + "/sparse") == 0);

  for (std::string fmt : {"gnu", "posix", "ustar-small"}) {
    DYNAMIC_SECTION("format " << fmt) {
      std::string tar = tmp / (fmt + ".tar");
      if (fmt == "ustar-small") {
        REQUIRE(Sh("tar --format=ustar -C " + src + " -cf " + tar + " plain plain.hard") == 0);
      } else {
        REQUIRE(Sh("tar --format=" + fmt + " -S -C " + src + " -cf " + tar + " .") == 0);
      }
      auto image = store->ImportTar(tar, {});
      REQUIRE(image.ok());
      auto index = store->ReadLayerIndex(image->layers.back());
      REQUIRE(index.ok());
      REQUIRE(index->Find("plain.hard")->type == EntryType::kHardlink);
      if (fmt != "ustar-small") {
        REQUIRE(index->Find(std::string(150, 'd') + "/" + std::string(120, 'f'))->size == 4);
        REQUIRE(index->Find("longlink")->link_target == std::string(180, 't'));
        REQUIRE(index->Find("sparse")->size == (50u << 20) + 3);
      }
    }
  }
  SECTION("gzip, zstd and stdin-like fds") {
    WriteTar(tmp / "a.tar.gz", {File("x", "gz")}, TarCompression::kGzip);
    WriteTar(tmp / "a.tar.zst", {File("x", "gz")}, TarCompression::kZstd);
    auto gz = store->ImportTar(tmp / "a.tar.gz", {});
    auto zst = store->ImportTar(tmp / "a.tar.zst", {});
    REQUIRE(gz.ok());
    REQUIRE(zst.ok());
    REQUIRE(gz->layers == zst->layers);  // same content, same layer
  }
}

TEST_CASE("the same file in two images is stored once") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  std::string big(1 << 20, 'b');
  WriteTar(tmp / "one.tar", {File("usr/lib/libbig.so", big), File("one", "1")});
  WriteTar(tmp / "two.tar", {File("opt/copy/libbig.so", big), File("two", "2")});
  REQUIRE(store->ImportTar(tmp / "one.tar", {.ref = "one"}).ok());
  REQUIRE(store->ImportTar(tmp / "two.tar", {.ref = "two"}).ok());
  REQUIRE(CountBlobs(store->root()) == 3);  // big once, "1", "2"
}

TEST_CASE("layers stack with --from and ids chain through parents") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "base.tar", {File("etc/os-release", "base")});
  WriteTar(tmp / "app.tar", {File("app/main", "app"), File("etc/.wh.os-release", "")});
  auto base = store->ImportTar(tmp / "base.tar", {.ref = "base"});
  REQUIRE(base.ok());
  auto app = store->ImportTar(tmp / "app.tar", {.from = "base", .ref = "app:v1"});
  REQUIRE(app.ok());
  REQUIRE(app->layers.size() == 2);
  REQUIRE(app->layers[0] == base->layers[0]);
  REQUIRE(app->history.size() == 2);
  auto top = store->GetLayer(app->layers[1]);
  REQUIRE(top.ok());
  REQUIRE(top->parent == base->layers[0]);
  // The same diff alone is a different layer: ids name the whole chain.
  auto alone = store->ImportTar(tmp / "app.tar", {});
  REQUIRE(alone.ok());
  REQUIRE(alone->layers.back() != app->layers[1]);
  REQUIRE(store->GetImage("app:v1")->id == app->id);
  REQUIRE(store->GetImage(app->id.substr(0, 8))->id == app->id);
}

TEST_CASE("hostile tars are refused and the store is left exactly as it was") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "ok.tar", {File("etc/hostname", "box"), Symlink("lib", "usr/lib")});
  REQUIRE(store->ImportTar(tmp / "ok.tar", {.ref = "ok"}).ok());
  const auto before = SnapshotStore(store->root());
  std::string bad = tmp / "bad.tar";
  std::string expect;

  SECTION("'..' climbing out") {
    WriteTar(bad, {File("fine", "data"), File("a/../../etc/passwd", "x")});
    expect = "'..'";
  }
  SECTION("an entry through a symlink the tar planted") {
    WriteTar(bad, {File("fine", "data"), Symlink("escape", "/etc"), File("escape/cron.d/evil", "x")});
    expect = "symlink";
  }
  SECTION("an overlay attribute that would act on the union (opaque, redirect)") {
    TarSpec dir = Dir("etc");
    dir.xattrs = {{"trusted.overlay.opaque", "y"}};
    TarSpec moved = Dir("moved");
    moved.xattrs = {{"user.overlay.redirect", "/etc"}};
    WriteTar(bad, {File("fine", "data"), dir, moved});
    expect = "trusted.overlay.opaque";
  }
  SECTION("a hardlink to outside the layer") {
    WriteTar(bad, {File("fine", "data"), Hardlink("shadow", "/etc/shadow")});
    expect = "hardlink";
  }
  SECTION("a NUL in a ustar name") {
    WriteBytes(bad, RawHeader("fine", '0', 4) + Pad("data") + RawHeader(std::string("a\0/etc/x", 8), '0', 0) +
                        EndOfArchive());
    expect = "NUL";
  }
  SECTION("a NUL in a pax path") {
    WriteBytes(bad, RawHeader("fine", '0', 4) + Pad("data") +
                        PaxHeader({std::string("path=ok\0../../x", 15)}) + RawHeader("placeholder", '0', 0) +
                        EndOfArchive());
    expect = "NUL";
  }
  SECTION("a name over PATH_MAX") {
    WriteBytes(bad, RawHeader("fine", '0', 4) + Pad("data") +
                        PaxHeader({"path=" + std::string(3000, 'a') + "/" + std::string(2000, 'b')}) +
                        RawHeader("placeholder", '0', 0) + EndOfArchive());
    expect = "PATH_MAX";
  }
  SECTION("a truncated archive") {
    std::string body(100000, 'z');
    WriteBytes(bad, RawHeader("fine", '0', 4) + Pad("data") + RawHeader("big", '0', body.size()) +
                        body.substr(0, 5000));
    expect = "runcated";
  }
  SECTION("an absurd size") {
    WriteBytes(bad, RawHeader("fine", '0', 4) + Pad("data") + PaxHeader({"size=1152921504606846976"}) +
                        RawHeader("huge", '0', 0) + Pad("x") + EndOfArchive());
    expect = "bytes free";
  }
  SECTION("an absurd extension header") {
    WriteBytes(bad, RawHeader("fine", '0', 4) + Pad("data") + RawHeader("PaxHeader", 'x', 3u << 20) +
                        std::string(1024, 'a'));
    expect = "too large";
  }
  SECTION("garbage that is not a tar") {
    WriteBytes(bad, std::string(4096, 'G'));
    expect = "tar";
  }
  SECTION("an empty file") {
    WriteBytes(bad, "");
    expect = "empty";
  }
  auto r = store->ImportTar(bad, {.ref = "bad"});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.status().code() == Code::kInvalidArgument);
  REQUIRE_THAT(r.status().message(), Catch::Contains(expect));
  REQUIRE(r.status().message().find('\n') == std::string::npos);
  REQUIRE(SnapshotStore(store->root()) == before);
}

TEST_CASE("a damaged compressed stream is refused and the store is left as it was") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "x.tar", {Dir("d"), File("d/f", std::string(200000, 'q'))});
  REQUIRE(Sh("gzip -c " + tmp / "x.tar" + " > " + tmp / "x.tgz") == 0);
  REQUIRE(Sh("zstd -q --check -c " + tmp / "x.tar" + " > " + tmp / "x.tzst") == 0);
  const std::string gz = ReadBytes(tmp / "x.tgz"), zst = ReadBytes(tmp / "x.tzst");
  auto damaged = [&](const std::string& name, std::string bytes, size_t from_end) {
    bytes[bytes.size() - from_end] ^= 0x5a;
    WriteBytes(tmp / name, bytes);
    return tmp / name;
  };
  const auto before = SnapshotStore(store->root());
  struct Case {
    std::string path, why;
  };
  for (const Case& c : {Case{damaged("crc.tgz", gz, 8), "gzip: incorrect data check"},
                        Case{damaged("len.tgz", gz, 1), "gzip: incorrect length check"},
                        Case{damaged("sum.tzst", zst, 1), "checksum"}}) {
    INFO(c.path);
    auto imported = store->ImportTar(c.path, {.ref = "bad"});
    REQUIRE_FALSE(imported.ok());
    CHECK_THAT(imported.status().message(), Catch::Contains(c.why));
  }
  WriteBytes(tmp / "short.tgz", gz.substr(0, gz.size() / 2));
  CHECK_THAT(store->ImportTar(tmp / "short.tgz", {}).status().message(), Catch::Contains("truncated"));
  CHECK(SnapshotStore(store->root()) == before);
  // Sound streams still import, and so does one with zeros after its gzip member (some writers pad).
  CHECK(store->ImportTar(tmp / "x.tgz", {.ref = "good"}).ok());
  WriteBytes(tmp / "two.tgz", gz + std::string(512, '\0'));
  CHECK(store->ImportTar(tmp / "two.tgz", {}).ok());
}

TEST_CASE("absolute names land relative to the layer root") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "abs.tar", {File("/etc/motd", "hi"), Dir("/")});
  auto image = store->ImportTar(tmp / "abs.tar", {});
  REQUIRE(image.ok());
  auto index = store->ReadLayerIndex(image->layers.back());
  REQUIRE(index->Find("etc/motd"));
  REQUIRE_FALSE(fs::exists(tmp / "store/etc"));
}

TEST_CASE("removing images and layers respects users and frees what is unused") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "base.tar", {File("shared", "shared bytes"), File("base-only", "b")});
  WriteTar(tmp / "top.tar", {File("top-only", "t"), File("copy-of-shared", "shared bytes")});
  auto base = store->ImportTar(tmp / "base.tar", {.ref = "base"});
  auto top = store->ImportTar(tmp / "top.tar", {.from = "base", .ref = "top"});
  REQUIRE((base.ok() && top.ok()));
  REQUIRE(store->Tag("top", "top:alias").ok());

  auto in_use = store->RemoveLayer(base->layers[0]);
  REQUIRE(in_use.code() == Code::kInUse);
  REQUIRE(store->RemoveImage(top->id).status().code() == Code::kInUse);  // two names, no force

  auto untag = store->RemoveImage("top:alias");
  REQUIRE(untag.ok());
  REQUIRE(untag->deleted_image.empty());
  auto gone = store->RemoveImage("top");
  REQUIRE(gone.ok());
  REQUIRE(gone->deleted_image == top->id);
  REQUIRE(gone->deleted_layers == std::vector<std::string>{top->layers[1]});
  REQUIRE(CountBlobs(store->root()) == 2);  // "t" is gone; "shared bytes" still used by base
  REQUIRE_FALSE(fs::exists(store->root() + "/layers/" + top->layers[1]));
  REQUIRE(store->GetImage("top").status().code() == Code::kNotFound);

  auto last = store->RemoveImage("base");
  REQUIRE(last.ok());
  REQUIRE(CountBlobs(store->root()) == 0);
  REQUIRE(store->ListLayers()->empty());
}

TEST_CASE("a layer no image uses can be removed") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "x.tar", {File("x", "x")});
  auto image = store->ImportTar(tmp / "x.tar", {});
  REQUIRE(image.ok());
  REQUIRE(store->RemoveLayer(image->layers[0]).code() == Code::kInUse);
  REQUIRE(store->RemoveImage(image->id).ok());
  REQUIRE(store->GetLayer(image->layers[0]).status().code() == Code::kNotFound);
  REQUIRE(store->RemoveLayer("ffffffff").code() == Code::kNotFound);
}

TEST_CASE("stored content is verified when read") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "x.tar", {File("data", "original content")});
  auto image = store->ImportTar(tmp / "x.tar", {});
  REQUIRE(image.ok());
  auto index = store->ReadLayerIndex(image->layers[0]);
  Digest d = index->Find("data")->content;
  std::string blob = store->BlobPath(d);
  fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
  WriteBytes(blob, "Original content");
  REQUIRE(store->VerifyBlob(d).code() == Code::kCorruption);
  auto st = store->ExportLayer(image->layers[0], tmp / "out.tar", Compression::kNone);
  REQUIRE(st.code() == Code::kCorruption);
  REQUIRE_FALSE(fs::exists(tmp / "out.tar"));  // no half-written export

  std::string index_file = store->root() + "/layers/" + image->layers[0] + "/index";
  std::string bytes = ReadBytes(index_file);
  bytes[bytes.size() / 2] ^= 0x40;
  fs::permissions(index_file, fs::perms::owner_write, fs::perm_options::add);
  WriteBytes(index_file, bytes);
  REQUIRE(store->ReadLayerIndex(image->layers[0]).status().code() == Code::kCorruption);
}

TEST_CASE("image references are validated") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "x.tar", {File("x", "x")});
  REQUIRE(store->ImportTar(tmp / "x.tar", {.ref = "Bad Name"}).status().code() == Code::kInvalidArgument);
  REQUIRE(store->ListImages()->empty());
  REQUIRE(store->ImportTar(tmp / "x.tar", {.ref = "localhost:5000/team/app:1.0"}).ok());
  REQUIRE(store->GetImage("localhost:5000/team/app:1.0").ok());
  REQUIRE(store->ImportTar(tmp / "x.tar", {.ref = "plain"}).ok());
  REQUIRE(store->GetImage("plain:latest").ok());
  REQUIRE(store->GetImage("nothing").status().code() == Code::kNotFound);
}

TEST_CASE("references follow the distribution grammar, with Docker Hub's and podman's short forms") {
  CHECK(*NormalizeReference("busybox") == "busybox:latest");
  CHECK(*NormalizeReference("library/busybox") == "busybox:latest");
  CHECK(*NormalizeReference("docker.io/library/busybox:1.36") == "busybox:1.36");
  CHECK(*NormalizeReference("index.docker.io/library/busybox") == "busybox:latest");
  CHECK(*NormalizeReference("docker.io/team/app") == "team/app:latest");
  CHECK(*NormalizeReference("localhost/x:1") == "x:1");
  CHECK(*NormalizeReference("localhost:5000/x:1") == "localhost:5000/x:1");
  CHECK(*NormalizeReference("quay.io/a/b-c__d.e:v1.0_rc") == "quay.io/a/b-c__d.e:v1.0_rc");
  CHECK(*NormalizeReference("Registry.Example/app") == "Registry.Example/app:latest");
  CHECK(*NormalizeReference("a---b__c.d_e:_T-1.x") == "a---b__c.d_e:_T-1.x");
  CHECK(*NormalizeReference("my-host.io:443/x") == "my-host.io:443/x:latest");
  CHECK(*NormalizeReference("a--b/c__d/e.f/g_h/0") == "a--b/c__d/e.f/g_h/0:latest");
  CHECK(*NormalizeReference("h-1.io:5/x") == "h-1.io:5/x:latest");
  CHECK(*NormalizeReference("a:" + std::string(128, 't')) == "a:" + std::string(128, 't'));
  for (const char* bad : {"",           "..",          ".",       "../x",    "./x",        "a/../b",
                          "a//b",       "a/",          "/a",      "Busybox", "team/App",   "a:",
                          "a:.tag",     "a@sha256:00", "a___b",   "a.-b",    "-a",         "host..name/a",
                          "-host.io/a", "a b",         "a..b",    "a-",      "host.io:/a", "host.io:8a/b",
                          "host-.io/a", "a:-t",        "a:t/b",   "a_",      "a.b.",       "a_.b",
                          "a._b",       "h.io:1:2/a",  "h.io:/a", "a:t!",    "h_x.io/a",   "a/-b"}) {
    INFO(bad);
    CHECK(NormalizeReference(bad).status().code() == Code::kInvalidArgument);
  }
  CHECK(NormalizeReference(std::string(256, 'a')).status().code() == Code::kInvalidArgument);
  CHECK(NormalizeReference("a:" + std::string(129, 't')).status().code() == Code::kInvalidArgument);
  // Container and volume names, as docker's: [a-zA-Z0-9][a-zA-Z0-9_.-]+
  for (const char* good : {"ab", "Web_1.data-x", "0-"}) CHECK(CheckObjectName("volume", good).ok());
  for (const char* bad : {"", "a", "-ab", "_ab", ".ab", "a b", "a/b", "a:b"}) {
    INFO(bad);
    CHECK(CheckObjectName("volume", bad).code() == Code::kInvalidArgument);
  }
  CHECK(CheckObjectName("volume", std::string(255, 'v')).ok());
  CHECK(!CheckObjectName("volume", std::string(256, 'v')).ok());

  TempDir tmp;
  auto store = OpenTestStore(tmp);
  ImportShellImage(*store, tmp, "docker.io/library/busybox:1");
  CHECK(store->GetImage("busybox:1")->names == std::vector<std::string>{"busybox:1"});
  CHECK(store->GetImage("library/busybox:1").ok());
  CHECK(store->GetImage("docker.io/library/busybox:1").ok());
  ImportShellImage(*store, tmp, "localhost/x:1");
  CHECK(store->GetImage("x:1").ok());
}

TEST_CASE("readers do not wait for a writer") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "x.tar", {File("x", "x")});
  REQUIRE(store->ImportTar(tmp / "x.tar", {.ref = "x"}).ok());
  // Hold the writer lock, as a long import does, on a file description of our
  // own (flock locks conflict across descriptions, even in one process). If
  // opening or reading took the lock, this test would hang until ctest's
  // timeout fails it.
  int fd = ::open((store->root() + "/lock").c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  auto reader = Store::Open(store->root());
  REQUIRE(reader.ok());
  REQUIRE((*reader)->GetImage("x").ok());
  REQUIRE((*reader)->ListLayers()->size() == 1);
  ::close(fd);
}

TEST_CASE("imports, commits and exports report progress through the store's function") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  std::vector<ProgressEvent> events;
  store->SetProgress([&](const ProgressEvent& e) { events.push_back(e); });
  const std::string big(3 << 20, 'b');
  WriteTar(tmp / "a.tar", {File("big", big), File("small", "s")});
  const uint64_t tar_size = fs::file_size(tmp / "a.tar");
  auto image = store->ImportTar(tmp / "a.tar", {.ref = "p:1"});
  REQUIRE(image.ok());
  // One operation: a first event with nothing done, the last one finished and whole.
  REQUIRE(events.size() >= 2);
  CHECK(events.front().action == "Importing");
  CHECK(events.front().id == "a.tar");
  CHECK(events.front().done == 0);
  CHECK(events.front().total == tar_size);
  CHECK_FALSE(events.front().finished);
  CHECK(events.back().finished);
  CHECK(events.back().done == tar_size);
  for (const auto& e : events) CHECK(e.done <= e.total);

  events.clear();
  const std::string layer = image->layers.back();
  REQUIRE(store->ExportLayer(layer, tmp / "out.tar", Compression::kNone).ok());
  REQUIRE(events.size() >= 2);
  CHECK(events.front().action == "Exporting");
  CHECK(events.front().id == layer.substr(0, 12));
  CHECK(events.back().finished);
  CHECK(events.back().total == big.size() + 1);  // the files' bytes

  events.clear();
  fs::create_directories(tmp / "upper");
  WriteBytes(tmp / "upper/new", std::string(5000, 'n'));
  REQUIRE(store->ImportDirectory(tmp / "upper", {.from = "p:1"}).ok());
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().action == "Committing");
  CHECK(events.back().finished);
  CHECK(events.back().total == 5000);

  // A failed import sends no finished event; without a function nothing is sent.
  events.clear();
  WriteBytes(tmp / "bad.tar", "not a tar at all");
  CHECK_FALSE(store->ImportTar(tmp / "bad.tar", {}).ok());
  for (const auto& e : events) CHECK_FALSE(e.finished);
  store->SetProgress(nullptr);
  events.clear();
  REQUIRE(store->ImportTar(tmp / "a.tar", {}).ok());
  CHECK(events.empty());
}

TEST_CASE("a held layer outlives prune and removal; releasing it removes what nothing else uses") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  WriteTar(tmp / "a.tar", {File("a", "bottom")});
  WriteTar(tmp / "b.tar", {File("b", "top")});
  auto bottom = store->ImportLayerTar("", tmp / "a.tar");
  REQUIRE(bottom.ok());
  auto top = store->ImportLayerTar(bottom->id, tmp / "b.tar");
  REQUIRE(top.ok());
  REQUIRE(store->HoldLayer({top->id, "snapshot:t", "containerd snapshot t"}).ok());
  CHECK(store->HoldLayer({"f00d", "snapshot:x", "x"}).code() == Code::kNotFound);
  auto unused = store->UnusedLayers();
  REQUIRE(unused.ok());
  CHECK(unused->empty());  // the top is held; the bottom has a child
  auto pruned = store->PruneUnusedLayers();
  REQUIRE(pruned.ok());
  CHECK(pruned->empty());
  Status refused = store->RemoveLayer(top->id);
  CHECK(refused.code() == Code::kInUse);
  CHECK_THAT(refused.message(), Catch::Contains("containerd snapshot t"));
  auto holds = store->ListLayerHolds();
  REQUIRE(holds.ok());
  REQUIRE(holds->size() == 1);
  CHECK((*holds)[0].holder == "snapshot:t");

  // An image on the bottom layer keeps it when the top goes.
  Image keep;
  keep.layers = {bottom->id};
  REQUIRE(store->CreateImage(keep, "keep:1").ok());
  auto released = store->ReleaseLayer(top->id, "snapshot:t");
  REQUIRE(released.ok());
  CHECK(*released == std::vector<std::string>{top->id});
  CHECK(store->GetLayer(top->id).status().code() == Code::kNotFound);
  CHECK(store->GetLayer(bottom->id).ok());
  auto again = store->ReleaseLayer(top->id, "snapshot:t");  // released twice: no error
  REQUIRE(again.ok());
  CHECK(again->empty());
  REQUIRE(store->Fsck({}).ok());
  CHECK(store->Fsck({})->problems.empty());
}
