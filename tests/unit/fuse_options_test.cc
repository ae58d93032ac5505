// strata-fuse's command line: strata's own options and fuse-overlayfs's -o
// form as podman's containers/storage passes it, and the id maps.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "options.h"

using namespace strata;
using namespace strata::fuse;

namespace {

// ParseCommandLine over a vector of words (argv[0] added).
std::variant<DaemonOptions, std::string> Parse(std::vector<std::string> words) {
  words.insert(words.begin(), "strata-fuse");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  return ParseCommandLine(static_cast<int>(words.size()), argv.data());
}

DaemonOptions Ok(std::vector<std::string> words) {
  auto parsed = Parse(std::move(words));
  if (auto* error = std::get_if<std::string>(&parsed)) FAIL("refused: " << *error);
  return std::get<DaemonOptions>(parsed);
}

std::string Refused(std::vector<std::string> words) {
  auto parsed = Parse(std::move(words));
  REQUIRE(std::holds_alternative<std::string>(parsed));
  return std::get<std::string>(parsed);
}

}  // namespace

TEST_CASE("fuse-overlayfs's command line, as podman passes it") {
  DaemonOptions o = Ok({"-o", "lowerdir=/l/top:/l/mid::/l/base,upperdir=/u,workdir=/w,volatile,fsync=0", "-o",
                        "allow_other,default_permissions,private,noatime", "/mnt/merged"});
  CHECK(o.lower_dirs == std::vector<std::string>{"/l/top", "/l/mid", "/l/base"});  // empty items dropped
  CHECK(o.overlay.upper_dir == "/u");
  CHECK(o.overlay.work_dir == "/w");
  CHECK_FALSE(o.overlay.fsync);
  // default_permissions is always on; noatime is the kernel's mount flag.
  CHECK(o.fuse_options == std::vector<std::string>{"allow_other", "noatime"});
  CHECK(o.mountpoint == "/mnt/merged");
  CHECK(o.image.empty());
  CHECK_FALSE(o.layer.has_value());
}

TEST_CASE("strata's own options name a store image or layer") {
  DaemonOptions o = Ok({"--root", "/s", "--image", "busybox:1", "--upper", "/u", "--work", "/w", "--lock",
                        "/s/lock", "-f", "-o", "passthrough,io_uring", "/m"});
  CHECK(o.root == "/s");
  CHECK(o.image == "busybox:1");
  CHECK(o.lock_file == "/s/lock");
  CHECK(o.foreground);
  CHECK(o.passthrough);
  CHECK(o.io_uring);
  DaemonOptions layer = Ok({"--layer", "", "/m"});  // an empty tree
  REQUIRE(layer.layer.has_value());
  CHECK(layer.layer->empty());
  CHECK(Ok({"--version"}).show_version);
}

TEST_CASE("mount(8)'s helper form: SOURCE DIR -o OPTS") {
  // mount -t fuse3.strata-fuse busybox:1 /m -o root=/s,upperdir=/u,workdir=/w,rw,nosuid,nodev,noauto
  DaemonOptions o =
      Ok({"busybox:1", "/m", "-o", "root=/s,upperdir=/u,workdir=/w,rw,nosuid,nodev,noauto,x-systemd.a"});
  CHECK(o.image == "busybox:1");  // SOURCE names the image
  CHECK(o.root == "/s");
  CHECK(o.mountpoint == "/m");
  CHECK(o.overlay.upper_dir == "/u");
  CHECK(o.fuse_options == std::vector<std::string>{"rw", "nosuid", "nodev"});
  // SOURCE is a placeholder when the options name the lower tree, as with fuse-overlayfs.
  DaemonOptions lower = Ok({"overlay", "/m", "-o", "lowerdir=/l,upperdir=/u,workdir=/w,ro"});
  CHECK(lower.image.empty());
  CHECK(lower.lower_dirs == std::vector<std::string>{"/l"});
  CHECK(lower.fuse_options == std::vector<std::string>{"ro"});
  CHECK(Ok({"ignored", "/m", "-o", "image=app:2"}).image == "app:2");
  // As /sbin/mount.fuse3.strata-fuse, mount(8)'s helper flags are taken and ignored.
  DaemonOptions helper =
      Ok({"busybox:1", "/m", "-n", "-s", "-v", "-o", "root=/s", "-t", "fuse3.strata-fuse"});
  CHECK(helper.image == "busybox:1");
  CHECK(helper.mountpoint == "/m");
  CHECK(Refused({"x", "/m", "-o", "image=app:2,layer=abc"}).find("name one of") == 0);
  CHECK(Refused({"a", "b", "/m", "-o", "image=x"}).find("want a mount point") == 0);
  CHECK(Refused({"/m", "-o", "image="}) == "image= needs a value");
}

TEST_CASE("id squashing and maps") {
  DaemonOptions o =
      Ok({"-o", "lowerdir=/l,uidmapping=0:100000:65536,gidmapping=0:200000:10:10:300000:5", "/m"});
  struct stat st {};
  st.st_uid = 100007;
  st.st_gid = 300002;
  o.ids.Present(&st);
  CHECK(st.st_uid == 7);
  CHECK(st.st_gid == 12);
  CHECK(o.ids.HostUid(0) == 100000);
  CHECK(o.ids.HostGid(11) == 300001);
  CHECK(o.ids.HostUid(70000) == 65534);  // outside every range: the overflow id
  st.st_uid = 5;                         // a host id no range maps
  o.ids.Present(&st);
  CHECK(st.st_uid == 65534);

  DaemonOptions squashed = Ok({"-o", "lowerdir=/l,squash_to_uid=1000,squash_to_gid=1001", "/m"});
  st.st_uid = 0;
  st.st_gid = 0;
  squashed.ids.Present(&st);
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 1001);
  DaemonOptions root = Ok({"-o", "lowerdir=/l,squash_to_root", "/m"});
  st.st_uid = 1234;
  root.ids.Present(&st);
  CHECK(st.st_uid == 0);
}

TEST_CASE("IdMap refuses what is not CONTAINER:HOST:COUNT triples") {
  CHECK(IdMap::Parse("0:1000:1").has_value());
  CHECK_FALSE(IdMap::Parse("").has_value());
  CHECK_FALSE(IdMap::Parse("0:1000").has_value());
  CHECK_FALSE(IdMap::Parse("0:1000:1:2").has_value());
  CHECK_FALSE(IdMap::Parse("a:1000:1").has_value());
  CHECK_FALSE(IdMap::Parse("0:-1:1").has_value());
  CHECK_FALSE(IdMap::Parse("0:4294967296:1").has_value());  // past uint32
  CHECK(IdMap().ToHost(42) == 42);                          // no map: ids pass through
}

TEST_CASE("usage errors are one line naming what is wrong") {
  CHECK(Refused({"/m"}) == "name one of --image IMAGE, --layer LAYER or -o lowerdir=DIR[:DIR...]");
  const std::string want = "want a mount point (or SOURCE and a mount point, as mount(8) passes them)";
  CHECK(Refused({"--image", "x"}) == want);
  CHECK(Refused({"--image", "x", "/a", "/b", "/c"}) == want);
  CHECK(Refused({"--image"}) == "option --image needs a value");
  CHECK(Refused({"--bogus", "/m"}) == "unknown argument --bogus");
  CHECK(Refused({"--image", "x", "--layer", "y", "/m"}).starts_with("name one of"));
  CHECK(Refused({"-o", "lowerdir=/l,upperdir=/u", "/m"}) == "upperdir and workdir go together");
  CHECK(Refused({"-o", "lowerdir=/l,squash_to_uid=x", "/m"}) == "bad value in squash_to_uid=x");
  CHECK(Refused({"-o", "lowerdir=/l,uidmapping=1:2", "/m"}).starts_with("bad mapping in uidmapping=1:2"));
}
