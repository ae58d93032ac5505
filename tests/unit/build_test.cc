// The build engine's parts that need no runtime: .dockerignore matching,
// user lookup, COPY into a writable union, and the store's build cache.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "build/build_copy.h"
#include "build/build_source.h"
#include "build/dockerignore.h"
#include "runtime/passwd.h"
#include "store/scratch.h"
#include "strata/build.h"
#include "strata/overlay_fs.h"
#include "strata/store.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

TEST_CASE("path patterns match as docker's do") {
  CHECK(MatchPathPattern("*.go", "main.go"));
  CHECK_FALSE(MatchPathPattern("*.go", "cmd/main.go"));  // '*' stays in one element
  CHECK(MatchPathPattern("**/*.go", "main.go"));         // "**/" may match nothing
  CHECK(MatchPathPattern("**/*.go", "a/b/c/main.go"));
  CHECK(MatchPathPattern("docs/**", "docs/a/b"));
  CHECK(MatchPathPattern("a/**/z", "a/z"));
  CHECK(MatchPathPattern("a/**/z", "a/b/c/z"));
  CHECK(MatchPathPattern("file?.txt", "file1.txt"));
  CHECK_FALSE(MatchPathPattern("file?.txt", "file10.txt"));
  CHECK(MatchPathPattern("[a-c]x", "bx"));
  CHECK_FALSE(MatchPathPattern("[^a-c]x", "bx"));
  CHECK(MatchPathPattern("\\*lit", "*lit"));
  CHECK_FALSE(MatchPathPattern("\\*lit", "xlit"));
  CHECK_FALSE(MatchPathPattern("[abc", "a"));  // malformed class: no match
}

TEST_CASE(".dockerignore: last match wins, parents match children, ! re-includes") {
  auto ignore =
      DockerIgnore::Parse("# comment\n\n/build\n*.log\n!keep.log\ndocs\n!docs/api\n  tmp/**  \n", "x");
  REQUIRE(ignore.ok());
  CHECK(ignore->Excluded("build"));
  CHECK(ignore->Excluded("build/out/a.o"));  // below an excluded directory
  CHECK(ignore->Excluded("error.log"));
  CHECK_FALSE(ignore->Excluded("keep.log"));
  CHECK_FALSE(ignore->Excluded("sub/error.log"));  // '*' is one element deep
  CHECK(ignore->Excluded("docs/guide.md"));
  CHECK_FALSE(ignore->Excluded("docs/api"));
  CHECK_FALSE(ignore->Excluded("docs/api/index.md"));
  CHECK(ignore->Excluded("tmp/x/y"));
  CHECK_FALSE(ignore->Excluded("src/main.c"));
  CHECK(ignore->has_exceptions());
  CHECK(CleanPath("./a//b/../c/") == "a/c");
  CHECK(CleanPath("../x") == "../x");
  CHECK(CleanPath("") == ".");
}

TEST_CASE("users and groups resolve through passwd and group") {
  const std::string passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
  const std::string group = "root:x:0:\nstaff:x:50:\napp:x:1002:\nusers:x:1001:\n";
  auto check = [&](const std::string& spec, MissingGroup mg, uint32_t uid, uint32_t gid) {
    auto ids = ResolveUser(spec, passwd, group, mg);
    REQUIRE(ids.ok());
    CHECK(ids->uid == uid);
    CHECK(ids->gid == gid);
  };
  check("app", MissingGroup::kPrimary, 1000, 1001);    // USER app: primary group
  check("app", MissingGroup::kSameAsUid, 1000, 1002);  // --chown=app: the group named app
  check("app:staff", MissingGroup::kPrimary, 1000, 50);
  check("4242", MissingGroup::kPrimary, 4242, 0);       // unknown uid: group 0
  check("4242", MissingGroup::kSameAsUid, 4242, 4242);  // --chown=4242 -> 4242:4242
  check("0:7", MissingGroup::kPrimary, 0, 7);
  auto missing = ResolveUser("nobody", passwd, group, MissingGroup::kPrimary);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("unable to find user nobody") != std::string::npos);
  CHECK_FALSE(ResolveUser("app:nogroup", passwd, group, MissingGroup::kPrimary).ok());
}

namespace {

// An image with /tmp (1777, owned 0:0), /etc/conf (a file), /bin -> usr/bin.
std::string BaseImage(Store& store, const TempDir& tmp) {
  WriteTar(tmp / "base.tar", {Dir("tmp", 01777), Dir("usr"), Dir("usr/bin"), Symlink("bin", "usr/bin"),
                              Dir("etc", 0700), File("etc/conf", "old")});
  auto image = store.ImportTar(tmp / "base.tar", {.ref = "base"});
  REQUIRE(image.ok());
  return image->layers.back();
}

std::unique_ptr<OverlayFs> Union(Store& store, const std::vector<std::string>& layers, const TempDir& tmp) {
  fs::create_directories(tmp / "upper");
  fs::create_directories(tmp / "work");
  auto view = UnionView::OpenLayers(store, layers);
  REQUIRE(view.ok());
  auto ofs = OverlayFs::Open(std::move(view).value(), {tmp / "upper", tmp / "work", false});
  REQUIRE(ofs.ok());
  return std::move(ofs).value();
}

}  // namespace

TEST_CASE("COPY into a union: parents copied up, symlinks followed, Docker's placement rules", "[root]") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  std::string base = BaseImage(*store, tmp);
  fs::create_directories(tmp / "ctx/dir/sub");
  WriteBytes(tmp / "ctx/file.txt", "new");
  WriteBytes(tmp / "ctx/dir/sub/deep.txt", "deep");
  ::chmod((tmp / "ctx/file.txt").c_str(), 0640);
  DockerIgnore none;
  auto sources = CollectContextSources(tmp / "ctx", none, {"file.txt"});
  REQUIRE(sources.ok());
  auto dir_sources = CollectContextSources(tmp / "ctx", none, {"dir"});
  REQUIRE(dir_sources.ok());
  auto ofs = Union(*store, {base}, tmp);

  REQUIRE(CopyIntoUnion(*ofs, "/tmp/a/", true, *sources, {}).ok());     // into a new dir
  REQUIRE(CopyIntoUnion(*ofs, "/etc/conf", false, *sources, {}).ok());  // over a file
  REQUIRE(CopyIntoUnion(*ofs, "/bin/tool", false, *sources, {.uid = 5, .gid = 6, .mode = 0755}).ok());
  REQUIRE(CopyIntoUnion(*ofs, "/tmp", false, *sources, {}).ok());      // existing dir: inside it
  REQUIRE(CopyIntoUnion(*ofs, "/opt", false, *dir_sources, {}).ok());  // a dir copies its contents
  REQUIRE(CopyIntoUnion(*ofs, "/etc", false, *sources, {}).ok());      // an existing dir: inside
  auto st = [&](const std::string& p) {
    struct stat s {};
    REQUIRE(::lstat((tmp / ("upper/" + p)).c_str(), &s) == 0);
    return s;
  };
  CHECK(ReadBytes(tmp / "upper/tmp/a/file.txt") == "new");
  CHECK((st("tmp/a/file.txt").st_mode & 07777) == 0640);
  CHECK((st("tmp").st_mode & 07777) == 01777);  // the copied-up parent kept its mode
  CHECK((st("etc").st_mode & 07777) == 0700);
  CHECK(ReadBytes(tmp / "upper/etc/conf") == "new");
  CHECK(ReadBytes(tmp / "upper/etc/file.txt") == "new");
  CHECK(ReadBytes(tmp / "upper/usr/bin/tool") == "new");  // through the /bin symlink
  CHECK(st("usr/bin/tool").st_uid == 5);
  CHECK(st("usr/bin/tool").st_gid == 6);
  CHECK((st("usr/bin/tool").st_mode & 07777) == 0755);
  CHECK(ReadBytes(tmp / "upper/tmp/file.txt") == "new");
  CHECK(ReadBytes(tmp / "upper/opt/sub/deep.txt") == "deep");
  CHECK_FALSE(fs::exists(tmp / "upper/opt/dir"));
  CHECK(st("opt/sub/deep.txt").st_uid == 0);  // context files are root's

  // A directory is not replaced by a file.
  auto clash = CollectContextSources(tmp / "ctx", none, {"file.txt"});
  REQUIRE(clash.ok());
  (*clash)[0].name = "usr";
  CHECK_FALSE(CopyIntoUnion(*ofs, "/", true, *clash, {}).ok());
}

TEST_CASE("context sources: globs, .dockerignore, escapes and misses") {
  TempDir tmp;
  fs::create_directories(tmp / "ctx/src");
  WriteBytes(tmp / "ctx/src/a.c", "a");
  WriteBytes(tmp / "ctx/src/b.c", "b");
  WriteBytes(tmp / "ctx/src/c.h", "c");
  WriteBytes(tmp / "ctx/secret.key", "k");
  auto ignore = DockerIgnore::Parse("*.key\nsrc/b.c\n", "x");
  REQUIRE(ignore.ok());
  auto globbed = CollectContextSources(tmp / "ctx", *ignore, {"src/*.c"});
  REQUIRE(globbed.ok());
  REQUIRE(globbed->size() == 1);
  CHECK((*globbed)[0].name == "a.c");
  auto whole = CollectContextSources(tmp / "ctx", *ignore, {"."});
  REQUIRE(whole.ok());
  std::vector<std::string> rels;
  for (const auto& e : (*whole)[0].entries) rels.push_back(e.rel);
  CHECK(rels == std::vector<std::string>{"", "src", "src/a.c", "src/c.h"});
  CHECK(CollectContextSources(tmp / "ctx", *ignore, {"secret.key"}).status().code() == Code::kNotFound);
  CHECK(CollectContextSources(tmp / "ctx", *ignore, {"../x"}).status().code() == Code::kInvalidArgument);
  CHECK(CollectContextSources(tmp / "ctx", *ignore, {"*.none"}).status().code() == Code::kNotFound);
  // A symlink in the context may not lead a source out of it.
  fs::create_directories(tmp / "outside");
  WriteBytes(tmp / "outside/host-secret", "s");
  fs::create_directory_symlink(tmp / "outside", tmp / "ctx/escape");
  CHECK(CollectContextSources(tmp / "ctx", *ignore, {"escape/host-secret"}).status().code() ==
        Code::kInvalidArgument);
  auto link = CollectContextSources(tmp / "ctx", *ignore, {"escape"});  // the link itself: copied as a link
  REQUIRE(link.ok());
  CHECK(S_ISLNK((*link)[0].entries[0].mode));
}

TEST_CASE("the cache key sees content, mode and owner, not mtimes") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  fs::create_directories(tmp / "ctx");
  WriteBytes(tmp / "ctx/f", "one");
  DockerIgnore none;
  auto describe = [&] {
    auto sources = CollectContextSources(tmp / "ctx", none, {"f"});
    REQUIRE(sources.ok());
    auto text = DescribeSources(*sources, *store);
    REQUIRE(text.ok());
    return *text;
  };
  std::string first = describe();
  REQUIRE(Sh("touch -d 2001-01-01 " + (tmp / "ctx/f")) == 0);
  CHECK(describe() == first);
  WriteBytes(tmp / "ctx/f", "two");
  std::string second = describe();
  CHECK(second != first);
  ::chmod((tmp / "ctx/f").c_str(), 0600);
  CHECK(describe() != second);
}

TEST_CASE("build cache: committed layers are found by (parent, key), kept until pruned") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  std::string base = BaseImage(*store, tmp);
  fs::create_directories(tmp / "upper/app");
  WriteBytes(tmp / "upper/app/x", "x");
  auto layer = store->CommitLayer(base, tmp / "upper", "key-1");
  REQUIRE(layer.ok());
  CHECK(layer->parent == base);
  auto hit = store->FindCachedLayer(base, "key-1");
  REQUIRE(hit.ok());
  REQUIRE(hit->has_value());
  CHECK((*hit)->id == layer->id);
  CHECK_FALSE(store->FindCachedLayer(base, "key-2")->has_value());
  CHECK_FALSE(store->FindCachedLayer("", "key-1")->has_value());

  // An image over it; removing the image keeps the cached layer.
  Image image;
  image.layers = {base, layer->id};
  auto made = store->CreateImage(image, "app:1");
  REQUIRE(made.ok());
  CHECK(made->names == std::vector<std::string>{"app:1"});
  Image bad;
  bad.layers = {layer->id};  // not on top of nothing
  CHECK(store->CreateImage(bad, "").status().code() == Code::kInvalidArgument);
  REQUIRE(store->RemoveImage("app:1").ok());
  CHECK(store->GetLayer(layer->id).ok());
  CHECK(store->RemoveLayer(layer->id).code() == Code::kInUse);

  // A prune drops the cache and the layers only it kept (not base: an image uses it).
  auto pruned = store->PruneBuildCache();
  REQUIRE(pruned.ok());
  CHECK(*pruned == std::vector<std::string>{layer->id});
  CHECK_FALSE(store->GetLayer(layer->id).ok());
  CHECK(store->GetLayer(base).ok());
  CHECK_FALSE(store->FindCachedLayer(base, "key-1")->has_value());

  // A commit of a missing parent changes nothing.
  auto before = SnapshotStore(tmp / "store");
  CHECK(store->CommitLayer("0123456789abcdef0123456789abcdef", tmp / "upper", "k").status().code() ==
        Code::kNotFound);
  CHECK(SnapshotStore(tmp / "store") == before);
}

TEST_CASE("a crashed build's scratch goes when the store opens; a live one stays") {
  TempDir tmp;
  { auto store = OpenTestStore(tmp); }
  fs::create_directories(tmp / "store/tmp/build-dead/upper");
  WriteBytes(tmp / "store/tmp/build-dead/lock", "");
  WriteBytes(tmp / "store/tmp/build-dead/upper/f", "x");
  auto live = Scratch::Make(tmp / "store");
  REQUIRE(live.ok());
  WriteBytes(live->upper() + "/f", "y");
  { auto store = OpenTestStore(tmp); }
  CHECK_FALSE(fs::exists(tmp / "store/tmp/build-dead"));
  CHECK(ReadBytes(live->upper() + "/f") == "y");
  std::string dir = live->dir();
  { Scratch gone = std::move(live).value(); }
  CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("a build keeps its base image's platform, and does not RUN one of another") {
  TempDir tmp;
  auto store = OpenTestStore(tmp);
  Image foreign;
  foreign.layers = {BaseImage(*store, tmp)};
  foreign.platform = {"linux", HostPlatform().architecture == "s390x" ? "amd64" : "s390x", ""};
  REQUIRE(store->CreateImage(foreign, "foreign:1").ok());
  fs::create_directories(tmp / "ctx");
  BuildOptions options;
  options.context_dir = tmp / "ctx";
  options.log = [](const std::string&) {};
  WriteBytes(tmp / "ctx/Dockerfile", "FROM foreign:1\nENV A=1\n");
  auto built = Build(*store, options);
  REQUIRE(built.ok());
  CHECK(PlatformString(built->platform) == PlatformString(foreign.platform));
  WriteBytes(tmp / "ctx/Dockerfile", "FROM foreign:1\nRUN true\n");
  auto refused = Build(*store, options);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("is made for " + PlatformString(foreign.platform)) !=
        std::string::npos);
  WriteBytes(tmp / "ctx/Dockerfile", "FROM scratch\nENV A=1\n");
  CHECK(Build(*store, options)->platform.architecture == HostPlatform().architecture);
}
